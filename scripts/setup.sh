#!/usr/bin/env bash
# Installs everything airpool needs on a fresh Debian machine; does nothing that is already done.
# Debian packages (PostgreSQL 15, Chromium, and what the dev cluster's real node runs on: containerd, runc, the CNI
# plugins, iptables, conntrack, busybox), the Python virtualenv in .venv, and the Kubernetes binaries built from Go
# modules into ~/.cache/airpool/k8s (see tools/k8s/README.md).
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '\033[1m==> %s\033[0m\n' "$*"; }

missing=()
[ -x /usr/lib/postgresql/15/bin/postgres ] || missing+=(postgresql)
command -v chromium >/dev/null || missing+=(chromium)
command -v kubectl >/dev/null || missing+=(kubectl)
command -v runuser >/dev/null || missing+=(util-linux)
# The real node (`airpool dev up --real-node`, docs/devcluster.md): container runtime, CNI plugins, packet filter.
for package in containerd runc containernetworking-plugins iptables conntrack iproute2 busybox-static; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'install ok installed' || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
  say "installing Debian packages: ${missing[*]}"
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [ ! -x .venv/bin/airpool ] || [ pyproject.toml -nt .venv/.installed ]; then
  say "installing Python packages into .venv"
  python3 -m venv .venv
  .venv/bin/pip install -q --disable-pip-version-check --upgrade pip
  .venv/bin/pip install -q --disable-pip-version-check -e '.[dev]'
  touch .venv/.installed
fi

say "building the local Kubernetes binaries and node images (cached after the first build)"
.venv/bin/airpool dev build
