#!/usr/bin/env bash
# Runs the product on this machine: sets up what is missing, starts a local Kubernetes control plane, applies the
# example pool (examples/values.yaml) as an admin, and serves airpool (API, UI, commander) on the embedded SQLite.
# Ctrl-C stops the server (exit 0) and says how to stop the control plane: `.venv/bin/airpool dev down`.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
airpool=.venv/bin/airpool
values=${AIRPOOL_VALUES:-examples/values.yaml}

# AIRPOOL_NODES=fake keeps to kwok's fake nodes (e.g. when someone else uses this machine's real node);
# the default, auto, starts a real node when this machine can run containers (it says why not).
"$airpool" dev up --nodes "${AIRPOOL_NODES:-auto}"
"$airpool" config apply -f "$values" --kubeconfig "$("$airpool" dev kubeconfig)"
# The dev overlay that fits the nodes: the images built here on a real node, or simulated nodes' settings.
overlay=$("$airpool" dev values)

# The first run makes an admin account; its password stays in .airpool/admin-password (mode 0600).
mkdir -p .airpool
if [ -z "${AIRPOOL_ADMIN_PASSWORD:-}" ]; then
  [ -s .airpool/admin-password ] || (umask 077; python3 -c 'import secrets; print(secrets.token_urlsafe(12))' \
    > .airpool/admin-password)
  AIRPOOL_ADMIN_PASSWORD=$(cat .airpool/admin-password)
fi
export AIRPOOL_ADMIN_USERNAME=${AIRPOOL_ADMIN_USERNAME:-admin} AIRPOOL_ADMIN_PASSWORD
export AIRPOOL_VALUES=$values:$overlay
export AIRPOOL_COMMANDER_KUBECONFIG=$("$airpool" dev kubeconfig --commander)
echo "log in as ${AIRPOOL_ADMIN_USERNAME} with the password in .airpool/admin-password"
# Not exec: after the server stops (Ctrl-C ends it with exit 0), say what is still running.
status=0
"$airpool" serve --migrate || status=$?
echo "The local Kubernetes control plane is still running (the next scripts/run.sh reuses it);"
echo "stop it with: $airpool dev down"
exit "$status"
