"""dashboard.habit_streak (sql/functions/streaks.sql) and habitStreak (clients/web/streak.js)
give the same streak for the same history.

The web client shows streaks optimistically, so a disagreement is a visible bug: a streak that
jumps when the server's refresh lands. Hypothesis generates histories around the hard cases
(duplicate logs whose logged_at tie while written with different offsets, future dates, DST
and date-line zones, instants next to local midnight) and one persistent node process answers
for the JS side. The hand-written cases pin the rules themselves, so that both sides cannot
drift together, and local dates are also checked against Python's zoneinfo.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import psycopg2.errors
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

STREAK_JS = Path(__file__).parents[1] / "clients" / "web" / "streak.js"

# Reads one JSON case per line, answers one JSON line: the module is imported once, so each
# example costs a pipe round trip rather than a node start (~40 ms).
_NODE_RUNNER = """
import { createInterface } from 'node:readline';
import { pathToFileURL } from 'node:url';

const { habitStreak, localDate } = await import(pathToFileURL(process.argv[1]).href);
for await (const line of createInterface({ input: process.stdin, crlfDelay: Infinity })) {
  let reply;
  try {
    const c = JSON.parse(line);
    reply = {
      streak: habitStreak(c.logs, c.frequency, c.timezone, c.at),
      local_date: localDate(c.at, c.timezone),
    };
  } catch (error) {
    reply = { error: String(error?.stack ?? error) };
  }
  process.stdout.write(JSON.stringify(reply) + '\\n');
}
"""

_SQL = """
select s.current_streak, s.longest_streak, s.at_risk,
       dashboard.local_date(%(at)s::timestamptz, %(timezone)s)::text
from dashboard.habit_streak(%(logs)s::jsonb, %(frequency)s, %(timezone)s, %(at)s::timestamptz)
  as s
