#!/bin/bash
# airpool's Airflow image entrypoint (run by dumb-init). It keeps the part of the official apache/airflow image's
# entrypoint contract that Kubernetes objects rely on:
#   no arguments          -> airflow --help
#   bash [args] / python [args] -> that program
#   airflow <command> ... -> airflow <command> ...
#   <command> ...         -> airflow <command> ...   (e.g. args: ["scheduler"])
# Files it creates are group-writable (umask 0002), so any uid running with group 0 can share AIRFLOW_HOME.
set -euo pipefail
umask 0002

if [[ $# -eq 0 ]]; then
  exec airflow --help
fi
case "$1" in
  bash | python | python3)
    exec "$@"
    ;;
  airflow)
    shift
    exec airflow "$@"
    ;;
  *)
    exec airflow "$@"
    ;;
esac
