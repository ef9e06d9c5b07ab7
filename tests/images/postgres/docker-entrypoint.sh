#!/usr/bin/env bash
# Entrypoint of the postgres stand-in image (see Containerfile): the official
# image's environment contract, written for Debian's PostgreSQL 15.
set -Eeuo pipefail

log() { printf 'docker-entrypoint: %s\n' "$*" >&2; }

# `docker run postgres-image -c x=y` means `postgres -c x=y`.
if [ "${1:0:1}" = '-' ]; then set -- postgres "$@"; fi

if [ "$1" != postgres ]; then exec "$@"; fi

export PGDATA=${PGDATA:-/var/lib/postgresql/data}
export POSTGRES_USER=${POSTGRES_USER:-postgres}
export POSTGRES_DB=${POSTGRES_DB:-$POSTGRES_USER}

# As root: own the data and socket folders, then run this script again as postgres.
if [ "$(id -u)" = 0 ]; then
  mkdir -p "$PGDATA" /var/run/postgresql
  chmod 700 "$PGDATA" || true
  find "$PGDATA" \! -user postgres -exec chown postgres:postgres '{}' + 2>/dev/null ||
    chown -R postgres:postgres "$PGDATA"
  chown postgres:postgres /var/run/postgresql
  chmod 3777 /var/run/postgresql
  exec setpriv --reuid=postgres --regid=postgres --init-groups "${BASH_SOURCE[0]}" "$@"
fi

run_init_files() {
  local f psql=(psql -v ON_ERROR_STOP=1 --no-psqlrc --username "$POSTGRES_USER" --dbname "$POSTGRES_DB")
  for f in /docker-entrypoint-initdb.d/*; do
    [ -e "$f" ] || continue
    case "$f" in
      *.sh)
        if [ -x "$f" ]; then log "running $f"; "$f"; else log "sourcing $f"; . "$f"; fi ;;
      *.sql) log "running $f"; "${psql[@]}" -f "$f" ;;
      *.sql.gz) log "running $f"; gunzip -c "$f" | "${psql[@]}" ;;
      *) log "ignoring $f" ;;
    esac
  done
}

if [ ! -s "$PGDATA/PG_VERSION" ]; then
  auth=${POSTGRES_HOST_AUTH_METHOD:-scram-sha-256}
  if [ -z "${POSTGRES_PASSWORD:-}" ] && [ "$auth" != trust ]; then
    log "error: the database is uninitialized and POSTGRES_PASSWORD is not set"
    log "       (set it, or POSTGRES_HOST_AUTH_METHOD=trust to allow connections without one)"
    exit 1
  fi
  # The password goes to initdb through a pipe, never on a command line.
  # shellcheck disable=SC2086
  initdb --username="$POSTGRES_USER" --pwfile=<(printf '%s\n' "${POSTGRES_PASSWORD:-}") \
    -D "$PGDATA" ${POSTGRES_INITDB_ARGS:-} >&2
  printf '\nhost all all all %s\n' "$auth" >>"$PGDATA/pg_hba.conf"
  printf "listen_addresses = '*'\n" >>"$PGDATA/postgresql.conf"

  # A server on the socket only, for the init files.
  pg_ctl -D "$PGDATA" -o "-c listen_addresses='' -p 5432" -w start >&2
  export PGHOST=/var/run/postgresql PGPORT=5432
  if [ "$POSTGRES_DB" != postgres ]; then
    psql -v ON_ERROR_STOP=1 --no-psqlrc --username "$POSTGRES_USER" --dbname postgres \
      -v db="$POSTGRES_DB" >&2 <<<'CREATE DATABASE :"db";'
  fi
  run_init_files
  pg_ctl -D "$PGDATA" -m fast -w stop >&2
  unset PGHOST PGPORT
  log "PostgreSQL init process complete; ready for start up"
else
  log "PostgreSQL database directory appears to contain a database; skipping initialization"
fi

exec "$@"
