#!/usr/bin/env bash
# Check every PL/pgSQL function of the dashboard schema with plpgsql_check, in a scratch
# database upgraded from sql/ (so a broken function fails `make lint`, not production).
set -euo pipefail
cd "$(dirname "$0")/.."
exec python -m och_dashboard.lint_plpgsql
