"""The `och-dashboard` command: schema, stand-ins, seed, tokens, and DBA operations."""

from __future__ import annotations

import contextlib
import json
import sys
import time
from datetime import datetime

import click
import psycopg2

from och_dashboard import sqlfiles, tokens, upstream
from och_dashboard.config import Settings


def _settings() -> Settings:
    return Settings.from_env()


@click.group()
def main() -> None:
    """OCH student dashboard backend."""


@main.group()
def db() -> None:
    """The dashboard database's schema."""


@db.command("upgrade")
@click.option("--no-populate", is_flag=True, help="Leave rebuilt materialized views empty.")
def db_upgrade(no_populate: bool) -> None:
    """Apply sql/ (manifest order) in one transaction. Idempotent."""
    settings = _settings()
    upstream.ensure_database(settings, settings.dashboard_dbname)
    report = sqlfiles.upgrade(settings, populate=not no_populate, log=click.echo)
    if not report.migrations_applied and not report.objects_rebuilt:
        click.echo("schema is up to date")
    else:
        click.echo(
            f"applied {len(report.migrations_applied)} migration(s); "
            f"objects {'rebuilt' if report.objects_rebuilt else 'unchanged'}"
        )


@main.group("upstream")
def upstream_group() -> None:
    """The upstream stand-in databases (development and tests)."""


@upstream_group.command("create")
def upstream_create() -> None:
    """Create the eight stand-in databases and their tables. Idempotent."""
    upstream.create_stand_ins(_settings(), log=click.echo)


@main.command("seed")
@click.option("--students", "-n", type=click.IntRange(min=0), default=200, show_default=True)
@click.option("--seed", "seed_value", type=int, default=1, show_default=True)
@click.option(
    "--now",
    type=click.DateTime(formats=["%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%d"]),
    help="The instant the data is generated around (default: now).",
)
def seed_cmd(students: int, seed_value: int, now: datetime | None) -> None:
    """Fill the stand-ins with N synthetic students (replacing their data). Deterministic."""
    settings = _settings()
    upstream.create_stand_ins(settings, log=lambda _: None)
    with click.progressbar(
        length=students, label=f"seeding {students} students", file=sys.stderr
    ) as bar:
        counts = upstream.seed(settings, students, seed_value, now, progress=bar.update)
    for service, n in counts.items():
        click.echo(f"{service:>14}: {n} rows")


@main.group("staging")
def staging_group() -> None:
    """Staging tables loaded from the upstreams through postgres_fdw."""


@staging_group.command("load")
@click.option("--full", is_flag=True, help="Reload everything (reconciles hard deletes).")
def staging_load(full: bool) -> None:
    """Load staging from every upstream (incremental by watermark unless --full)."""
    settings = _settings()
    with contextlib.closing(psycopg2.connect(settings.database_url)) as conn, conn.cursor() as cur:
        conn.autocommit = True
        cur.execute("set role dashboard_owner")
        cur.execute("select dashboard.load_staging(%s)", (full,))
        click.echo(f"staging: {cur.fetchone()[0]} rows changed")
        if full:
            # A first load writes millions of rows no statistics or visibility map know of yet:
            # the first cycle's plans (index-only scans of the habit logs) need both.
            cur.execute("vacuum analyze staging.coaching_habit_logs")
            cur.execute("analyze")
        cur.execute(
            "select staging_table, last_error from staging.sources where last_error is not null"
        )
        for table, error in cur.fetchall():
            click.echo(f"  {table}: FAILED: {error}", err=True)


@main.command("token")
@click.option("--student", required=True, help="The student's UUID (the token's sub).")
@click.option("--ttl", default="1h", show_default=True, help="Lifetime: 90s, 15m, 1h, 7d.")
def token_cmd(student: str, ttl: str) -> None:
    """Mint a development JWT for a student."""
    try:
        click.echo(tokens.mint(_settings(), student, tokens.parse_ttl(ttl)))
    except (ValueError, RuntimeError) as exc:
        raise click.BadParameter(str(exc)) from exc


