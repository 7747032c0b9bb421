"""Background work runs below the API's CPU priority: the refresh jobs lower their own
backend's nice value (dashboard.lower_priority, over the prioritize extension); nobody can
renice another role's backend or raise a priority back."""

from __future__ import annotations

from pathlib import Path

import psycopg2
import pytest

from jobs import refresh


def nice_of(pid: int) -> int:
    """The OS's view of a process's nice value (field 19 of /proc/<pid>/stat)."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    return int(stat.rsplit(")", 1)[1].split()[16])


def backend_pid(conn) -> int:
    with conn.cursor() as cur:
        cur.execute("select pg_backend_pid()")
        return cur.fetchone()[0]


def scalar(conn, sql, params=()):
    with conn.cursor() as cur:
        cur.execute(sql, params)
        return cur.fetchone()[0]


@pytest.fixture
def job_env(monkeypatch, settings):
    """The environment a worker process has (the jobs read their settings from it)."""
    monkeypatch.setenv("DATABASE_URL", settings.database_url)
    monkeypatch.setenv("UPSTREAM_DB_PREFIX", settings.upstream_db_prefix)
    monkeypatch.setenv("REDIS_URL", settings.redis_url)


def test_the_worker_lowers_its_own_backend_to_the_configured_nice_value(connect_as):
    worker = connect_as("dashboard_worker")
    pid = backend_pid(worker)
    assert nice_of(pid) == 0
    assert scalar(worker, "select dashboard.lower_priority()") == 10
    assert nice_of(pid) == 10
    # a role setting changes the default; asking again never raises the priority back
    with worker.cursor() as cur:
        cur.execute("set dashboard.background_nice = 15")
    assert scalar(worker, "select dashboard.lower_priority()") == 15
    assert scalar(worker, "select dashboard.lower_priority(5)") == 15
    assert nice_of(pid) == 15


def test_the_cycle_job_runs_niced_and_a_students_own_refresh_does_not(job_env):
    nice_sql = "select to_jsonb(extensions.get_backend_priority(pg_backend_pid()))"
    assert refresh._call(nice_sql) == 10
    assert refresh._call(nice_sql, background=False) == 0


def test_bad_nice_values_are_refused_and_change_nothing(connect_as):
    worker = connect_as("dashboard_worker")
    pid = backend_pid(worker)
    for bad in (-5, 20):
        with pytest.raises(psycopg2.Error) as err:
            scalar(worker, "select dashboard.lower_priority(%s)", (bad,))
        assert err.value.pgcode == "22023"
    assert nice_of(pid) == 0


def test_a_worker_cannot_renice_another_roles_backend(connect_as):
    api = connect_as("authenticator")
    worker = connect_as("dashboard_worker")
    api_pid = backend_pid(api)
    with pytest.raises(psycopg2.Error) as err:
        scalar(worker, "select extensions.set_backend_priority(%s, 19)", (api_pid,))
    assert err.value.pgcode == "42501"
    assert nice_of(api_pid) == 0


def test_nobody_can_raise_a_priority_back(connect_as):
    worker = connect_as("dashboard_worker")
    pid = backend_pid(worker)
    scalar(worker, "select dashboard.lower_priority(12)")
    assert scalar(worker, "select extensions.set_backend_priority(pg_backend_pid(), 0)") is False
    assert nice_of(pid) == 12


@pytest.mark.parametrize("role", ["authenticator", "dashboard_analyst"])
def test_api_and_analyst_roles_cannot_touch_priorities(connect_as, role):
    conn = connect_as(role)
    for sql in (
        "select dashboard.lower_priority()",
        "select extensions.set_backend_priority(pg_backend_pid(), 19)",
    ):
        with pytest.raises(psycopg2.Error) as err:
            scalar(conn, sql)
        assert err.value.pgcode == "42501"
    assert nice_of(backend_pid(conn)) == 0


def test_an_authenticated_request_cannot_touch_priorities(connect_as):
    conn = connect_as("authenticator")
    conn.autocommit = False
    with conn.cursor() as cur:
        cur.execute("select set_config('role', 'authenticated', true)")
        with pytest.raises(psycopg2.Error) as err:
            cur.execute("select extensions.set_backend_priority(pg_backend_pid(), 19)")
        assert err.value.pgcode == "42501"
    conn.rollback()


def test_without_the_extension_nothing_changes(admin_conn):
    admin_conn.autocommit = False
    try:
        with admin_conn.cursor() as cur:
            cur.execute("drop extension prioritize")
            cur.execute("select dashboard.lower_priority()")
            assert cur.fetchone()[0] is None
        assert nice_of(backend_pid(admin_conn)) == 0
    finally:
        admin_conn.rollback()
