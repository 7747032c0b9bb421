"""The upstream stand-ins: one database per upstream service, made from sql/upstream/, and the
deterministic synthetic data generator (sql/upstream/seed/) that fills them.

In production the foreign servers point at the real services and none of this runs.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from datetime import datetime

import psycopg2
from psycopg2 import sql

from och_dashboard.config import UPSTREAMS, Settings
from och_dashboard.sqlfiles import SQL_DIR, run_file

UPSTREAM_DIR = SQL_DIR / "upstream"
SEED_DIR = UPSTREAM_DIR / "seed"


def _connect(dsn: str):
    conn = psycopg2.connect(dsn)
    conn.autocommit = True
    return conn


def ensure_database(settings: Settings, dbname: str) -> bool:
    """Create a database when missing; True when it was created."""
    with contextlib.closing(_connect(settings.admin_dsn("postgres"))) as conn, conn.cursor() as cur:
        cur.execute("select 1 from pg_database where datname = %s", (dbname,))
        if cur.fetchone():
            return False
        cur.execute(sql.SQL("create database {}").format(sql.Identifier(dbname)))
        return True


def drop_database(settings: Settings, dbname: str) -> None:
    with contextlib.closing(_connect(settings.admin_dsn("postgres"))) as conn, conn.cursor() as cur:
        cur.execute(
            sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(dbname))
        )


def create_stand_ins(settings: Settings, log: Callable[[str], None] = print) -> None:
    """Create (or bring up to date) every upstream stand-in database. Idempotent."""
    for service in UPSTREAMS:
        if ensure_database(settings, settings.upstream_dbname(service)):
            log(f"created upstream database {settings.upstream_dbname(service)}")
        conn = _connect(settings.upstream_admin_dsn(service))
        with contextlib.closing(conn), conn.cursor() as cur:
            run_file(cur, UPSTREAM_DIR / "_common.sql")
            run_file(cur, UPSTREAM_DIR / f"{service}.sql")
            run_file(cur, SEED_DIR / "_common.sql")
            seed_file = SEED_DIR / f"{service}.sql"
            if seed_file.exists():
                run_file(cur, seed_file)
            cur.execute("grant select on all tables in schema public to och_upstream_reader")


def seed(
    settings: Settings,
    students: int,
    seed_value: int = 1,
    now: datetime | None = None,
    chunk: int = 2000,
    progress: Callable[[int], None] | None = None,
) -> dict[str, int]:
    """Replace the stand-ins' data with `students` synthetic students. Deterministic: the same
    (students, seed, now) gives the same rows. Returns rows generated per service."""
    counts: dict[str, int] = {}
    conns = {s: _connect(settings.upstream_admin_dsn(s)) for s in UPSTREAMS}
    try:
        for service, conn in conns.items():
            with conn.cursor() as cur:
                # A bulk load of rows the generator made consistent: skip the per-row foreign
                # key triggers (the administrator is a superuser; the setting is this session's).
                cur.execute("set session_replication_role = replica")
                cur.execute("select seed_reset()")
                cur.execute("select seed_catalog(%s)", (seed_value,))
                counts[service] = cur.fetchone()[0]
        for first in range(1, students + 1, chunk):
            last = min(students, first + chunk - 1)
            for service, conn in conns.items():
                with conn.cursor() as cur:
                    cur.execute(
                        "select seed_students(%s, %s, %s, coalesce(%s, now()))",
                        (seed_value, first, last, now),
                    )
                    counts[service] += cur.fetchone()[0]
            if progress:
                progress(last - first + 1)
        for conn in conns.values():
            with conn.cursor() as cur:
                cur.execute("analyze")
    finally:
        for conn in conns.values():
            conn.close()
    return counts
