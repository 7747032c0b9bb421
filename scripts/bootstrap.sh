#!/usr/bin/env bash
# Bring this machine to a working stack, idempotently:
#   1. Debian packages that are missing (PostgreSQL 15 + contrib + plpgsql_check + prioritize,
#      Redis);
#   2. the project's virtualenv (.venv) with pinned dependencies (constraints.txt);
#   3. a PostgreSQL and a Redis: the ones DATABASE_URL / REDIS_URL name when those are set,
#      otherwise a project-local cluster and redis-server under .local/ (git-ignored);
#   4. .local/env with the generated settings (ports, JWT secret) that later runs reuse.
# Usage: scripts/bootstrap.sh            (everything)
#        scripts/bootstrap.sh services   (only step 3-4, for a running venv)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
LOCAL="$ROOT/.local"
mkdir -p "$LOCAL"
PG_BIN=/usr/lib/postgresql/15/bin

log() { printf '\033[1m[bootstrap]\033[0m %s\n' "$*" >&2; }

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

# Run a PostgreSQL server binary as an unprivileged user: it refuses to run as root.
as_pg_user() { if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

install_packages() {
  local missing=()
  [ -x "$PG_BIN/postgres" ] || missing+=(postgresql-15)
  [ -f /usr/share/postgresql/15/extension/postgres_fdw.control ] || missing+=(postgresql-contrib)
  [ -f /usr/share/postgresql/15/extension/plpgsql_check.control ] || missing+=(postgresql-15-plpgsql-check)
  # lets the refresh jobs run their backend at a lower CPU priority than the API's
  [ -f /usr/share/postgresql/15/extension/prioritize.control ] || missing+=(postgresql-15-prioritize)
  command -v redis-server >/dev/null || missing+=(redis-server)
  command -v psql >/dev/null || missing+=(postgresql-client-15)
  python3 -c 'import venv, ensurepip' 2>/dev/null || missing+=(python3-venv)
  command -v node >/dev/null || missing+=(nodejs)
  command -v npm >/dev/null || missing+=(npm)
  command -v wrk >/dev/null || missing+=(wrk)  # the benchmarks and their CI guard
  if [ ${#missing[@]} -gt 0 ]; then
    log "installing Debian packages: ${missing[*]}"
    as_root apt-get update -qq
    # The postgresql package's post-install creates and starts a system cluster; we do not
    # depend on it (the project-local cluster below is the default), but it is harmless.
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
}

install_venv() {
  local stamp="$ROOT/.venv/.installed"
  local want
  want=$(cat setup.cfg constraints.txt | sha256sum | cut -c1-16)
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then return; fi
  log "installing the package into .venv (pinned by constraints.txt)"
  [ -x .venv/bin/python ] || python3 -m venv .venv
  .venv/bin/pip install -q --upgrade pip setuptools wheel >/dev/null
  .venv/bin/pip install -q -c constraints.txt -e '.[test]'
  echo "$want" > "$stamp"
}

# The API's docs page is served from local files (the machine may be offline at run time):
# swagger-ui-dist from the npm registry, pinned, into .local/web.
SWAGGER_UI_VERSION=5.35.0
install_docs_assets() {
  local dir="$LOCAL/web/node_modules/swagger-ui-dist"
  if [ -f "$dir/package.json" ] && grep -q "\"version\": \"$SWAGGER_UI_VERSION\"" "$dir/package.json"; then return; fi
  if ! command -v npm >/dev/null; then log "npm not found: the /docs page will be unavailable"; return; fi
  log "installing swagger-ui-dist $SWAGGER_UI_VERSION for the /docs page"
  mkdir -p "$LOCAL/web"
  npm install --silent --no-audit --no-fund --prefix "$LOCAL/web" "swagger-ui-dist@$SWAGGER_UI_VERSION" >/dev/null \
    || log "could not install swagger-ui-dist: the /docs page will be unavailable"
}

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

setting() {  # setting NAME DEFAULT_COMMAND: read a kept value from .local/env or make one
  local name=$1; shift
  local value
  value=$(grep -s "^$name=" "$LOCAL/env" | tail -1 | cut -d= -f2- || true)
  if [ -z "$value" ]; then
    value=$("$@")
    echo "$name=$value" >> "$LOCAL/env"
  fi
  echo "$value"
}

pg_reachable() { "$PG_BIN/pg_isready" -q -d "$1" 2>/dev/null; }

start_local_postgres() {
  local port data run
  port=$(setting OCH_LOCAL_PG_PORT free_port)
  data="$LOCAL/pg/data"; run="$LOCAL/pg/run"
  if [ ! -f "$data/PG_VERSION" ]; then
    log "creating a project-local PostgreSQL 15 cluster in .local/pg (port $port)"
    mkdir -p "$data" "$run"
    [ "$(id -u)" -eq 0 ] && chown -R postgres:postgres "$LOCAL/pg"
    as_pg_user "$PG_BIN/initdb" -D "$data" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >/dev/null
    cat >> "$data/postgresql.auto.conf" <<CONF
port = $port
listen_addresses = '127.0.0.1'
unix_socket_directories = '$run'
max_connections = 300
shared_buffers = '256MB'
shared_preload_libraries = 'pg_stat_statements'
log_min_duration_statement = -1
CONF
  fi
  if ! pg_reachable "postgresql://postgres@127.0.0.1:$port/postgres"; then
    log "starting the project-local PostgreSQL on port $port"
    as_pg_user "$PG_BIN/pg_ctl" -D "$data" -l "$LOCAL/pg/server.log" -w -t 60 start >/dev/null
  fi
  tune_local_postgres "postgresql://postgres@127.0.0.1:$port/postgres" "$data"
}

# Server settings for a refresh cycle that rewrites a large share of a 7 GB database every 5
# minutes (docs/dba.md explains each; bench/README.md has the measurements): WAL room so a cycle
# does not force a checkpoint every few seconds (each one makes the next write of every page a
# full-page image), lz4-compressed full-page images, and a buffer cache for the working set.
# Applied to the project-local cluster only, idempotently (a restart when one needs it); a server
# named by DATABASE_URL is its DBA's to tune. The buffer cache is a quarter of the machine's
# memory (128 MB to 8 GB), the usual rule: at 100,000 students 6 GB instead of 256 MB took the
# API's p99 during the 5-minute cycle from 70-269 ms to 41-42 ms (docs/dba.md).
MEM_MB=$(awk '/^MemTotal:/ {print int($2 / 1024)}' /proc/meminfo)
BUFFERS_MB=$(( MEM_MB / 4 < 128 ? 128 : (MEM_MB / 4 > 8192 ? 8192 : MEM_MB / 4) ))
TUNED_SETTINGS=(
  "max_wal_size=8GB"
  "checkpoint_timeout=15min"
  "wal_compression=lz4"
  "shared_buffers=${BUFFERS_MB}MB"
  "effective_cache_size=$(( MEM_MB * 3 / 4 ))MB"
  "maintenance_work_mem=512MB"
)
tune_local_postgres() {
  local url=$1 data=$2 item name value changed=0 restart=0
  for item in "${TUNED_SETTINGS[@]}"; do
    name=${item%%=*}; value=${item#*=}
    if [ "$(psql "$url" -Atqc "select setting from pg_file_settings where name = '$name' and sourcefile like '%postgresql.auto.conf' order by seqno desc limit 1")" != "$value" ]; then
      psql "$url" -qc "alter system set $name = '$value'" >/dev/null
      changed=1
    fi
  done
  # pg_settings.pending_restart says so only once the server has re-read its files; a file
  # setting the running server cannot take without a restart (shared_buffers) is one
  # pg_file_settings marks "could not be applied" right away. (Checking pending_restart before
  # the reload left the cluster at its initial buffer cache until something restarted it.)
  restart=$(psql "$url" -Atqc "select count(*) from pg_file_settings where not applied and error is not null")
  if [ "$restart" != "0" ]; then
    log "restarting the project-local PostgreSQL for its tuned settings"
    as_pg_user "$PG_BIN/pg_ctl" -D "$data" -l "$LOCAL/pg/server.log" -w -t 60 restart >/dev/null
  elif [ "$changed" -eq 1 ]; then
    psql "$url" -qAtc "select pg_reload_conf()" >/dev/null
  fi
}

start_local_redis() {
  local port
  port=$(setting OCH_LOCAL_REDIS_PORT free_port)
  mkdir -p "$LOCAL/redis"
  if ! redis-cli -p "$port" ping >/dev/null 2>&1; then
    log "starting a project-local Redis on port $port"
    redis-server --port "$port" --bind 127.0.0.1 --daemonize yes --save '' --appendonly no \
      --dir "$LOCAL/redis" --pidfile "$LOCAL/redis/redis.pid" --logfile "$LOCAL/redis/redis.log"
    for _ in $(seq 50); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.1; done
  fi
}

services() {
  setting OCH_JWT_SECRET python3 -c 'import secrets; print(secrets.token_urlsafe(48))' >/dev/null
  if [ -n "${DATABASE_URL:-}" ]; then
    pg_reachable "$DATABASE_URL" || { log "DATABASE_URL is set but not reachable"; exit 1; }
  else
    start_local_postgres
  fi
  if [ -n "${REDIS_URL:-}" ]; then
    redis-cli -u "$REDIS_URL" ping >/dev/null || { log "REDIS_URL is set but not reachable"; exit 1; }
  else
    start_local_redis
  fi
}

case "${1:-all}" in
  all) install_packages; install_venv; install_docs_assets; services ;;
  services) services ;;
  *) echo "usage: $0 [all|services]" >&2; exit 2 ;;
esac
