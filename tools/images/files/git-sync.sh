#!/bin/bash
# airpool's dev-cluster stand-in for git-sync v4 (https://github.com/kubernetes/git-sync), written for airpool: the
# Go module proxy this project builds from does not serve k8s.io/git-sync, so the dev image cannot be the real
# program. It honours the part of git-sync v4's interface that airpool renders (GITSYNC_* variables or the same
# --flags): it fetches REF of REPO into ROOT, publishes each new commit as ROOT/.worktrees/<hash> and swaps the
# symlink ROOT/LINK to it atomically, every PERIOD, or once with ONE_TIME; after MAX_FAILURES failures in a row
# (0: the first) it exits non-zero, having printed why. On a real cluster the public image
# registry.k8s.io/git-sync/git-sync runs the same containers unchanged.
set -u -o pipefail

VERSION="v4-compatible (airpool dev image)"

repo=${GITSYNC_REPO:-}
ref=${GITSYNC_REF:-HEAD}
root=${GITSYNC_ROOT:-${HOME:-/tmp}/git}
link=${GITSYNC_LINK:-}
period=${GITSYNC_PERIOD:-10s}
one_time=${GITSYNC_ONE_TIME:-false}
max_failures=${GITSYNC_MAX_FAILURES:-0}
depth=${GITSYNC_DEPTH:-1}
key_file=${GITSYNC_SSH_KEY_FILE:-}
known_hosts=${GITSYNC_SSH_KNOWN_HOSTS:-true}
known_hosts_file=${GITSYNC_SSH_KNOWN_HOSTS_FILE:-/etc/git-secret/known_hosts}
error_file=${GITSYNC_ERROR_FILE:-}
add_user=${GITSYNC_ADD_USER:-false}

for arg in "$@"; do
  case "$arg" in
    --version) echo "git-sync $VERSION"; exit 0 ;;
    --repo=*) repo=${arg#*=} ;;
    --ref=*) ref=${arg#*=} ;;
    --root=*) root=${arg#*=} ;;
    --link=*) link=${arg#*=} ;;
    --period=*) period=${arg#*=} ;;
    --one-time) one_time=true ;;
    --one-time=*) one_time=${arg#*=} ;;
    --max-failures=*) max_failures=${arg#*=} ;;
    --depth=*) depth=${arg#*=} ;;
    --ssh-key-file=*) key_file=${arg#*=} ;;
    --ssh-known-hosts=*) known_hosts=${arg#*=} ;;
    --ssh-known-hosts-file=*) known_hosts_file=${arg#*=} ;;
    --error-file=*) error_file=${arg#*=} ;;
    --add-user) add_user=true ;;
    --add-user=*) add_user=${arg#*=} ;;
    *) echo "git-sync: unknown argument ${arg%%=*} (this dev image knows git-sync v4's --repo, --ref, --root, --link, --period, --one-time, --max-failures, --depth, --ssh-key-file, --ssh-known-hosts, --ssh-known-hosts-file, --error-file, --add-user)" >&2; exit 2 ;;
  esac
done

say() { printf '{"level":0,"msg":"%s"}\n' "$(printf '%s' "$*" | sed 's/\\/\\\\/g; s/"/\\"/g')"; }
fail_now() { printf '{"msg":"%s","error":"%s"}\n' "$1" "$(printf '%s' "$2" | tr '\r\n' '  ' | sed 's/\\/\\\\/g; s/"/\\"/g')" >&2; }

[ -n "$repo" ] || { fail_now "required flag not set" "--repo (GITSYNC_REPO) must be given"; exit 1; }
[ -n "$link" ] || link=$(basename "${repo%.git}")
case "$link" in /*) ;; *) link="$root/$link" ;; esac
case "$error_file" in ""|/*) ;; *) error_file="$root/$error_file" ;; esac

seconds=${period%s}
case "$period" in *ms) seconds=$(( ${period%ms} / 1000 )) ;; *m) seconds=$(( ${period%m} * 60 )) ;; esac
[[ "$seconds" =~ ^[0-9]+$ ]] && [ "$seconds" -ge 1 ] || seconds=1

if [ "$add_user" = true ] && ! getent passwd "$(id -u)" >/dev/null; then
  echo "git-sync:x:$(id -u):$(id -g)::${HOME:-/tmp}:/sbin/nologin" >> /etc/passwd 2>/dev/null || true
fi
export HOME=${HOME:-/tmp}

ssh_command="ssh -o BatchMode=yes -o ConnectTimeout=20"
if [ -n "$key_file" ]; then
  ssh_command="$ssh_command -o IdentitiesOnly=yes -i $key_file"
fi
if [ "$known_hosts" = true ]; then
  ssh_command="$ssh_command -o StrictHostKeyChecking=yes -o UserKnownHostsFile=$known_hosts_file"
else
  ssh_command="$ssh_command -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR"
fi
export GIT_SSH_COMMAND="$ssh_command"
export GIT_TERMINAL_PROMPT=0

cache="$root/.repo"
worktrees="$root/.worktrees"

sync_once() {
  mkdir -p "$worktrees" || return 1
  if [ ! -d "$cache" ]; then
    git init -q --bare "$cache" || return 1
  fi
  local hash current target out
  if ! out=$(git -C "$cache" fetch --quiet --no-tags --depth="$depth" "$repo" "$ref" 2>&1); then
    error="$out"
    return 1
  fi
  hash=$(git -C "$cache" rev-parse 'FETCH_HEAD^{commit}') || { error="cannot resolve $ref"; return 1; }
  current=$(readlink "$link" 2>/dev/null || true)
  target=".worktrees/$hash"
  if [ "$current" = "$target" ] && [ -d "$root/$target" ]; then
    return 0
  fi
  rm -rf "$worktrees/$hash.tmp"
  mkdir -p "$worktrees/$hash.tmp"
  if ! out=$(git -C "$cache" archive "$hash" 2>&1 | tar -x -C "$worktrees/$hash.tmp" 2>&1); then
    error="checking out $hash: $out"
    return 1
  fi
  rm -rf "${worktrees:?}/$hash"
  mv "$worktrees/$hash.tmp" "$worktrees/$hash"
  ln -sfn "$target" "$link.tmp" && mv -T "$link.tmp" "$link"
  for old in "$worktrees"/*; do
    [ "$old" = "$worktrees/$hash" ] || rm -rf "$old"
  done
  say "updated successfully: ref $ref is commit $hash"
  return 0
}

trap 'exit 0' TERM INT
failures=0
while true; do
  error=""
  if sync_once; then
    failures=0
    [ -z "$error_file" ] || rm -f "$error_file"
    [ "$one_time" = true ] && exit 0
  else
    failures=$((failures + 1))
    [ -z "$error_file" ] || printf '%s\n' "$error" > "$error_file"
    if [ "$one_time" = true ] || { [ "$max_failures" -ge 0 ] && [ "$failures" -gt "$max_failures" ]; }; then
      fail_now "too many failures, aborting" "fetching $ref of $repo: $error"
      exit 1
    fi
    fail_now "error syncing repo, will retry" "fetching $ref of $repo: $error"
  fi
  sleep "$seconds" &
  wait $!
done
