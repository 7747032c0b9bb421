"""Test fixtures: one sandbox (dashboard database + eight upstream stand-ins, uniquely named on
the configured server) per test session, seeded with a small deterministic population, so
tests never touch a running demo. Tests connect as the product's real roles where privileges
matter: owners and superusers bypass row-level security."""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime

import psycopg2
import psycopg2.sql
import pytest
import redis as redis_lib

from och_dashboard import create_app, tokens
from och_dashboard.sandbox import Sandbox

# The instant the session's synthetic data is generated around.
SEED_NOW = datetime.now(UTC).replace(microsecond=0)
SEED_STUDENTS = 60


@pytest.fixture(scope="session")
def sandbox():
    Sandbox.reap_orphans()
    box = Sandbox.create()
    try:
        box.seed(SEED_STUDENTS, seed_value=7, now=SEED_NOW)
        box.upgrade()
        with contextlib.closing(box.connect()) as conn, conn.cursor() as cur:
            conn.autocommit = True
            cur.execute("set role dashboard_owner")
            cur.execute("select dashboard.load_staging(true)")
            cur.execute("select to_regproc('dashboard.refresh_all') is not null")
            if cur.fetchone()[0]:
                cur.execute("select dashboard.refresh_all()")
        yield box
    finally:
        box.destroy()


@pytest.fixture(scope="session")
def settings(sandbox):
    return sandbox.settings


def _autocommit(conn):
    conn.autocommit = True
    return conn


@pytest.fixture
def owner_conn(sandbox):
    """Autocommit connection acting as dashboard_owner (a NOLOGIN role: the administrator's
    session switches to it), so it owns every object and is subject to forced RLS."""
    with contextlib.closing(_autocommit(sandbox.connect())) as conn:
        with conn.cursor() as cur:
            cur.execute("set role dashboard_owner")
        yield conn


@pytest.fixture
def admin_conn(sandbox):
    """Autocommit connection as the administrator (superuser: bypasses RLS)."""
    with contextlib.closing(_autocommit(sandbox.connect())) as conn:
        yield conn


@pytest.fixture
def connect_as(sandbox):
    """connect_as(role) -> a new autocommit connection logged in as that role."""
    opened = []

    def connect(role: str, dbname: str | None = None):
        conn = _autocommit(sandbox.connect(user=role, dbname=dbname))
        opened.append(conn)
        return conn

    yield connect
    for conn in opened:
        conn.close()


@pytest.fixture
def upstream_conn(sandbox):
    """upstream_conn(service) -> an autocommit admin connection to that stand-in."""
    opened = []

    def connect(service: str):
        conn = _autocommit(psycopg2.connect(sandbox.settings.upstream_admin_dsn(service)))
        opened.append(conn)
        return conn

    yield connect
    for conn in opened:
        conn.close()


@pytest.fixture
def upstream_down(admin_conn):
    """upstream_down(service): a context manager pointing that upstream's foreign server at a
    closed port for the block, then back (postgres_fdw drops its cached connections to a server
    when the server is altered, so the next remote query of any backend fails)."""

    @contextlib.contextmanager
    def down(service: str):
        server = psycopg2.sql.Identifier(service)
        with admin_conn.cursor() as cur:
            cur.execute("select srvoptions from pg_foreign_server where srvname = %s", (service,))
            port = next(o.split("=", 1)[1] for o in cur.fetchone()[0] if o.startswith("port="))
            cur.execute(psycopg2.sql.SQL("alter server {} options (set port '1')").format(server))
        try:
            yield
        finally:
            with admin_conn.cursor() as cur:
                cur.execute(
                    psycopg2.sql.SQL("alter server {} options (set port %s)").format(server),
                    (port,),
                )

    return down


@pytest.fixture(scope="session")
def redis_client(settings):
    client = redis_lib.Redis.from_url(settings.redis_url)
    client.ping()
    yield client
    for key in client.scan_iter(f"*{settings.rq_queue_prefix}*"):
        client.delete(key)


@pytest.fixture
def students(admin_conn):
    """Student ids of the seeded population by upstream tier: {'free': [...], ...}."""
    with admin_conn.cursor() as cur:
        cur.execute(
            "select coalesce(s.tier, 'none'), array_agg(i.id::text order by i.email) "
            "from staging.identity_students i "
            "left join staging.subscriptions_subscriptions s on s.student_id = i.id "
            "group by 1"
        )
        return dict(cur.fetchall())


class Upstream:
    """Autocommit admin connections to the stand-ins, opened on first use."""

    def __init__(self, settings):
        self.settings = settings
        self.conns: dict[str, psycopg2.extensions.connection] = {}

    def conn(self, service: str):
        if service not in self.conns:
            conn = psycopg2.connect(self.settings.upstream_admin_dsn(service))
            conn.autocommit = True
            self.conns[service] = conn
        return self.conns[service]

    def insert(self, service: str, table: str, **cols) -> None:
        names = ", ".join(cols)
        marks = ", ".join(["%s"] * len(cols))
        with self.conn(service).cursor() as cur:
            cur.execute(f"insert into {table} ({names}) values ({marks})", list(cols.values()))

    def one(self, service: str, sql: str, params=()):
        with self.conn(service).cursor() as cur:
            cur.execute(sql, params)
            return cur.fetchone()

    def all(self, service: str, sql: str, params=()):
        with self.conn(service).cursor() as cur:
            cur.execute(sql, params)
            return cur.fetchall()

    def close(self):
        for conn in self.conns.values():
            conn.close()


@pytest.fixture(scope="module")
def up(sandbox):
    """Writes hand-made upstream rows (tests/test_sql_*.py): Upstream over the session's stand-ins."""
    upstream = Upstream(sandbox.settings)
    yield upstream
    upstream.close()


@pytest.fixture(scope="module")
def owner(sandbox):
    """A module-long autocommit connection acting as dashboard_owner, session TimeZone UTC
    (tests/test_sql_*.py build hand-made students through it)."""
    with contextlib.closing(sandbox.connect()) as conn:
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute("set role dashboard_owner")
            cur.execute("set timezone = 'UTC'")
        yield conn


@pytest.fixture(scope="module")
def app(settings):
    """The Flask app on the session sandbox (a module may override it, e.g. without rate limit)."""
    application = create_app(settings)
    application.config["TESTING"] = True
    yield application
    application.extensions["och_engine"].dispose()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def auth(settings):
    """auth(student, **claims) -> request headers with a freshly minted token for the student."""

    def headers(student: str, **claims) -> dict:
        return {"Authorization": f"Bearer {tokens.mint(settings, student, **claims)}"}

    return headers
