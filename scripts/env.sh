#!/usr/bin/env bash
# Run a command with the project's environment: variables already set win; otherwise the
# project-local services and secrets that scripts/bootstrap.sh recorded in .local/env.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -f .local/env ]; then
  while IFS='=' read -r name value; do
    [ -n "$name" ] && [ -z "${!name:-}" ] && export "$name=$value"
  done < .local/env
fi
export DATABASE_URL="${DATABASE_URL:-postgresql://postgres@127.0.0.1:${OCH_LOCAL_PG_PORT}/och_dashboard}"
export REDIS_URL="${REDIS_URL:-redis://127.0.0.1:${OCH_LOCAL_REDIS_PORT}/0}"
export PATH="$(pwd)/.venv/bin:$PATH"
exec "$@"
