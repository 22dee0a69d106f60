#!/usr/bin/env bash
# Installs everything airpool needs on a fresh Debian machine; does nothing that is already done.
# Debian packages (PostgreSQL 15, Chromium, and what the dev cluster's real node runs on: containerd, runc, the CNI
# plugins, iptables, conntrack, busybox, mmdebstrap for its images), the Python virtualenv in .venv, the Kubernetes
# binaries built from Go modules into ~/.cache/airpool/k8s (see tools/k8s/README.md) and, as root, the real node's
# container images into ~/.cache/airpool/images (docs/images.md).
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '\033[1m==> %s\033[0m\n' "$*"; }

missing=()
[ -x /usr/lib/postgresql/15/bin/postgres ] || missing+=(postgresql)
command -v chromium >/dev/null || missing+=(chromium)
command -v kubectl >/dev/null || missing+=(kubectl)
command -v runuser >/dev/null || missing+=(util-linux)
# The real node (`airpool dev up --real-node`, docs/devcluster.md): container runtime, CNI plugins, packet filter;
# mmdebstrap builds the root filesystems of its images (docs/images.md).
for package in containerd runc containernetworking-plugins iptables conntrack iproute2 busybox-static mmdebstrap; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'install ok installed' || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
  say "installing Debian packages: ${missing[*]}"
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# pip's own output, condensed to one line per step (a counter of packages while it collects them, then the install);
# the whole of it stays in .venv/pip.log, and its last lines are shown if pip fails.
pip_install() {
  local log=.venv/pip.log n=0 line what
  : >"$log"
  if ! .venv/bin/pip install --disable-pip-version-check --progress-bar off "$@" 2>&1 | tee -a "$log" | {
    while IFS= read -r line; do
      case $line in
        Collecting*|Obtaining*)
          n=$((n + 1)) what=${line#* } what=${what%% (from*}
          if [ -t 1 ]; then printf '\r\033[K    %3d  %s' "$n" "$what"; else printf '    %3d  %s\n' "$n" "$what"; fi ;;
        Installing\ collected*|Building\ wheel*|Building\ editable*)
          [ -t 1 ] && [ "$n" -gt 0 ] && printf '\n'
          n=0
          printf '    %s\n' "${line%%:*}" ;;
        Successfully\ installed*)
          printf '    installed %s packages\n' "$(printf '%s' "${line#Successfully installed }" | wc -w)" ;;
      esac
    done
    [ -t 1 ] && [ "$n" -gt 0 ] && printf '\n'
    true
  }; then
    tail -n 30 "$log" >&2
    echo "pip failed; its whole output is in $log" >&2
    return 1
  fi
}

if [ ! -x .venv/bin/airpool ] || [ pyproject.toml -nt .venv/.installed ]; then
  say "installing Python packages into .venv (a fresh machine downloads about 90 packages: a minute or two)"
  python3 -m venv .venv
  pip_install --upgrade pip
  pip_install -e '.[dev]'
  touch .venv/.installed
fi

if [ -n "${AIRPOOL_IMAGES_LATER:-}" ]; then
  # scripts/test.sh builds the real node's images beside the first tests (they need them only at the end).
  say "building the local Kubernetes binaries and node images (cached after the first build)"
  .venv/bin/airpool dev build --no-images
else
  say "building the local Kubernetes binaries, node images and, as root, the real node's images (cached after the first build)"
  .venv/bin/airpool dev build
fi
