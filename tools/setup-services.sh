#!/usr/bin/env bash
# Makes sure the machine services the tests use are up, as this kind of
# machine starts them, and that RabbitMQ's management API is on (the verify
# suite and the RabbitMQ tests read it). Idempotent.
set -euo pipefail

if ! pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql)" main start
fi
if ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/ci.log
fi
if ! rabbitmqctl -q status >/dev/null 2>&1; then
  rabbitmq-server -detached
  rabbitmqctl -q wait --timeout 60 /var/lib/rabbitmq/mnesia/rabbit@localhost.pid >/dev/null 2>&1 || true
fi
if ! rabbitmq-plugins -q list -e -m 2>/dev/null | grep -qx rabbitmq_management; then
  rabbitmq-plugins -q enable rabbitmq_management >/dev/null
fi
for _ in $(seq 1 60); do
  curl -fsS -u guest:guest http://127.0.0.1:15672/api/overview >/dev/null 2>&1 && exit 0
  sleep 1
done
echo "setup-services: RabbitMQ management API did not answer on 127.0.0.1:15672 within 60 s" >&2
exit 1
