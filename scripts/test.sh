#!/usr/bin/env bash
# Sets up what is missing, then runs the linters and the whole test suite against real servers.
set -euo pipefail
cd "$(dirname "$0")/.."
AIRPOOL_IMAGES_LATER=1 scripts/setup.sh
images_pid=""
if [ "$(id -u)" -eq 0 ]; then
  # The container images (Airflow, its helpers, airpool: about 20 minutes cold) are needed only by the image and
  # real-node tests, which come last: build them while the other tests run. Those tests call the same builder,
  # which waits for this one (a lock) and then finds the images in the cache.
  mkdir -p .airpool
  printf '\033[1m==> %s\033[0m\n' "building the real node's images in the background (log: .airpool/images-build.log)"
  .venv/bin/airpool dev images > .airpool/images-build.log 2>&1 &
  images_pid=$!
  trap 'kill "$images_pid" 2>/dev/null || true' EXIT   # a linter failure ends the run: stop the build too
fi
printf '\033[1m==> %s\033[0m\n' "ruff, mypy, import contracts"
.venv/bin/ruff check src tests bench
.venv/bin/ruff format --check src tests bench
.venv/bin/mypy
.venv/bin/lint-imports
printf '\033[1m==> %s\033[0m\n' "pytest"
set +e
.venv/bin/python -m pytest "$@"
status=$?
if [ -n "$images_pid" ]; then
  wait "$images_pid" || { echo "the image build failed; its log:" >&2; tail -n 30 .airpool/images-build.log >&2; }
fi
set -e
if [ "$status" -eq 5 ]; then echo "pytest collected no tests: that is a failure here" >&2; exit 1; fi
exit "$status"
