"""What the API reads, as the real roles: api.dashboard_prepared() and api.missions_prepared()
(the views with their plans kept for the session) return exactly the views' rows, for every
student in turn on one pooled connection, and nothing without a valid sub; dashboard.humanize
(now inlined into dashboard.quick_actions) says what it always said."""

from __future__ import annotations

import json

import psycopg2.extras
import pytest

WRAPPERS = {
    "api.dashboard_prepared()": "select * from api.dashboard",
    "api.missions_prepared()": "select * from api.missions order by mission_id",
}


class Session:
    """One authenticator connection used like the API's pool: one transaction per call."""

    def __init__(self, conn):
        self.conn = conn
        self.conn.autocommit = False

    def read(self, claims, *queries) -> list[list[dict]]:
        """Each query's rows, all in one transaction (one now()) as `authenticated`."""
        try:
            with self.conn.cursor(cursor_factory=psycopg2.extras.RealDictCursor) as cur:
                cur.execute("set local role authenticated")
                raw = claims if isinstance(claims, str) else json.dumps(claims)
                cur.execute("select set_config('request.jwt.claims', %s, true)", (raw,))
                results = []
                for query in queries:
                    cur.execute(query)
                    results.append([dict(r) for r in cur.fetchall()])
            return results
        finally:
            self.conn.rollback()


@pytest.fixture
def session(connect_as):
    return Session(connect_as("authenticator"))


@pytest.mark.parametrize("wrapper", list(WRAPPERS))
def test_the_wrappers_return_the_views_rows_for_every_student(session, students, wrapper):
    view = WRAPPERS[wrapper]
    wrapped = f"select * from {wrapper}" + (" order by mission_id" if "missions" in wrapper else "")
    every = [sid for tier in sorted(students) for sid in students[tier]]
    read = 0
    for _round in range(2):  # the plan kept from the first student serves every other
        for sid in every:
            direct, through = session.read({"sub": sid}, view, wrapped)
            assert through == direct, sid
            assert {r["user_id"] for r in through} <= {sid}
            read += bool(direct)
    assert read > 40


@pytest.mark.parametrize(
    "claims", [{}, {"sub": "not-a-uuid"}, {"sub": "00000000-0000-0000-0000-000000000000"}, ""]
)
def test_the_wrappers_are_empty_without_a_known_sub(session, students, claims):
    # a student's read first, so a plan is cached on the connection
    session.read({"sub": students["professional7"][0]}, *(f"select * from {w}" for w in WRAPPERS))
    for wrapper in WRAPPERS:
        assert session.read(claims, f"select count(*) as n from {wrapper}") == [[{"n": 0}]]


# dashboard.humanize's body before it was written to be inlined (psycopg2 placeholders: %% is %)
HUMANIZE_BEFORE = """
select case when secs >= 86400 then floor(secs / 86400) || 'd ' || floor(secs %% 86400 / 3600) || 'h'
            when secs >= 3600 then floor(secs / 3600) || 'h ' || floor(secs %% 3600 / 60) || 'm'
            else greatest(floor(secs / 60), 0) || 'm' end
  from (select extract(epoch from {interval})::numeric as secs) s
"""


@pytest.mark.parametrize(
    ("interval", "expected"),
    [
        ("0", "0m"),
        ("59 seconds", "0m"),
        ("61 seconds", "1m"),
        ("59 minutes 59 seconds", "59m"),
        ("1 hour", "1h 0m"),
        ("5 hours 10 minutes 30.5 seconds", "5h 10m"),
        ("23 hours 59 minutes", "23h 59m"),
        ("24 hours", "1d 0h"),
        ("2 days 5 hours 59 minutes", "2d 5h"),
        ("1 month 3 days", "33d 0h"),
        ("-5 minutes", "0m"),
        ("-3 days", "0m"),
    ],
)
def test_humanize_says_what_it_always_said(owner, interval, expected):
    with owner.cursor() as cur:
        cur.execute("select dashboard.humanize(%s::interval)", (interval,))
        got = cur.fetchone()[0]
        cur.execute(HUMANIZE_BEFORE.format(interval="%(i)s::interval"), {"i": interval})
        assert (got, cur.fetchone()[0]) == (expected, expected)


def test_humanize_agrees_with_its_former_formula_everywhere(owner):
    with owner.cursor() as cur:
        cur.execute(
            "select count(*) from ("
            "  select make_interval(secs => s * 7.3) i from generate_series(-2000, %(n)s) s"
            ") x where dashboard.humanize(i) is distinct from ("
            + HUMANIZE_BEFORE.format(interval="x.i").strip()
            + ")",
            {"n": 60_000},
        )
        assert cur.fetchone()[0] == 0


def test_humanize_is_inlined_into_its_callers(owner):
    """A SQL function that is not inlined is planned again in every query calling it: 0.1 ms of
    each dashboard read. Inlined, its body replaces the call in the plan."""
    with owner.cursor() as cur:
        cur.execute(
            "explain (verbose, costs off) select dashboard.humanize(now() - %s::timestamptz)",
            ("2026-01-01",),
        )
        plan = "\n".join(r[0] for r in cur.fetchall())
    assert "humanize" not in plan and "EXTRACT(epoch" in plan, plan
