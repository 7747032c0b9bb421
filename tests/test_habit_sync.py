"""POST /api/v1/student/habits/logs:sync against the real stack: Flask -> PostgreSQL -> the
coaching stand-in's habit_logs through postgres_fdw.

Every test makes its own students upstream (identity + coaching), with the timezone it needs,
so nothing here depends on, or disturbs, the seeded population.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import psycopg2.errors
import pytest

SYNC = "/api/v1/student/habits/logs:sync"
STREAK_JS = Path(__file__).parents[1] / "clients" / "web" / "streak.js"


# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------


@pytest.fixture
def coaching(upstream_conn):
    return upstream_conn("coaching")


@pytest.fixture
def make_student(upstream_conn, coaching):
    """make_student(tz, habits=("daily",)) -> (student id, [habit ids]): a new student upstream
    (not yet staged: the sync must find their timezone itself) with active habits."""
    identity = upstream_conn("identity")

    def make(tz: str, habits=("daily",)):
        sid = str(uuid.uuid4())
        with identity.cursor() as cur:
            cur.execute(
                "insert into students (id, name, email, timezone, last_login_at) "
                "values (%s, %s, %s, %s, now())",
                (sid, f"Sync {sid[:8]}", f"zz-sync-{sid}@example.test", tz),
            )
        habit_ids = []
        with coaching.cursor() as cur:
            for n, frequency in enumerate(habits):
                hid = str(uuid.uuid4())
                cur.execute(
                    "insert into habits (id, student_id, name, frequency) values (%s, %s, %s, %s)",
                    (hid, sid, f"habit {n}", frequency),
                )
                habit_ids.append(hid)
        return sid, habit_ids

    return make


def local_today(tz: str) -> date:
    return datetime.now(ZoneInfo(tz)).date()


def entry(habit: str, day: date, status: str = "completed", logged_at: str | None = None) -> dict:
    return {
        "id": str(uuid.uuid4()),
        "habit_id": habit,
        "log_date": day.isoformat(),
        "status": status,
        "logged_at": logged_at or datetime.now(UTC).isoformat().replace("+00:00", "Z"),
    }


def at_local(day: date, hour: int, tz: str) -> str:
    """An instant `hour`:00 on `day` in zone tz, as ISO 8601 with its offset."""
    return datetime(day.year, day.month, day.day, hour, tzinfo=ZoneInfo(tz)).isoformat()


def sync(client, headers, logs):
    response = client.post(SYNC, json={"logs": logs}, headers=headers)
    return response.status_code, response.get_json()


def upstream_logs(coaching, ids) -> dict:
    """{id: (student_id, habit_id, log_date, status, logged_at, updated_at)} of these ids."""
    with coaching.cursor() as cur:
        cur.execute(
            "select id::text, student_id::text, habit_id::text, log_date, status, logged_at, "
            "updated_at from habit_logs where id = any(%s::uuid[])",
            (list(ids),),
        )
        return {row[0]: row[1:] for row in cur.fetchall()}


def student_log_count(coaching, sid) -> int:
    with coaching.cursor() as cur:
        cur.execute("select count(*) from habit_logs where student_id = %s", (sid,))
        return cur.fetchone()[0]


def outcomes(body) -> list[tuple[str, str | None]]:
    return [(r["outcome"], r["reason"]) for r in body["results"]]


def cache_row(admin_conn, sid):
    with admin_conn.cursor() as cur:
        cur.execute(
            "select current_streak, longest_streak, streak_at_risk from "
            "serving.student_dashboard_cache where user_id = %s",
            (sid,),
        )
        return cur.fetchone()


# --------------------------------------------------------------------------------------------
# writes, idempotency
# --------------------------------------------------------------------------------------------


def test_accepted_logs_land_upstream_and_the_same_batch_again_changes_nothing(
    client, auth, make_student, coaching, admin_conn
):
    tz = "Europe/Berlin"
    sid, (habit,) = make_student(tz)
    today = local_today(tz)
    logs = [entry(habit, today - timedelta(days=d)) for d in (2, 1, 0)]
    logs[0]["logged_at"] = "2026-01-02T03:04:05.123456+05:30"  # any offset is kept exactly

    status, body = sync(client, auth(sid), logs)
    assert status == 200, body
    assert [r["id"] for r in body["results"]] == [log["id"] for log in logs]
    assert outcomes(body) == [("accepted", None)] * 3
    rows = upstream_logs(coaching, [log["id"] for log in logs])
    assert len(rows) == 3
    for log in logs:
        student, habit_id, log_date, status_, logged_at, _ = rows[log["id"]]
        assert (student, habit_id, log_date.isoformat(), status_) == (
            sid,
            habit,
            log["log_date"],
            log["status"],
        )
        assert logged_at == datetime.fromisoformat(log["logged_at"])
    assert body["timezone"] == tz
    assert body["as_of"].endswith("Z") and body["dashboard"]["refreshed_at"].endswith("Z")
    assert body["streaks"] == [
        {
            "habit_id": habit,
            "frequency": "daily",
            "current_streak": 3,
            "longest_streak": 3,
            "at_risk": False,
        }
    ]
    assert body["dashboard"]["current_streak"] == 3

    count = student_log_count(coaching, sid)
    status, again = sync(client, auth(sid), logs)
    assert status == 200, again
    assert outcomes(again) == [("duplicate", None)] * 3
    assert student_log_count(coaching, sid) == count
    assert upstream_logs(coaching, [log["id"] for log in logs]) == rows  # updated_at too
    assert again["streaks"] == body["streaks"]


def test_a_full_batch_of_100_is_accepted_and_101_is_refused_with_nothing_written(
    client, auth, make_student, coaching
):
    tz = "UTC"
    sid, (habit,) = make_student(tz)
    today = local_today(tz)
    # several logs per day are history, not an error: 100 logs over the last 25 days
    logs = [
        entry(
            habit, today - timedelta(days=1 + n % 25), logged_at=f"2026-01-01T00:00:{n % 60:02d}Z"
        )
        for n in range(101)
    ]
    status, body = sync(client, auth(sid), logs)
    assert status == 400, body
    assert student_log_count(coaching, sid) == 0

    # more than the app-wide 16 KiB body limit: this endpoint allows a full batch
    assert len(json.dumps({"logs": logs[:100]})) > 16 * 1024
    status, body = sync(client, auth(sid), logs[:100])
    assert status == 200, body
    assert {r["outcome"] for r in body["results"]} == {"accepted"}
    assert student_log_count(coaching, sid) == 100


def test_the_sql_function_refuses_oversized_batches_too(owner_conn, make_student, coaching):
    sid, (habit,) = make_student("UTC")
    logs = [entry(habit, local_today("UTC")) for _ in range(101)]
    with owner_conn.cursor() as cur, pytest.raises(psycopg2.errors.InvalidParameterValue) as err:
        cur.execute("select dashboard.sync_habit_logs(%s, %s::jsonb)", (sid, json.dumps(logs)))
    assert "batch too large" in str(err.value)
    assert student_log_count(coaching, sid) == 0


# --------------------------------------------------------------------------------------------
# per-log rejections
# --------------------------------------------------------------------------------------------


def test_each_rejection_reason_rejects_only_its_log(client, auth, make_student, coaching):
    tz = "America/New_York"
    sid, (habit,) = make_student(tz)
    other, (other_habit,) = make_student(tz)
    today = local_today(tz)
    # another student's existing log, and a log of this student deleted upstream
    theirs = entry(other_habit, today - timedelta(days=1))
    status, _ = sync(client, auth(other), [theirs])
    assert status == 200
    deleted = entry(habit, today - timedelta(days=3))
    with coaching.cursor() as cur:
        cur.execute(
            "insert into habit_logs (id, habit_id, student_id, log_date, status, logged_at, "
            "deleted_at) values (%s, %s, %s, %s, 'missed', now(), now())",
            (deleted["id"], habit, sid, deleted["log_date"]),
        )

    ok = entry(habit, today - timedelta(days=1))
    copy = dict(ok, status="missed")
    logs = [
        ok,
        copy,  # same id again in the batch
        dict(theirs, habit_id=habit),  # an id another student's log already has
        entry(other_habit, today),  # another student's habit
        entry(str(uuid.uuid4()), today),  # no such habit
        entry(habit, today + timedelta(days=1)),  # tomorrow, in New York
        entry(habit, today - timedelta(days=31)),  # older than 30 days
        entry(habit, today - timedelta(days=30)),  # 30 days: still fine
        deleted,  # exists (deleted) for this student: a duplicate, not resurrected
    ]
    before = student_log_count(coaching, sid)
    status, body = sync(client, auth(sid), logs)
    assert status == 200, body
    assert outcomes(body) == [
        ("accepted", None),
        ("rejected", "duplicate_in_batch"),
        ("rejected", "conflict"),
        ("rejected", "not_your_habit"),
        ("rejected", "unknown_habit"),
        ("rejected", "future_date"),
        ("rejected", "too_old"),
        ("accepted", None),
        ("duplicate", None),
    ]
    assert student_log_count(coaching, sid) == before + 2
    rows = upstream_logs(coaching, [log["id"] for log in logs])
    assert rows[ok["id"]][3] == "completed"  # the first copy was judged, not the second
    assert rows[theirs["id"]][0] == other  # the other student's log is untouched
    assert {log["id"] for log in logs[3:7]}.isdisjoint(rows)
    assert rows[deleted["id"]][3] == "missed"


def test_malformed_logs_are_refused_whole_by_the_api_and_one_by_one_by_sql(
    client, auth, make_student, coaching, owner_conn
):
    tz = "UTC"
    sid, (habit,) = make_student(tz)
    good = entry(habit, local_today(tz))
    for bad in (
        {"id": "not-a-uuid"},
        {"log_date": "2026-02-30"},
        {"status": "done"},
        {"logged_at": "yesterday"},
        {"extra": 1},
    ):
        status, body = sync(client, auth(sid), [good, {**good, "id": str(uuid.uuid4()), **bad}])
        assert status == 400, (bad, body)
    assert student_log_count(coaching, sid) == 0

    # The SQL function (callable without the API) judges each item instead.
    malformed = [
        dict(good, id="not-a-uuid"),
        dict(good, id=str(uuid.uuid4()), habit_id="x"),
        dict(good, id=str(uuid.uuid4()), log_date="2026-02-30"),
        dict(good, id=str(uuid.uuid4()), log_date="26-01-01"),
        dict(good, id=str(uuid.uuid4()), status="done"),
        dict(good, id=str(uuid.uuid4()), logged_at="2026-01-01T10:00:00"),  # no offset
        dict(good, id=str(uuid.uuid4()), logged_at="2026-01-01T25:00:00Z"),
        {k: v for k, v in good.items() if k != "status"},
        "a string",
        good,
    ]
    with owner_conn.cursor() as cur:
        cur.execute("select dashboard.sync_habit_logs(%s, %s::jsonb)", (sid, json.dumps(malformed)))
        body = cur.fetchone()[0]
    assert outcomes(body) == [("rejected", "invalid")] * 9 + [("accepted", None)]
    assert body["results"][0]["id"] == "not-a-uuid"
    assert body["results"][8]["id"] is None
    assert student_log_count(coaching, sid) == 1


def test_a_future_date_depends_on_the_students_timezone(client, auth, make_student, coaching):
    # Kiritimati (UTC+14) is always at least a day ahead of Pago Pago (UTC-11).
    ahead, (ahead_habit,) = make_student("Pacific/Kiritimati")
    behind, (behind_habit,) = make_student("Pacific/Pago_Pago")
    day = local_today("Pacific/Kiritimati")
    assert day > local_today("Pacific/Pago_Pago")

    status, body = sync(client, auth(behind), [entry(behind_habit, day)])
    assert status == 200 and outcomes(body) == [("rejected", "future_date")]
    assert student_log_count(coaching, behind) == 0

    status, body = sync(client, auth(ahead), [entry(ahead_habit, day)])
    assert status == 200 and outcomes(body) == [("accepted", None)]
    assert body["timezone"] == "Pacific/Kiritimati"
    assert body["streaks"][0]["current_streak"] == 1


# --------------------------------------------------------------------------------------------
# streaks: the client's module agrees, the dashboard follows, last logged wins
# --------------------------------------------------------------------------------------------

_NODE = """
import { pathToFileURL } from 'node:url';
const { habitStreak } = await import(pathToFileURL(process.argv[1]).href);
let input = '';
for await (const chunk of process.stdin) input += chunk;
const cases = JSON.parse(input);
process.stdout.write(JSON.stringify(cases.map(c => habitStreak(c.logs, c.frequency, c.timezone, c.at))));
"""


def streak_js(cases: list[dict]) -> list[dict]:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not on PATH: cannot run clients/web/streak.js")
    done = subprocess.run(
        [node, "--input-type=module", "-e", _NODE, str(STREAK_JS)],
        input=json.dumps(cases),
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    return json.loads(done.stdout)


def test_the_streaks_returned_are_what_streak_js_computes_from_the_same_logs(
    client, auth, make_student, coaching, admin_conn
):
    tz = "Asia/Kolkata"
    sid, habits = make_student(tz, habits=("daily", "daily", "weekly"))
    today = local_today(tz)
    logs = [entry(habits[0], today - timedelta(days=d)) for d in range(1, 6)]  # at risk today
    logs += [entry(habits[1], today - timedelta(days=d)) for d in (0, 1, 3, 4, 5, 6)]
    logs += [entry(habits[1], today - timedelta(days=2), "skipped")]
    logs += [entry(habits[2], today - timedelta(days=7 * w)) for w in range(4)]
    logs += [entry(habits[0], today - timedelta(days=9), "missed")]

    status, body = sync(client, auth(sid), logs)
    assert status == 200, body
    assert {r["outcome"] for r in body["results"]} == {"accepted"}

    cases = []
    for streak in body["streaks"]:
        with coaching.cursor() as cur:
            cur.execute(
                "select coalesce(json_agg(json_build_object('log_date', log_date, 'status', status, "
                "'logged_at', logged_at)), '[]') from habit_logs "
                "where habit_id = %s and deleted_at is null",
                (streak["habit_id"],),
            )
            cases.append(
                {
                    "logs": cur.fetchone()[0],
                    "frequency": streak["frequency"],
                    "timezone": body["timezone"],
                    "at": body["as_of"],
                }
            )
    expected = [
        {k: s[k] for k in ("current_streak", "longest_streak", "at_risk")} for s in body["streaks"]
    ]
    assert streak_js(cases) == expected
    assert [s["habit_id"] for s in body["streaks"]] == habits
    assert expected == [
        {"current_streak": 5, "longest_streak": 5, "at_risk": True},  # no log today yet
        {"current_streak": 6, "longest_streak": 6, "at_risk": False},  # skipped bridges
        {"current_streak": 4, "longest_streak": 4, "at_risk": False},  # four ISO weeks
    ]

    # the dashboard row was refreshed by the sync: best of the daily habits, at risk if any is
    assert cache_row(admin_conn, sid) == (6, 6, True)
    dashboard = body["dashboard"]
    assert (dashboard["current_streak"], dashboard["longest_streak"]) == (6, 6)
    assert dashboard["streak_at_risk"] is True
    response = client.get("/api/v1/student/dashboard", headers=auth(sid))
    assert response.status_code == 200
    assert response.get_json()["today"]["habit_streak"] == {
        "current": 6,
        "longest": 6,
        "at_risk": True,
    }


@pytest.mark.parametrize(
    "first, second, expected_current",
    [
        pytest.param("completed", "missed", 0, id="completed-then-missed"),
        pytest.param("missed", "completed", 3, id="missed-then-completed"),
    ],
)
def test_two_devices_on_one_day_keep_both_logs_and_the_last_logged_wins(
    client, auth, make_student, coaching, admin_conn, first, second, expected_current
):
    tz = "America/Los_Angeles"
    sid, (habit,) = make_student(tz)
    today = local_today(tz)
    yesterday = today - timedelta(days=1)
    history = [entry(habit, today - timedelta(days=d)) for d in (3, 2)]
    device_a = entry(habit, yesterday, first, logged_at=at_local(yesterday, 20, tz))
    device_b = entry(habit, yesterday, second, logged_at=at_local(yesterday, 21, tz))

    # device B syncs first: arrival order does not matter, logged_at does
    status, body = sync(client, auth(sid), [*history, device_b])
    assert status == 200, body
    status, body = sync(client, auth(sid), [device_a])
    assert status == 200 and outcomes(body) == [("accepted", None)]

    rows = upstream_logs(coaching, [device_a["id"], device_b["id"]])
    assert sorted(r[3] for r in rows.values()) == sorted([first, second])  # both kept
    streak = body["streaks"][0]
    assert streak["current_streak"] == expected_current
    assert streak["longest_streak"] == (3 if second == "completed" else 2)
    assert body["dashboard"]["current_streak"] == expected_current
    assert cache_row(admin_conn, sid)[0] == expected_current


# --------------------------------------------------------------------------------------------
# failures
# --------------------------------------------------------------------------------------------


def test_the_coaching_service_down_fails_the_whole_batch_with_503_and_the_retry_lands(
    client, auth, make_student, coaching, upstream_down
):
    tz = "UTC"
    sid, (habit,) = make_student(tz)
    logs = [entry(habit, local_today(tz) - timedelta(days=d)) for d in range(4)]
    status, body = sync(client, auth(sid), logs[:1])  # the API's connection to coaching is warm
    assert status == 200
    with upstream_down("coaching"):
        status, body = sync(client, auth(sid), logs[1:])
        assert status == 503, body
        assert body["message"] == "The database is unavailable; try again."
    assert student_log_count(coaching, sid) == 1
    # the client retries the same batch once the service is back: all of it lands
    status, body = sync(client, auth(sid), logs[1:])
    assert status == 200 and outcomes(body) == [("accepted", None)] * 3
    assert student_log_count(coaching, sid) == 4


def test_an_unauthenticated_call_is_refused(client, make_student, coaching, connect_as):
    sid, (habit,) = make_student("UTC")
    logs = [entry(habit, local_today("UTC"))]
    response = client.post(SYNC, json={"logs": logs})
    assert response.status_code == 401
    response = client.post(SYNC, json={"logs": logs}, headers={"Authorization": "Bearer nope"})
    assert response.status_code == 401
    # the api function itself: no student in the claims, no write
    conn = connect_as("authenticator")
    conn.autocommit = False
    with conn.cursor() as cur, pytest.raises(psycopg2.errors.InvalidAuthorizationSpecification):
        cur.execute("set local role authenticated")
        cur.execute("select api.sync_habit_logs(%s::jsonb)", (json.dumps(logs),))
    conn.rollback()
    assert student_log_count(coaching, sid) == 0
