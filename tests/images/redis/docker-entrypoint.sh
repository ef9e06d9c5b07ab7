#!/bin/sh
# Entrypoint of the redis stand-in image (see Containerfile).
set -eu

# `image --port 7000` and `image /path/redis.conf` both mean redis-server.
case "${1:-}" in
  -*|*.conf) set -- redis-server "$@" ;;
esac

if [ "${1:-}" = redis-server ] && [ "$(id -u)" = 0 ]; then
  # Own the data folder (only what is not ours yet), then run again as redis.
  find /data \! -user redis -exec chown redis:redis '{}' + 2>/dev/null || true
  exec setpriv --reuid=redis --regid=redis --init-groups "$0" "$@"
fi

if [ "${1:-}" = redis-server ] && [ "$(umask)" = 0022 ]; then
  umask 0077
fi

exec "$@"
