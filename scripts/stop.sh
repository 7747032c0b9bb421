#!/usr/bin/env bash
# Stop the project-local PostgreSQL and Redis (if this project started them).
set -uo pipefail
cd "$(dirname "$0")/.."
if [ -f .local/pg/data/postmaster.pid ]; then
  if [ "$(id -u)" -eq 0 ]; then
    runuser -u postgres -- /usr/lib/postgresql/15/bin/pg_ctl -D .local/pg/data -m fast stop
  else
    /usr/lib/postgresql/15/bin/pg_ctl -D .local/pg/data -m fast stop
  fi
fi
if [ -f .local/redis/redis.pid ]; then
  kill "$(cat .local/redis/redis.pid)" 2>/dev/null && echo "redis stopped"
fi
exit 0