@main.command("students")
@click.option("--tier", help="Only students of this (upstream) tier.")
@click.option("--limit", type=click.IntRange(min=1), default=10, show_default=True)
def students_cmd(tier: str | None, limit: int) -> None:
    """List student ids to try, with their tier and name."""
    settings = _settings()
    with contextlib.closing(psycopg2.connect(settings.database_url)) as conn, conn.cursor() as cur:
        cur.execute(
            """
            select s.id, coalesce(sub.tier, 'free'), coalesce(sub.status, '-'), s.name
              from staging.identity_students s
              left join staging.subscriptions_subscriptions sub on sub.student_id = s.id
             where %(tier)s::text is null or sub.tier = %(tier)s
             order by s.email
             limit %(limit)s
            """,
            {"tier": tier, "limit": limit},
        )
        for row in cur.fetchall():
            click.echo("\t".join(str(v) for v in row))


def _admin_cursor(settings: Settings, background: bool = False):
    """An autocommit connection acting as dashboard_owner (DBA commands run the same SQL
    functions the jobs run). Background work lowers the backend's CPU priority first, as the
    jobs do, while still the login role (only it may renice its own backend)."""
    conn = psycopg2.connect(settings.database_url, application_name="och-dashboard-cli")
    conn.autocommit = True
    cur = conn.cursor()
    if background:
        cur.execute("select dashboard.lower_priority()")
    cur.execute("set role dashboard_owner")
    return conn, cur


@main.command("refresh")
@click.option("--all", "all_", is_flag=True, help="The full cycle (staging, matviews, cache).")
@click.option("--view", help="One materialized view, e.g. mv_coaching_summary.")
@click.option("--student", help="One student (UUID): from the upstreams, now.")
@click.option("--force", is_flag=True, help="Recompute even when inputs did not change.")
def refresh_cmd(all_: bool, view: str | None, student: str | None, force: bool) -> None:
    """Run a refresh now (what the jobs run), with a progress bar on a terminal."""
    if sum(bool(x) for x in (all_, view, student)) != 1:
        raise click.UsageError("give exactly one of --all, --view NAME, --student UUID")
    conn, cur = _admin_cursor(_settings(), background=not student)
    with contextlib.closing(conn):
        if student:
            cur.execute("select dashboard.refresh_student(%s)", (student,))
            click.echo(json.dumps(cur.fetchone()[0]))
        elif view:
            name = view if "." in view else f"dashboard.{view}"
            cur.execute("select to_regclass(%s) is not null", (name,))
            if not cur.fetchone()[0]:
                raise click.BadParameter(f"no materialized view {name}", param_hint="--view")
            cur.execute("select dashboard.refresh_matview(%s::regclass, %s)", (name, force))
            click.echo(f"{name}: {cur.fetchone()[0]}")
        else:
            _refresh_all_with_progress(conn, cur, force)


def _refresh_all_with_progress(conn, cur, force: bool) -> None:
    """The same steps dashboard.refresh_all() runs, in one transaction under the same lock."""
    conn.autocommit = False
    cur.execute("select clock_timestamp(), dashboard.try_begin_cycle()")
    started, locked = cur.fetchone()
    if not locked:
        conn.rollback()
        click.echo("another refresh cycle is running: skipped")
        return
    cur.execute("select * from dashboard.cycle_steps()")
    steps = [r[0] for r in cur.fetchall()]
    results = {}
    with click.progressbar(
        steps, label="refresh cycle", file=sys.stderr, item_show_func=lambda s: s or ""
    ) as bar:
        for step in bar:
            cur.execute("select dashboard.run_cycle_step(%s, %s)", (step, force))
            results[step] = cur.fetchone()[0]
    cur.execute("select dashboard.finish_cycle(%s, %s)", (started, json.dumps(results)))
    conn.commit()
    failed = [s for s, r in results.items() if r == "failed"]
    click.echo(
        f"cycle done: {len(steps)} steps, {len(failed)} failed"
        + (f" ({', '.join(failed)})" if failed else "")
    )


