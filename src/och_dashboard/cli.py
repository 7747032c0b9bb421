"""The `och-dashboard` command: schema, stand-ins, seed, tokens, and DBA operations."""

from __future__ import annotations

import contextlib
import sys
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
@click.option("--now", type=click.DateTime(formats=["%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%d"]),
              help="The instant the data is generated around (default: now).")
def seed_cmd(students: int, seed_value: int, now: datetime | None) -> None:
    """Fill the stand-ins with N synthetic students (replacing their data). Deterministic."""
    settings = _settings()
    upstream.create_stand_ins(settings, log=lambda _: None)
    with click.progressbar(length=students, label=f"seeding {students} students",
                           file=sys.stderr) as bar:
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
        cur.execute("select staging_table, last_error from staging.sources where last_error is not null")
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


def run() -> None:
    """Entry point: SQL errors are reported as one line, not a traceback."""
    try:
        main(standalone_mode=True)
    except sqlfiles.SqlFileError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)


if __name__ == "__main__":
    run()
