"""The refresh jobs. Each calls one SQL function as dashboard_worker; the function takes a
transaction-level advisory lock and skips when another run holds it, so a double enqueue (two
schedulers, a slow cycle) costs nothing. Jobs take ids, not objects."""

from __future__ import annotations

import contextlib
import json
import logging

import psycopg2

from och_dashboard.config import Settings

log = logging.getLogger(__name__)


def _call(sql: str, params: tuple = (), background: bool = True) -> dict:
    """Run one refresh function on a connection of its own. Background work runs its backend
    below the API's CPU priority (dashboard.lower_priority), so a cycle takes only the cores the
    API leaves idle; a student's own refresh keeps normal priority."""
    settings = Settings.from_env()
    conn = psycopg2.connect(
        settings.worker_database_url, application_name="och-dashboard-worker", connect_timeout=10
    )
    try:
        with contextlib.closing(conn), conn, conn.cursor() as cur:
            if background:
                cur.execute("select dashboard.lower_priority()")
            cur.execute(sql, params)
            result = cur.fetchone()[0]
    except psycopg2.Error:
        log.exception("refresh job failed: %s %s", sql, params)
        raise
    log.info("%s %s -> %s", sql, params, json.dumps(result, default=str)[:500])
    return result


def refresh_student_dashboard_cache(user_id: str) -> dict:
    """One student now, from the upstreams (cold start, stale row, a reported action)."""
    return _call("select dashboard.refresh_student(%s)", (user_id,), background=False)


def process_dashboard_update_queue(max_entries: int = 200) -> dict:
    """Drain the update queue: urgent > high > normal > low, then oldest first."""
    return _call("select dashboard.process_update_queue(%s)", (max_entries,))


def refresh_all_active_student_dashboards(force: bool = False) -> dict:
    """The 5-minute cycle: staging delta, changed materialized views, cache merge."""
    return _call("select dashboard.refresh_all(%s)", (force,))
