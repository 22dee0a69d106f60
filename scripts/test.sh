#!/usr/bin/env bash
# Sets up what is missing, then runs the linters and the whole test suite against real servers.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
printf '\033[1m==> %s\033[0m\n' "ruff, mypy, import contracts"
.venv/bin/ruff check src tests bench
.venv/bin/ruff format --check src tests bench
.venv/bin/mypy
.venv/bin/lint-imports
printf '\033[1m==> %s\033[0m\n' "pytest"
set +e
.venv/bin/python -m pytest "$@"
status=$?
set -e
if [ "$status" -eq 5 ]; then echo "pytest collected no tests: that is a failure here" >&2; exit 1; fi
exit "$status"