@main.command("status")
def status_cmd() -> None:
    """Refresh status per materialized view, serving table and upstream."""
    conn, cur = _admin_cursor(_settings())
    with contextlib.closing(conn):
        cur.execute(
            "select kind, name, ok, stale, to_char(age, 'HH24:MI:SS'), rows, "
            "to_char(last_success_at, 'YYYY-MM-DD HH24:MI:SS'), "
            "to_char(last_failure_at, 'YYYY-MM-DD HH24:MI:SS'), left(last_error, 60) "
            "from dashboard.refresh_status order by kind desc, name"
        )
        _table(
            [
                "kind",
                "name",
                "ok",
                "stale",
                "age",
                "rows",
                "last success",
                "last failure",
                "last error",
            ],
            cur.fetchall(),
        )


@main.command("queue")
def queue_cmd() -> None:
    """Update queue depth by priority and the oldest pending entry's age."""
    conn, cur = _admin_cursor(_settings())
    with contextlib.closing(conn):
        cur.execute(
            "select priority::text, pending, to_char(oldest_age, 'HH24:MI:SS'), failed "
            "from dashboard.queue_status"
        )
        _table(["priority", "pending", "oldest", "failed"], cur.fetchall())


def _table(headers: list[str], rows: list[tuple]) -> None:
    cells = [[("" if v is None else str(v)) for v in row] for row in rows]
    widths = [
        max(len(h), *(len(r[i]) for r in cells)) if cells else len(h) for i, h in enumerate(headers)
    ]
    click.echo("  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)))
    for row in cells:
        click.echo("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)))


@main.command("worker")
@click.option("--burst", is_flag=True, help="Process what is queued, then exit.")
def worker_cmd(burst: bool) -> None:
    """An RQ worker for the refresh jobs (urgent queue first). SIGTERM: finish, then stop."""
    import redis as redis_lib
    from rq import Queue, Worker

    from och_dashboard.queueing import queue_names

    settings = _settings()
    backoff = 1.0
    while True:
        conn = redis_lib.Redis.from_url(settings.redis_url)  # no short timeout: blocking pops
        queues = [Queue(name, connection=conn) for name in queue_names(settings)]
        try:
            Worker(queues, connection=conn).work(burst=burst, with_scheduler=False)
            return  # burst done, or a shutdown signal (SIGTERM finishes the current job first)
        except redis_lib.ConnectionError as exc:
            # Redis went away: nothing is lost (the database queue holds every event); wait for
            # it to come back instead of exiting.
            click.echo(f"worker: redis unavailable ({exc}); retrying in {backoff:.0f} s", err=True)
            time.sleep(backoff)
            backoff = min(backoff * 2, 30)


@main.command("scheduler")
@click.option(
    "--interval",
    type=float,
    default=5.0,
    show_default=True,
    help="Seconds between checks for due jobs.",
)
@click.option("--register-only", is_flag=True, help="Register the periodic jobs and exit.")
def scheduler_cmd(interval: float, register_only: bool) -> None:
    """rq-scheduler with the periodic refresh jobs registered under fixed ids."""
    import redis as redis_lib

    from jobs.schedule import make_scheduler, register

    settings = _settings()
    backoff = 1.0
    while True:
        try:
            scheduler = make_scheduler(
                settings, redis_lib.Redis.from_url(settings.redis_url), interval
            )
            for job_id in register(scheduler, settings):
                click.echo(f"registered {job_id}")
            if not register_only:
                scheduler.run()
            return
        except redis_lib.ConnectionError as exc:
            click.echo(
                f"scheduler: redis unavailable ({exc}); retrying in {backoff:.0f} s", err=True
            )
            time.sleep(backoff)
            backoff = min(backoff * 2, 30)


def run() -> None:
    """Entry point: SQL errors are reported as one line, not a traceback."""
    try:
        main(standalone_mode=True)
    except sqlfiles.SqlFileError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)


if __name__ == "__main__":
    run()