"""

Streak = tuple[int, int, bool]  # current_streak, longest_streak, at_risk


class NodeStreaks:
    """A node child answering habitStreak/localDate calls over stdin/stdout JSON lines."""

    def __init__(self, node: str, stderr) -> None:
        self._stderr = stderr
        self._proc = subprocess.Popen(
            [node, "--input-type=module", "-e", _NODE_RUNNER, str(STREAK_JS)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            text=True,
            encoding="utf-8",
        )

    def __call__(
        self, logs: list | None, frequency: str, tz: str | None, at: str
    ) -> tuple[Streak, str]:
        case = {"logs": logs, "frequency": frequency, "timezone": tz, "at": at}
        assert self._proc.stdin is not None and self._proc.stdout is not None
        self._proc.stdin.write(json.dumps(case) + "\n")
        self._proc.stdin.flush()
        line = self._proc.stdout.readline()
        if not line:
            self._stderr.seek(0)
            raise RuntimeError(f"node exited: {self._stderr.read()}")
        reply = json.loads(line)
        if "error" in reply:
            raise AssertionError(f"streak.js raised on {case}:\n{reply['error']}")
        streak = reply["streak"]
        result = (streak["current_streak"], streak["longest_streak"], streak["at_risk"])
        return result, reply["local_date"]

    def close(self) -> None:
        assert self._proc.stdin is not None
        self._proc.stdin.close()
        try:
            self._proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()


@pytest.fixture(scope="module")
def streak_js():
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not on PATH: cannot run clients/web/streak.js against the SQL")
    # stderr goes to a file: a pipe nobody reads could fill up and hang node
    with tempfile.TemporaryFile(mode="w+") as stderr:
        runner = NodeStreaks(node, stderr)
        yield runner
        runner.close()


def sql_streak(conn, logs: list | None, frequency: str, tz: str | None, at: str):
    params = {
        "logs": None if logs is None else json.dumps(logs),
        "frequency": frequency,
        "timezone": tz,
        "at": at,
    }
    with conn.cursor() as cur:
        cur.execute(_SQL, params)
        current, longest, at_risk, local = cur.fetchone()
    return (current, longest, at_risk), local


@pytest.fixture(params=["sql", "js"])
def streak(request):
    """habit_streak of one implementation, as (current_streak, longest_streak, at_risk)."""
    if request.param == "sql":
        conn = request.getfixturevalue("owner_conn")
        return lambda *args: sql_streak(conn, *args)[0]
    runner = request.getfixturevalue("streak_js")
    return lambda *args: runner(*args)[0]


# --- known answers ---------------------------------------------------------------------------

AT = "2026-06-10T12:00:00Z"  # a Wednesday; its ISO week starts on 2026-06-08


def log(day: str, status: str, logged_at: str | None = None) -> dict:
    return {"log_date": day, "status": status, "logged_at": logged_at or f"{day}T20:00:00Z"}


def days(first: str, last: str, status: str = "completed") -> list[dict]:
    start, end = date.fromisoformat(first), date.fromisoformat(last)
    return [log((start + timedelta(n)).isoformat(), status) for n in range((end - start).days + 1)]


KNOWN = [
    # (id, logs, frequency, timezone, at, (current, longest, at_risk))
    ("today-open-at-risk", days("2026-06-07", "2026-06-09"), "daily", "UTC", AT, (3, 3, True)),
    (
        "today-missed",
        [*days("2026-06-07", "2026-06-09"), log("2026-06-10", "missed")],
        "daily",
        "UTC",
        AT,
        (0, 3, False),
    ),
    ("today-completed", days("2026-06-08", "2026-06-10"), "daily", "UTC", AT, (3, 3, False)),
    (
        "skipped-bridges",
        [
            *days("2026-06-06", "2026-06-07"),
            log("2026-06-08", "skipped"),
            *days("2026-06-09", "2026-06-10"),
        ],
        "daily",
        "UTC",
        AT,
        (4, 4, False),
    ),
    (
        "today-skipped-bridges-not-at-risk",
        [*days("2026-06-08", "2026-06-09"), log("2026-06-10", "skipped")],
        "daily",
        "UTC",
        AT,
        (2, 2, False),
    ),
    (
        "yesterday-skipped-still-at-risk",
        [log("2026-06-08", "completed"), log("2026-06-09", "skipped")],
        "daily",
        "UTC",
        AT,
        (1, 1, True),
    ),
    (
        "only-skips-count-nothing",
        days("2026-06-05", "2026-06-09", "skipped"),
        "daily",
        "UTC",
        AT,
        (0, 0, False),
    ),
    (
        "gap-breaks",
        [*days("2026-06-01", "2026-06-05"), *days("2026-06-07", "2026-06-09")],
        "daily",
        "UTC",
        AT,
        (3, 5, True),
    ),
    (
        "missed-breaks",
        [
            *days("2026-05-30", "2026-06-04"),
            log("2026-06-05", "missed"),
            *days("2026-06-06", "2026-06-09"),
        ],
        "daily",
        "UTC",
        AT,
        (4, 6, True),
    ),
    (
        "duplicate-later-missed-wins",
        [
            log("2026-06-08", "completed"),
            log("2026-06-09", "completed", "2026-06-09T20:00:00Z"),
            log("2026-06-09", "missed", "2026-06-10T08:00:00Z"),
        ],
        "daily",
        "UTC",
        AT,
        (0, 1, False),
    ),
    (
        "duplicate-later-completed-wins",
        [
            log("2026-06-08", "completed"),
            log("2026-06-09", "completed", "2026-06-10T08:00:00Z"),
            log("2026-06-09", "missed", "2026-06-09T20:00:00Z"),
        ],
        "daily",
        "UTC",
        AT,
        (2, 2, True),
    ),
    (
        "tie-goes-to-best-status",
        [
            log("2026-06-09", "missed", "2026-06-09T20:00:00Z"),
            # the same instant written with another offset
            log("2026-06-09", "completed", "2026-06-10T01:30:00+05:30"),
            log("2026-06-09", "skipped", "2026-06-09T20:00:00Z"),
        ],
        "daily",
        "UTC",
        AT,
        (1, 1, True),
    ),
    (
        "one-microsecond-later-wins",
        [
            log("2026-06-09", "completed", "2026-06-09T20:00:00.000001Z"),
            log("2026-06-09", "missed", "2026-06-09T20:00:00.000002Z"),
        ],
        "daily",
        "UTC",
        AT,
        (0, 0, False),
    ),
    (
        "null-logged-at-loses",
        [
            {"log_date": "2026-06-09", "status": "completed", "logged_at": None},
            log("2026-06-09", "missed", "2000-01-01T00:00:00Z"),
        ],
        "daily",
        "UTC",
        AT,
        (0, 0, False),
    ),
    (
        "future-logs-ignored",
        [
            log("2026-06-09", "completed"),
            log("2026-06-11", "completed"),
            log("2026-06-12", "missed"),
        ],
        "daily",
        "UTC",
        AT,
        (1, 1, True),
    ),
    (
        "unknown-status-ignored",
        [log("2026-06-09", "completed"), log("2026-06-10", "done")],
        "daily",
        "UTC",
        AT,
        (1, 1, True),
    ),
    ("no-logs", [], "daily", "UTC", AT, (0, 0, False)),
    ("null-logs", None, "weekly", "UTC", AT, (0, 0, False)),
    (
        "weekly-current-week-open-at-risk",
        [
            log("2026-05-27", "completed"),
            log("2026-06-01", "missed"),
            log("2026-06-04", "completed"),
        ],
        "weekly",
        "UTC",
        AT,
        (2, 2, True),
    ),
    (
        "weekly-current-week-missed",
        [
            log("2026-05-27", "completed"),
            log("2026-06-04", "completed"),
            log("2026-06-08", "missed"),
        ],
        "weekly",
        "UTC",
        AT,
        (0, 2, False),
    ),
    (
        "weekly-current-week-completed",
        [
            log("2026-05-27", "completed"),
            log("2026-06-04", "completed"),
            log("2026-06-08", "missed"),
            log("2026-06-09", "completed"),
        ],
        "weekly",
        "UTC",
        AT,
        (3, 3, False),
    ),
    (
        "weekly-skipped-week-bridges",
        [
            log("2026-05-19", "completed"),
            log("2026-05-26", "skipped"),
            log("2026-06-02", "completed"),
            log("2026-06-08", "completed"),
        ],
        "weekly",
        "UTC",
        AT,
        (3, 3, False),
    ),
    (
        "weekly-empty-week-breaks",
        [
            log("2026-05-12", "completed"),
            log("2026-05-26", "completed"),
            log("2026-06-02", "completed"),
        ],
        "weekly",
        "UTC",
        AT,
        (2, 2, True),
    ),
    (
        "weekly-future-day-of-this-week-ignored",
        [log("2026-06-02", "completed"), log("2026-06-12", "completed")],
        "weekly",
        "UTC",
        AT,
        (1, 1, True),
    ),
    (
        "daily-logs-on-mondays-are-not-weeks",
        [
            log("2026-05-25", "completed"),
            log("2026-06-01", "completed"),
            log("2026-06-08", "completed"),
        ],
        "daily",
        "UTC",
        "2026-06-08T12:00:00Z",
        (1, 1, False),
    ),
    # 23:30 UTC is already tomorrow in Kolkata, so the same history is open there
    (
        "utc",
        [log("2026-06-10", "completed")],
        "daily",
        "UTC",
        "2026-06-10T23:30:00Z",
        (1, 1, False),
    ),
    (
        "kolkata",
        [log("2026-06-10", "completed")],
        "daily",
        "Asia/Kolkata",
        "2026-06-10T23:30:00Z",
        (1, 1, True),
    ),
    (
        "invalid-tz-is-utc",
        [log("2026-06-10", "completed")],
        "daily",
        "Not/AZone",
        "2026-06-10T23:30:00Z",
        (1, 1, False),
    ),
    (
        "null-tz-is-utc",
        [log("2026-06-10", "completed")],
        "daily",
        None,
        "2026-06-10T23:30:00Z",
        (1, 1, False),
    ),
    (
        "empty-tz-is-utc",
        [log("2026-06-10", "completed")],
        "daily",
        "",
        "2026-06-10T23:30:00Z",
        (1, 1, False),
    ),
    # Intl would read CET as Europe/Brussels, PostgreSQL as a fixed +01: both use UTC instead
    (
        "single-word-tz-is-utc",
        [log("2026-06-10", "completed")],
        "daily",
        "CET",
        "2026-06-10T23:30:00Z",
        (1, 1, False),
    ),
    (
        "zone-names-ignore-case",
        [log("2026-06-10", "completed")],
        "daily",
        "asia/kolkata",
        "2026-06-10T23:30:00Z",
        (1, 1, True),
    ),
    (
        "kiritimati-is-already-tomorrow",
        days("2026-06-10", "2026-06-11"),
        "daily",
        "Pacific/Kiritimati",
        "2026-06-10T10:30:00Z",
        (2, 2, False),
    ),
    (
        "pago-pago-is-still-yesterday",
        days("2026-06-08", "2026-06-10"),
        "daily",
        "Pacific/Pago_Pago",
        "2026-06-10T10:30:00Z",
        (2, 2, False),
    ),
    # 04:30Z on 2026-03-09 is 00:30 EDT, not 23:30 EST: the day after the spring change
    (
        "new-york-after-spring-forward",
        days("2026-03-07", "2026-03-08"),
        "daily",
        "America/New_York",
        "2026-03-09T04:30:00Z",
        (2, 2, True),
    ),
    (
        "london-last-bst-night",
        [log("2026-10-24", "completed")],
        "daily",
        "Europe/London",
        "2026-10-24T23:30:00Z",
        (1, 1, True),
    ),
    (
        "london-first-gmt-night",
        days("2026-10-24", "2026-10-25"),
        "daily",
        "Europe/London",
        "2026-10-25T23:30:00Z",
        (2, 2, False),
    ),
    # 04:30Z on 2026-11-02 is still Sunday 23:30 EST, so the week of 10-26 is current
    (
        "new-york-fall-back-sunday-week",
        [log("2026-10-20", "completed"), log("2026-10-27", "completed")],
        "weekly",
        "America/New_York",
        "2026-11-02T04:30:00Z",
        (2, 2, False),
    ),
]


@pytest.mark.parametrize(
    ("logs", "frequency", "tz", "at", "expected"),
    [pytest.param(*case[1:], id=case[0]) for case in KNOWN],
)
def test_known_streaks(streak, logs, frequency, tz, at, expected):
    assert streak(logs, frequency, tz, at) == expected


def test_streak_walk_takes_the_unit_length(owner_conn):
    weeks = ["2026-05-25", "2026-06-01", "2026-06-08"]
    done = ["completed"] * 3
    with owner_conn.cursor() as cur:
        cur.execute(
            "select * from dashboard.streak_walk(%s::date[], %s, %s, 7)",
            (weeks, done, "2026-06-08"),
        )
        assert cur.fetchone() == (3, 3, False)
        # the same Mondays as days are three separate one-day runs
        cur.execute(
            "select * from dashboard.streak_walk(%s::date[], %s, %s)", (weeks, done, "2026-06-08")
        )
        assert cur.fetchone() == (1, 1, False)
        # units after today do not count
        cur.execute(
            "select * from dashboard.streak_walk(%s::date[], %s, %s, 7)",
            (weeks, done, "2026-06-01"),
        )
        assert cur.fetchone() == (2, 2, False)


@pytest.mark.parametrize(
    ("units", "statuses"),
    [
        pytest.param(["2026-06-02", "2026-06-01"], ["completed", "completed"], id="descending"),
        pytest.param(["2026-06-01", "2026-06-01"], ["completed", "missed"], id="duplicate"),
        pytest.param(["2026-06-01"], ["completed", "missed"], id="length-mismatch"),
    ],
)
def test_streak_walk_rejects_unresolved_input(owner_conn, units, statuses):
    with owner_conn.cursor() as cur, pytest.raises(psycopg2.errors.InvalidParameterValue):
        cur.execute(
            "select * from dashboard.streak_walk(%s::date[], %s, %s)",
            (units, statuses, "2026-06-10"),
        )


# --- generated histories ---------------------------------------------------------------------

# zone as stored -> the IANA zone it must mean (None: the UTC fallback)
ZONES: dict[str | None, str | None] = {
    "UTC": None,
    "America/New_York": "America/New_York",
    "Europe/London": "Europe/London",
    "Pacific/Kiritimati": "Pacific/Kiritimati",
    "Pacific/Pago_Pago": "Pacific/Pago_Pago",
    "Asia/Kolkata": "Asia/Kolkata",
    "Asia/Kathmandu": "Asia/Kathmandu",
    "Australia/Lord_Howe": "Australia/Lord_Howe",
    "america/new_york": "America/New_York",
    "Etc/GMT+12": "Etc/GMT+12",
    "Etc/GMT-14": "Etc/GMT-14",
    None: None,
    "": None,
    "Not/AZone": None,
    "CET": None,
    "PST": None,
    "UTC+3": None,
    "Etc/GMT+13": None,
    "Abc/B+1": None,
    "posix/Europe/London": None,
    "right/America/New_York": None,
}

# 2026 clock changes: US spring/fall, EU spring/fall, Lord Howe (half an hour) fall/spring
TRANSITIONS = [
    datetime(2026, 3, 8, 7, tzinfo=UTC),
    datetime(2026, 11, 1, 6, tzinfo=UTC),
    datetime(2026, 3, 29, 1, tzinfo=UTC),
    datetime(2026, 10, 25, 1, tzinfo=UTC),
    datetime(2026, 4, 4, 15, tzinfo=UTC),
    datetime(2026, 10, 3, 15, 30, tzinfo=UTC),
]
TRANSITION_DAYS = sorted(
    {d + timedelta(days=k) for d in (t.date() for t in TRANSITIONS) for k in (-1, 0, 1, 2)}
)
YEAR_START = datetime(2026, 1, 1, tzinfo=UTC)
OFFSETS = [0, 0, 330, -240, 840, -660, 60, 345]  # minutes, for writing instants
STATUSES = st.sampled_from(["completed", "completed", "skipped", "missed"])


def local_midnight(day: date, zone: str | None) -> datetime:
    tzinfo = ZoneInfo(zone) if zone else UTC
    return datetime.combine(day, time(0), tzinfo=tzinfo).astimezone(UTC)


def expected_local_date(at: datetime, zone: str | None) -> str:
    return at.astimezone(ZoneInfo(zone) if zone else UTC).date().isoformat()


def write_instant(at: datetime, offset_minutes: int, zulu: bool, extra_digits: str) -> str:
    """ISO 8601 text for `at` with the given offset; extra_digits go past the microseconds."""
    local = at.astimezone(timezone(timedelta(minutes=offset_minutes)))
    text = local.strftime("%Y-%m-%dT%H:%M:%S")
    if local.microsecond or extra_digits:
        text += f".{local.microsecond:06d}{extra_digits}"
    if zulu and offset_minutes == 0:
        return text + "Z"
    return text + local.isoformat()[-6:]  # +HH:MM


@dataclass
class Case:
    logs: list[dict]
    frequency: str
    timezone: str | None
    at: datetime
    at_text: str


# Built once: constructing strategies inside the draw loop was half of the generation time.
ZONE_NAMES = st.sampled_from(list(ZONES))
AT_KINDS = st.sampled_from(["transition", "midnight", "anywhere"])
MIDNIGHT_DAYS = st.sampled_from(TRANSITION_DAYS) | st.dates(date(2025, 12, 25), date(2027, 1, 5))
YEAR_SECONDS = st.integers(0, 366 * 86400)
JITTER_SECONDS = st.integers(-120, 120) | st.integers(-26 * 3600, 26 * 3600)
MICROS = st.sampled_from([0, 0, 1, 2, 999_999]) | st.integers(0, 999_999)
POOL = st.lists(st.integers(-3 * 86400, 86400), min_size=1, max_size=3)
SOURCES = st.sampled_from(["own"] * 6 + ["shared"] * 3 + ["null"])
# equal instants, or a few microseconds apart: inside one millisecond, where a Date-based
# comparison would see a tie that PostgreSQL does not
NUDGES = st.sampled_from([0, 0, 0, 1, -1, 2, 500])
OWN_SECONDS = st.integers(-12 * 3600, 72 * 3600)
WRITTEN_OFFSETS = st.sampled_from(OFFSETS)
# digits past the microsecond make both sides round the same double (rint, half to even)
EXTRA_DIGITS = st.sampled_from(["", "", "", "", "5", "49", "500"])
RUN_END = st.integers(-10, 3)
RUN = st.lists(STATUSES, max_size=35)
SCATTERED = st.lists(st.tuples(st.integers(-3, 2) | st.integers(-60, 6), STATUSES), max_size=15)
REWRITES = st.lists(st.tuples(st.integers(0, 59), STATUSES), max_size=10)
FREQUENCIES = st.sampled_from(["daily", "weekly"])


@st.composite
def cases(draw) -> Case:
    tz = draw(ZONE_NAMES)
    kind = draw(AT_KINDS)
    if kind == "transition":
        anchor = draw(st.sampled_from(TRANSITIONS))
    elif kind == "midnight":
        anchor = local_midnight(draw(MIDNIGHT_DAYS), ZONES[tz])
    else:
        anchor = YEAR_START + timedelta(seconds=draw(YEAR_SECONDS))
    at = anchor + timedelta(seconds=draw(JITTER_SECONDS), microseconds=draw(MICROS))
    today_guess = at.date()  # the UTC date; the local one is within a day of it
    noon = datetime.combine(today_guess, time(12), tzinfo=UTC)
    # a few shared instants make equal logged_at (ties) common
    pool = [noon + timedelta(seconds=s) for s in draw(POOL)]

    def logged_at(day: date) -> str | None:
        source = draw(SOURCES)
        if source == "null":
            return None
        if source == "shared":
            instant = pool[draw(st.integers(0, len(pool) - 1))]
            instant += timedelta(microseconds=draw(NUDGES))
        else:
            instant = datetime.combine(day, time(0), tzinfo=UTC) + timedelta(
                seconds=draw(OWN_SECONDS), microseconds=draw(MICROS)
            )
        offset = draw(WRITTEN_OFFSETS)
        return write_instant(instant, offset, draw(st.booleans()), draw(EXTRA_DIGITS))

    # a dense run of consecutive days makes long streaks; scattered logs add gaps, future
    # dates and duplicates; rewrites add a second log to a day that already has one, so
    # "last logged wins" and the tie rule decide
    run_end = today_guess + timedelta(days=draw(RUN_END))
    days_and_statuses = [(run_end - timedelta(days=n), s) for n, s in enumerate(draw(RUN))]
    days_and_statuses += [(today_guess + timedelta(days=k), s) for k, s in draw(SCATTERED)]
    if days_and_statuses:
        days_and_statuses += [
            (days_and_statuses[i % len(days_and_statuses)][0], s) for i, s in draw(REWRITES)
        ]
    logs = [
        {"log_date": day.isoformat(), "status": status, "logged_at": logged_at(day)}
        for day, status in days_and_statuses
    ]

    return Case(
        logs=draw(st.permutations(logs)),
        frequency=draw(FREQUENCIES),
        timezone=tz,
        at=at,
        # exact, so that the zoneinfo check sees the same instant
        at_text=write_instant(at, draw(WRITTEN_OFFSETS), draw(st.booleans()), ""),
    )


@settings(
    max_examples=3000,
    deadline=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)
@given(case=cases())
def test_sql_and_js_agree(owner_conn, streak_js, case):
    args = (case.logs, case.frequency, case.timezone, case.at_text)
    sql_result, sql_day = sql_streak(owner_conn, *args)
    js_result, js_day = streak_js(*args)

    assert sql_day == expected_local_date(case.at, ZONES[case.timezone])
    assert js_day == sql_day
    assert js_result == sql_result
    current, longest, at_risk = sql_result
    assert 0 <= current <= longest
    assert current > 0 or not at_risk
