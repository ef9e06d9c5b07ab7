#!/bin/sh
# Entrypoint of the rabbitmq stand-in image (see Containerfile).
set -eu

log() { printf 'docker-entrypoint: %s\n' "$*" >&2; }

# `image -detached` style options mean rabbitmq-server.
case "${1:-}" in -*) set -- rabbitmq-server "$@" ;; esac

if [ "${1:-}" = rabbitmq-server ] && [ "$(id -u)" = 0 ]; then
  # The cookie exists before anything else runs: a CLI tool started as root
  # (the health check) would otherwise create one only root can read.
  cookie=/var/lib/rabbitmq/.erlang.cookie
  if [ ! -s "$cookie" ] && [ -z "${RABBITMQ_ERLANG_COOKIE:-}" ]; then
    (umask 077 && tr -dc 'A-Z' </dev/urandom | head -c 20 >"$cookie")
    chmod 400 "$cookie"
  fi
  find /var/lib/rabbitmq \! -user rabbitmq -exec chown rabbitmq:rabbitmq '{}' + 2>/dev/null || true
  exec setpriv --reuid=rabbitmq --regid=rabbitmq --init-groups "$0" "$@"
fi

if [ "${1:-}" = rabbitmq-server ]; then
  cookie="$HOME/.erlang.cookie"
  if [ -n "${RABBITMQ_ERLANG_COOKIE:-}" ]; then
    log "warning: RABBITMQ_ERLANG_COOKIE is deprecated; mount $cookie instead"
    if [ -s "$cookie" ] && [ "$(cat "$cookie")" != "$RABBITMQ_ERLANG_COOKIE" ]; then
      log "warning: $cookie differs from RABBITMQ_ERLANG_COOKIE; overwriting it"
    fi
    rm -f "$cookie"
    (umask 077 && printf '%s' "$RABBITMQ_ERLANG_COOKIE" >"$cookie")
    chmod 400 "$cookie"
  fi
  unset RABBITMQ_ERLANG_COOKIE
fi

exec "$@"
