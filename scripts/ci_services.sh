#!/usr/bin/env bash
# CI services for the study tests (Debian, run as root): PostgreSQL on 127.0.0.1 and Debian's chromium.
# Usage in CI:  eval "$(bash scripts/ci_services.sh)"
# stdout carries only the `export CFKIT_TEST_POSTGRES_URL=...` line; progress goes to stderr.
# CFKIT_CI_NO_APT=1: never apt-get (only start an installed cluster; the test suite uses this).
# Idempotent: re-running reuses the installed packages, the running cluster, the role and the database.
set -euo pipefail
PGUSER_NAME=${CFKIT_PG_USER:-cfkit}
PGPASS=${CFKIT_PG_PASSWORD:-cfkit}
PGDB=${CFKIT_PG_DB:-cfkit_test}
log() { echo "ci_services: $*" >&2; }

if [ "$(id -u)" != 0 ]; then log "must run as root (apt-get, pg_ctlcluster)"; exit 1; fi
need=()
command -v pg_ctlcluster >/dev/null 2>&1 || need+=(postgresql)
[ -x /usr/bin/chromium ] || need+=(chromium)
if [ ${#need[@]} -gt 0 ] && [ -n "${CFKIT_CI_NO_APT:-}" ]; then
  command -v pg_ctlcluster >/dev/null 2>&1 || { log "postgresql not installed (CFKIT_CI_NO_APT set)"; exit 1; }
  need=()
fi
if [ ${#need[@]} -gt 0 ]; then
  log "installing ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq --no-install-recommends "${need[@]}" fonts-dejavu-core >&2
fi

read -r VER NAME PORT STATUS _ < <(pg_lsclusters -h | head -n1 || true)
if [ -z "${VER:-}" ]; then
  VER=$(ls /usr/lib/postgresql | sort -V | tail -n1); NAME=main
  log "creating cluster $VER/$NAME"
  pg_createcluster "$VER" "$NAME" >&2
  read -r VER NAME PORT STATUS _ < <(pg_lsclusters -h | head -n1)
fi
if [ "$STATUS" != online ]; then
  log "starting cluster $VER/$NAME on 127.0.0.1:$PORT"
  pg_ctlcluster "$VER" "$NAME" start -- -o "-c listen_addresses=127.0.0.1" >&2 \
    || pg_ctlcluster "$VER" "$NAME" start >&2
fi
for _ in $(seq 1 30); do
  runuser -u postgres -- pg_isready -q -h 127.0.0.1 -p "$PORT" && break
  sleep 1
done
# superuser over the local socket (peer auth); the test role connects over TCP with its password.
psql_local() { runuser -u postgres -- psql -v ON_ERROR_STOP=1 -qAt -p "$PORT" "$@"; }
if [ "$(psql_local -c "SELECT 1 FROM pg_roles WHERE rolname='$PGUSER_NAME'")" != 1 ]; then
  psql_local -c "CREATE ROLE $PGUSER_NAME LOGIN PASSWORD '$PGPASS' CREATEDB" >&2
fi
if [ "$(psql_local -c "SELECT 1 FROM pg_database WHERE datname='$PGDB'")" != 1 ]; then
  psql_local -c "CREATE DATABASE $PGDB OWNER $PGUSER_NAME" >&2
fi
URL="postgresql://$PGUSER_NAME:$PGPASS@127.0.0.1:$PORT/$PGDB"
PGPASSWORD=$PGPASS psql -qAt "$URL" -c "SELECT 1" >/dev/null
if [ -z "${CFKIT_CI_NO_APT:-}" ] && ! /usr/bin/chromium --version >/dev/null 2>&1; then
  log "chromium does not run (/usr/bin/chromium --version failed)"; exit 1
fi
log "PostgreSQL ready at 127.0.0.1:$PORT ($PGDB); chromium: $(/usr/bin/chromium --version 2>/dev/null || echo missing)"
echo "export CFKIT_TEST_POSTGRES_URL=$URL"
