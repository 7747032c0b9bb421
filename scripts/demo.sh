#!/usr/bin/env bash
# `make demo`: stand-ins with synthetic data, the dashboard schema, a first refresh, then the
# API, an RQ worker and the scheduler in the foreground. Ctrl-C stops what it started.
# Runs under scripts/env.sh (DATABASE_URL, REDIS_URL, OCH_JWT_SECRET are set).
set -euo pipefail
cd "$(dirname "$0")/.."
STUDENTS=${1:-300}
API_PORT=${API_PORT:-$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')}
bold() { printf '\033[1m%s\033[0m\n' "$*"; }

och-dashboard upstream create
if [ "$(psql "${DATABASE_URL%/*}/${UPSTREAM_DB_PREFIX:-och_}identity" -Atc 'select count(*) from students')" = "0" ]; then
  och-dashboard seed --students "$STUDENTS"
fi
och-dashboard db upgrade
och-dashboard refresh --all

pids=()
cleanup() {
  trap - INT TERM EXIT
  echo; bold "stopping the API, the worker and the scheduler"
  kill "${pids[@]}" 2>/dev/null || true
  wait 2>/dev/null || true
  if [ "${OCH_DEMO_KEEP_SERVICES:-}" != 1 ]; then scripts/stop.sh >/dev/null; fi
}
trap cleanup INT TERM EXIT

gunicorn --bind "127.0.0.1:$API_PORT" --workers 2 --threads 4 --access-logfile - \
  --graceful-timeout 20 wsgi:app &
pids+=($!)
och-dashboard worker &
pids+=($!)
och-dashboard scheduler &
pids+=($!)

for _ in $(seq 50); do curl -fs "http://127.0.0.1:$API_PORT/healthz" >/dev/null && break; sleep 0.2; done

API="http://127.0.0.1:$API_PORT"
echo
bold "OCH student dashboard is running"
echo "  API:            $API   (OpenAPI: $API/openapi.json, docs: $API/docs)"
echo "  dashboard DB:   psql '$DATABASE_URL'"
echo "    analysts:     psql '${DATABASE_URL/postgres@/dashboard_analyst@}'  (analytics.*, dashboard.mv_*)"
echo "    DBAs:         och-dashboard status | queue | refresh --all"
for tier in free starter3 professional7; do
  student=$(och-dashboard students --tier "$tier" --limit 1 | cut -f1)
  [ -n "$student" ] || continue
  token=$(och-dashboard token --student "$student" --ttl 12h)
  echo
  bold "  a $tier student ($student):"
  echo "    export TOKEN_$tier=$token"
  echo "    curl -s -H \"Authorization: Bearer \$TOKEN_$tier\" $API/api/v1/student/dashboard"
  echo "    curl -s -H \"Authorization: Bearer \$TOKEN_$tier\" '$API/api/v1/student/missions?status=pending,in_review'"
  echo "    curl -s -H \"Authorization: Bearer \$TOKEN_$tier\" $API/api/v1/student/curriculum/progress"
  echo "    curl -s -H \"Authorization: Bearer \$TOKEN_$tier\" $API/api/v1/student/profile"
done
echo
bold "Ctrl-C stops the API, the worker and the scheduler (and the local PostgreSQL/Redis)."
# Stop everything when any of the three exits on its own (a crash is not hidden).
wait -n
echo "a process of the demo exited; stopping the others" >&2
exit 1
