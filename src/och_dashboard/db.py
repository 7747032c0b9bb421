"""The API's database access: one pooled engine logging in as `authenticator`, and the request
transaction that acts as the student.

Every request runs in its own short transaction that first switches role and claims with
transaction-local set_config (as PostgREST does): `role` -> authenticated (or anon) and
`request.jwt.claims` -> the verified claims. Both end with the transaction, so a pooled
connection carries nothing into the next request. Outside a transaction SET LOCAL would do
nothing, which is why the switch is the first statement of an explicit transaction.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager

from flask import Flask, current_app
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Connection, Engine

from och_dashboard.config import Settings

# Two statements, one round trip. The claims are set while still `authenticator`, then the role
# switches: pg_stat_statements keys a statement by the role it *ends* as and normalises its
# literals only under the role it was parsed as, so one statement doing both would record the
# claims verbatim (student ids and whatever else a token carries) under `authenticated`.
_SWITCH = text(
    "select set_config('request.jwt.claims', :claims, true), "
    "set_config('statement_timeout', :timeout, true); "
    "select set_config('role', :role, true)"
)


def make_engine(settings: Settings) -> Engine:
    return create_engine(
        settings.api_database_url.replace("postgresql://", "postgresql+psycopg2://", 1),
        pool_size=settings.db_pool_size,
        max_overflow=0,
        pool_timeout=5,
        pool_pre_ping=True,  # a restarted server's dead connections are replaced, not served
        pool_recycle=1800,
        connect_args={"connect_timeout": 5, "application_name": "och-dashboard-api"},
    )


def init_app(app: Flask, settings: Settings) -> None:
    app.extensions["och_engine"] = make_engine(settings)


def engine() -> Engine:
    return current_app.extensions["och_engine"]


@contextmanager
def transaction(claims: dict | None) -> Iterator[Connection]:
    """A transaction acting as the student of `claims` (`authenticated`), or as `anon`."""
    settings: Settings = current_app.config["OCH_SETTINGS"]
    with engine().begin() as conn:
        conn.execute(
            _SWITCH,
            {
                "role": "authenticated" if claims else "anon",
                "claims": json.dumps(claims) if claims else "",
                "timeout": str(settings.statement_timeout_ms),
            },
        )
        yield conn
