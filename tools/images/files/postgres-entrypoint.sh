#!/bin/bash
# airpool's PostgreSQL image entrypoint: the part of the official postgres image's contract a Deployment uses.
# On an empty PGDATA it runs initdb with UTF8 encoding (a SQL_ASCII database breaks Airflow's migrations), the
# superuser POSTGRES_USER (default postgres) with POSTGRES_PASSWORD, password (scram-sha-256) logins from any
# address, and creates POSTGRES_DB when it differs from "postgres". Started as root it prepares PGDATA's ownership
# and drops to the postgres user; started as any other user it needs a PGDATA it may write.
set -euo pipefail

if [[ $# -eq 0 || "$1" == -* ]]; then
  set -- postgres "$@"
fi
if [[ "$1" != postgres ]]; then
  exec "$@"
fi

if [[ "$(id -u)" == 0 ]]; then
  mkdir -p "$PGDATA"
  chown postgres:postgres "$PGDATA"
  chmod 0700 "$PGDATA"
  exec setpriv --reuid=postgres --regid=postgres --init-groups "$0" "$@"
fi

if [[ ! -s "$PGDATA/PG_VERSION" ]]; then
  if [[ -z "${POSTGRES_PASSWORD:-}" ]]; then
    echo "postgres: PGDATA ($PGDATA) is empty and POSTGRES_PASSWORD is not set: the database would accept" \
      "no password; set POSTGRES_PASSWORD" >&2
    exit 1
  fi
  user="${POSTGRES_USER:-postgres}"
  mkdir -p "$PGDATA"
  chmod 0700 "$PGDATA"
  pwfile="$(mktemp)"
  trap 'rm -f "$pwfile"' EXIT
  printf '%s\n' "$POSTGRES_PASSWORD" >"$pwfile"
  initdb --pgdata="$PGDATA" --username="$user" --pwfile="$pwfile" --encoding=UTF8 --locale=C.UTF-8 \
    --auth-local=trust --auth-host=scram-sha-256 >/dev/null
  rm -f "$pwfile"
  printf "\nhost all all all scram-sha-256\n" >>"$PGDATA/pg_hba.conf"
  printf "\nlisten_addresses = '*'\n" >>"$PGDATA/postgresql.conf"
  db="${POSTGRES_DB:-$user}"
  if [[ "$db" != postgres ]]; then
    printf 'CREATE DATABASE "%s" OWNER "%s" ENCODING '"'UTF8'"';\n' "${db//\"/\"\"}" "${user//\"/\"\"}" |
      postgres --single -D "$PGDATA" -j postgres >/dev/null
  fi
  echo "postgres: initialised $PGDATA (UTF8) with database $db owned by $user"
fi
exec "$@"
