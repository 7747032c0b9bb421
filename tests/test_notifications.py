"""Push notifications: the rules that fill the outbox (at fixed instants), idempotency, consent
and quiet hours; delivery to a REAL HTTP receiver on loopback (signature, retries with backoff,
dead letters, no duplicates), once through a real RQ worker in burst mode; the inbox API.

Students are made upstream (identity, missions, subscriptions stand-ins) and pulled in with
dashboard.refresh_student, the path production takes. Rule tests run at instants in 2031, far
from the real clock, so the generation refresh_student itself runs (at now()) never sees them.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import hmac
import json
import subprocess
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import psycopg2
import psycopg2.errors
import psycopg2.extras
import pytest
from rq import Queue

from jobs import notify
from och_dashboard import create_app, tokens
from och_dashboard.queueing import queue_names

API = "/api/v1/student/notifications"
SECRET = "test-push-secret"
T = datetime(2031, 1, 15, 12, 0, tzinfo=UTC)  # a Wednesday; Berlin is UTC+1, Tokyo UTC+9


# --------------------------------------------------------------------------------------------
# students made upstream
# --------------------------------------------------------------------------------------------


class World:
    """Makes students upstream and pulls them in; removes them all afterwards."""

    def __init__(self, sandbox, owner_conn):
        self.sandbox = sandbox
        self.owner = owner_conn
        self.ups: dict[str, psycopg2.extensions.connection] = {}
        self.students: list[str] = []
        self.missions = self.all(
            "missions",
            "select id::text, code, title from missions where deleted_at is null "
            "order by code limit 8",
        )

    def up(self, service: str):
        if service not in self.ups:
            conn = psycopg2.connect(self.sandbox.settings.upstream_admin_dsn(service))
            conn.autocommit = True
            self.ups[service] = conn
        return self.ups[service]

    def run(self, service: str, sql: str, params=()):
        with self.up(service).cursor() as cur:
            cur.execute(sql, params)

    def all(self, service: str, sql: str, params=()):
        with self.up(service).cursor() as cur:
            cur.execute(sql, params)
            return cur.fetchall()

    def student(
        self,
        *,
        tz="UTC",
        opt_in=True,
        last_login=T - timedelta(days=1),
        tier=None,
        period_end=None,
        enhanced_start=None,
    ) -> str:
        sid = str(uuid.uuid4())
        self.run(
            "identity",
            "insert into students (id, name, email, timezone, last_login_at, push_opt_in) "
            "values (%s, %s, %s, %s, %s, %s)",
            (sid, f"Push {sid[:8]}", f"zz-push-{sid}@example.test", tz, last_login, opt_in),
        )
        if tier:
            self.run(
                "subscriptions",
                "insert into subscriptions (id, student_id, tier, status, period_start, "
                "period_end, enhanced_access_start) values (%s, %s, %s, 'active', %s, %s, %s)",
                (str(uuid.uuid4()), sid, tier, T - timedelta(days=365), period_end, enhanced_start),
            )
        self.students.append(sid)
        return sid

    def submission(self, sid, n, status, *, deadline=None, reviewed=None, mentor_score=None):
        """Student `sid`'s submission of the n-th mission; returns (code, title)."""
        mission_id, code, title = self.missions[n]
        self.run(
            "missions",
            "insert into submissions (id, student_id, mission_id, status, deadline_at, "
            "reviewed_at, mentor_score) values (%s, %s, %s, %s, %s, %s, %s)",
            (str(uuid.uuid4()), sid, mission_id, status, deadline, reviewed, mentor_score),
        )
        return code, title

    def refresh(self, sid):
        with self.owner.cursor() as cur:
            cur.execute("select dashboard.refresh_student(%s)", (sid,))
            return cur.fetchone()[0]

    def generate(self, at, sid=None, since=None) -> int:
        with self.owner.cursor() as cur:
            cur.execute("select dashboard.generate_notifications(%s, %s, %s)", (at, sid, since))
            return cur.fetchone()[0]

    def ago(self, minutes: int):
        """The database clock `minutes` ago (a previous run's start, for `since`)."""
        return self.sql("select now() - make_interval(mins => %s)", (minutes,))[0][0]

    def outbox(self, sid) -> list[dict]:
        with self.owner.cursor(cursor_factory=psycopg2.extras.RealDictCursor) as cur:
            cur.execute(
                "select * from ops.notification_outbox where user_id = %s "
                "order by created_at, kind, subject, window_key",
                (sid,),
            )
            return cur.fetchall()

    def sql(self, sql, params=()):
        with self.owner.cursor() as cur:
            cur.execute(sql, params)
            return cur.fetchall() if cur.description else None

    def cleanup(self):
        for sid in self.students:
            self.run("missions", "delete from submissions where student_id = %s", (sid,))
            self.run("subscriptions", "delete from subscriptions where student_id = %s", (sid,))
            self.run("identity", "delete from students where id = %s", (sid,))
            self.refresh(sid)  # gone upstream: its staging, cache and mission rows go too
            self.sql("delete from ops.notification_outbox where user_id = %s", (sid,))
        for conn in self.ups.values():
            conn.close()


@pytest.fixture
def world(sandbox, owner_conn):
    w = World(sandbox, owner_conn)
    try:
        yield w
    finally:
        w.cleanup()


def keys(rows) -> set[tuple]:
    return {(r["kind"], r["subject"], r["window_key"]) for r in rows}


# --------------------------------------------------------------------------------------------
# generation rules, at fixed instants
# --------------------------------------------------------------------------------------------


def test_deadlines_24h_then_1h_and_generation_is_idempotent(world):
    sid = world.student()
    a, a_title = world.submission(sid, 0, "in_progress", deadline=T + timedelta(hours=20))
    b, _ = world.submission(sid, 1, "draft", deadline=T + timedelta(minutes=30))
    world.submission(sid, 2, "submitted", deadline=T + timedelta(hours=20))  # handed in
    d, _ = world.submission(sid, 3, "not_started", deadline=T + timedelta(hours=30))  # not yet
    world.submission(sid, 4, "revised", deadline=T - timedelta(hours=1))  # overdue
    world.refresh(sid)
    assert world.outbox(sid) == [], "refresh_student generated at now(), far from 2031"

    assert world.generate(T, sid) == 2
    rows = {r["subject"]: r for r in world.outbox(sid)}
    assert keys(rows.values()) == {("mission_deadline", a, "24h"), ("mission_deadline", b, "1h")}
    day = rows[a]
    assert day["idempotency_key"] == f"mission_deadline:{sid}:{a}:24h"
    assert day["deep_link"] == f"och://missions/{a}"
    assert day["title"] == f"{a} is due in 20h 0m"
    assert day["body"] == f"Submit {a_title} before Thursday 08:00"
    assert (day["urgent"], day["status"], day["attempts"]) == (False, "pending", 0)
    assert day["next_attempt_at"] == T and day["expires_at"] == T + timedelta(hours=20)
    assert day["payload"]["deadline_at"] == "2031-01-16T08:00:00Z"
    assert rows[b]["urgent"] is True, "a deadline first seen within the hour: only the 1h one"

    # again, and again at every later instant of the same windows: nothing new
    assert world.generate(T, sid) == 0
    assert world.generate(T + timedelta(hours=1), sid) == 0
    # within the last hour of A: its second reminder, urgent; D's first, now within 24 h
    assert world.generate(T + timedelta(hours=19, minutes=5), sid) == 2
    assert keys(world.outbox(sid)) == {
        ("mission_deadline", a, "24h"),
        ("mission_deadline", b, "1h"),
        ("mission_deadline", a, "1h"),
        ("mission_deadline", d, "24h"),
    }


def test_quiet_hours_defer_non_urgent_and_never_urgent(world):
    sid = world.student(tz="Asia/Tokyo")
    late = T.replace(hour=14, minute=30)  # 23:30 in Tokyo
    far, _ = world.submission(sid, 0, "in_progress", deadline=late + timedelta(hours=20))
    soon, _ = world.submission(sid, 1, "in_progress", deadline=late + timedelta(minutes=40))
    # due 06:30 local: a reminder held to 07:00 would come after it, so none is generated
    world.submission(sid, 2, "in_progress", deadline=late + timedelta(hours=7))
    world.refresh(sid)
    assert world.generate(late, sid) == 2
    rows = {r["subject"]: r for r in world.outbox(sid)}
    assert set(rows) == {far, soon}
    # non-urgent waits for 07:00 Tokyo (22:00 UTC); urgent goes at once
    assert rows[far]["next_attempt_at"] == T.replace(hour=22, minute=0)
    assert rows[soon]["next_attempt_at"] == late and rows[soon]["urgent"] is True

    with world.owner.cursor() as cur:
        for local, urgent, expected in [
            ("2031-01-15 21:59", False, "2031-01-15 21:59"),
            ("2031-01-15 22:00", False, "2031-01-16 07:00"),
            ("2031-01-16 03:00", False, "2031-01-16 07:00"),
            ("2031-01-16 06:59", False, "2031-01-16 07:00"),
            ("2031-01-16 07:00", False, "2031-01-16 07:00"),
            ("2031-01-16 03:00", True, "2031-01-16 03:00"),
        ]:
            cur.execute(
                "select dashboard.push_deliver_at((%s::timestamp at time zone 'Europe/Berlin'), "
                "'Europe/Berlin', %s) = (%s::timestamp at time zone 'Europe/Berlin')",
                (local, urgent, expected),
            )
            assert cur.fetchone()[0], (local, urgent)


def test_streak_nudge_late_in_the_local_evening_once_a_day(world):
    sid = world.student(tz="Europe/Berlin")
    idle = world.student(tz="Europe/Berlin", last_login=T - timedelta(days=40))
    for s in (sid, idle):
        world.refresh(s)
        world.sql(
            "update serving.student_dashboard_cache set streak_at_risk = true, current_streak = 6 "
            "where user_id = %s",
            (s,),
        )
    berlin = [T.replace(hour=h, minute=m) for h, m in ((18, 59), (19, 0), (20, 30), (21, 30))]
    assert world.generate(berlin[0], sid) == 0, "19:59 local: not yet"
    assert world.generate(berlin[1], sid) == 1, "20:00 local"
    (row,) = world.outbox(sid)
    assert (row["kind"], row["subject"], row["window_key"]) == (
        "streak_at_risk",
        "habits",
        "2031-01-15",
    )
    assert row["title"] == "Keep your 6-day streak" and row["deep_link"] == "och://habits"
    assert row["expires_at"] == T.replace(hour=23)  # local midnight
    assert world.generate(berlin[2], sid) == 0, "once per local day"
    # 22:30 local the next day: it could only be pushed at 07:00, after the day it is about
    assert world.generate(T + timedelta(days=1, hours=9, minutes=30), sid) == 0
    assert world.generate(T + timedelta(days=1, hours=8), sid) == 1, "the next evening again"
    # an inactive student's cache row does not follow the calendar: no nudge from it
    assert world.generate(berlin[1], idle) == 0
    # no live streak, no nudge
    world.sql(
        "update serving.student_dashboard_cache set current_streak = 0 where user_id = %s", (sid,)
    )
    assert world.generate(T + timedelta(days=2, hours=8), sid) == 0


def test_changes_requested_and_mentor_feedback(world):
    pro = world.student(tier="professional7")
    free = world.student(tier="free")
    reviewed = T - timedelta(days=1)
    for s in (pro, free):
        revise, _ = world.submission(s, 0, "revised", reviewed=reviewed, mentor_score=61)
        approved, _ = world.submission(
            s, 1, "approved", reviewed=T - timedelta(days=2), mentor_score=88
        )
        world.submission(s, 2, "approved", reviewed=T - timedelta(days=8), mentor_score=90)
        world.refresh(s)
    assert world.generate(T, pro) == 2
    rows = world.outbox(pro)
    assert keys(rows) == {
        ("changes_requested", revise, "2031-01-14T12:00:00Z"),
        ("mentor_feedback", approved, "2031-01-13T12:00:00Z"),
    }
    feedback = next(r for r in rows if r["kind"] == "mentor_feedback")
    assert feedback["title"] == f"Your mentor reviewed {approved}"
    assert "88" not in feedback["title"] + feedback["body"], "no masked value in a push"
    # a free tier may not read mentor feedback: only the changes request
    assert world.generate(T, free) == 1
    assert {r["kind"] for r in world.outbox(free)} == {"changes_requested"}
    assert world.generate(T, pro) + world.generate(T, free) == 0
    # a new review of the same mission is a new event
    world.run(
        "missions",
        "update submissions set reviewed_at = %s where student_id = %s and status = 'revised'",
        (T + timedelta(hours=1), pro),
    )
    world.refresh(pro)
    assert world.generate(T + timedelta(hours=2), pro) == 1


def test_enhanced_access_ending_within_14_days(world):
    ending = world.student(tier="starter3", enhanced_start=T - timedelta(days=170))
    later = world.student(tier="starter3", enhanced_start=T - timedelta(days=160))
    for s in (ending, later):
        world.refresh(s)
    assert world.generate(T, ending) == 1
    (row,) = world.outbox(ending)
    assert row["kind"] == "enhanced_access_ending" and row["window_key"] == "2031-01-25"
    assert row["title"] == "Your enhanced access ends in 10 days"
    assert row["deep_link"] == "och://subscription"
    assert row["expires_at"] == T + timedelta(days=10)
    assert world.generate(T, later) == 0, "20 days left"
    assert world.generate(T + timedelta(days=7), later) == 1


def test_a_run_since_the_previous_one_looks_only_at_what_is_new(world):
    """The cycle passes its previous run's start: a streak nudge is looked at when local 20:00
    passed since, an enhanced-access notice when the end came within 14 days since, and either
    when the student's row changed since. A candidate turned down before is not looked at again
    (the cost of a quiet cycle at 100,000 students was re-deciding thousands of them)."""
    sid = world.student(tz="Europe/Berlin", tier="starter3", enhanced_start=T - timedelta(days=170))
    world.refresh(sid)

    def unchanged_since_an_hour():
        world.sql(
            "update serving.student_dashboard_cache set streak_at_risk = true, current_streak = 6, "
            "refreshed_at = now() - interval '1 hour' where user_id = %s",
            (sid,),
        )

    unchanged_since_an_hour()
    evening = T.replace(hour=19, minute=30)  # 20:30 in Berlin; the access ends in 10 days
    assert world.generate(evening, sid, since=world.ago(10)) == 0, "20:00 passed before"
    assert world.generate(evening, sid, since=world.ago(40)) == 1, "20:00 passed since"
    assert keys(world.outbox(sid)) == {("streak_at_risk", "habits", "2031-01-15")}
    world.sql("delete from ops.notification_outbox where user_id = %s", (sid,))
    # the notice's 14 days began 4 days before T: looked at by a run whose window holds that
    # instant, not by one after it, unless the row changed
    start = T - timedelta(days=4)
    assert world.generate(start + timedelta(minutes=5), sid, since=world.ago(10)) == 1
    world.sql("delete from ops.notification_outbox where user_id = %s", (sid,))
    assert world.generate(start + timedelta(minutes=15), sid, since=world.ago(10)) == 0
    world.sql(
        "update serving.student_dashboard_cache set refreshed_at = now() where user_id = %s",
        (sid,),
    )
    assert world.generate(start + timedelta(minutes=15), sid, since=world.ago(10)) == 1
    assert keys(world.outbox(sid)) == {("enhanced_access_ending", "subscription", "2031-01-25")}
    # a changed row is looked at again in the evening too (the notice is out already)
    assert world.generate(evening, sid, since=world.ago(10)) == 1
    assert ("streak_at_risk", "habits", "2031-01-15") in keys(world.outbox(sid))
    unchanged_since_an_hour()
    world.sql("delete from ops.notification_outbox where user_id = %s", (sid,))
    assert world.generate(evening, sid, since=world.ago(10)) == 0


def test_an_opted_out_student_gets_nothing_and_pending_ones_are_withdrawn(world, outbox):
    sid = world.student()
    code, _ = world.submission(sid, 0, "in_progress", deadline=T + timedelta(hours=3))
    world.refresh(sid)
    assert world.generate(T, sid) == 1
    # the student turns push off upstream; it reaches the cache through the views
    world.run("identity", "update students set push_opt_in = false where id = %s", (sid,))
    world.refresh(sid)
    assert world.sql(
        "select c.push_opt_in, s.push_opt_in from serving.student_dashboard_cache c "
        "join staging.identity_students s on s.id = c.user_id where c.user_id = %s",
        (sid,),
    ) == [(False, False)]
    world.submission(sid, 1, "in_progress", deadline=T + timedelta(hours=5))
    world.refresh(sid)
    assert world.generate(T, sid) == 0
    assert world.generate(T + timedelta(hours=2, minutes=30), sid) == 0, "not even urgent ones"
    # the row made before the opt-out is withdrawn when claimed, never pushed
    world.sql(
        "update ops.notification_outbox set next_attempt_at = now() where user_id = %s", (sid,)
    )
    with world.owner.cursor() as cur:
        cur.execute("select count(*) from dashboard.claim_notifications(1000)")
    (row,) = world.outbox(sid)
    assert (row["status"], row["last_error"], row["attempts"]) == (
        "suppressed",
        "no push consent",
        0,
    )


# --------------------------------------------------------------------------------------------
# the refresh runs it
# --------------------------------------------------------------------------------------------


def test_the_cycle_and_refresh_student_generate_and_a_failure_fails_neither(world, owner_conn):
    with owner_conn.cursor() as cur:
        cur.execute("select array_agg(s) from dashboard.cycle_steps() s")
        assert cur.fetchone()[0][-1] == "notify:outbox"
    sid = world.student()
    code, _ = world.submission(
        sid, 0, "in_progress", deadline=datetime.now(UTC) + timedelta(minutes=50)
    )
    world.refresh(sid)  # refresh_student generates for the student, at now()
    (row,) = world.outbox(sid)
    assert (row["kind"], row["window_key"], row["urgent"]) == ("mission_deadline", "1h", True)

    with owner_conn.cursor() as cur:
        cur.execute("select dashboard.refresh_all()")
        outcome = cur.fetchone()[0]["notify:outbox"]
        assert outcome.isdigit()
        cur.execute(
            "select outcome from ops.refresh_log where kind = 'notify' order by id desc limit 1"
        )
        assert cur.fetchone()[0] == "ok"
        # generation breaks: the refreshes it follows still commit, the failure is logged
        cur.execute(
            "alter table ops.notification_outbox add constraint test_reject "
            "check (kind <> 'mission_deadline') not valid"
        )
        try:
            world.submission(
                sid, 1, "in_progress", deadline=datetime.now(UTC) + timedelta(minutes=20)
            )
            assert world.refresh(sid)["found"] is True
            cur.execute("select dashboard.refresh_all(true)")
            assert cur.fetchone()[0]["notify:outbox"] == "failed"
        finally:
            cur.execute("alter table ops.notification_outbox drop constraint test_reject")
        cur.execute(
            "select count(*) from ops.refresh_log where kind = 'notify' and outcome = 'failed' "
            "and error like '%%test_reject%%'"
        )
        assert cur.fetchone()[0] >= 2
        cur.execute(
            "select count(*) from serving.student_mission_progress where user_id = %s", (sid,)
        )
        assert cur.fetchone()[0] == 2, "the student's refresh committed"


# --------------------------------------------------------------------------------------------
# delivery to a real HTTP receiver
# --------------------------------------------------------------------------------------------


class Receiver:
    """An HTTP server on a free loopback port recording every POST; answers with the queued
    statuses in order, then `default`."""

    def __init__(self, statuses=(), default=200, delay=0.0):
        self.requests: list[tuple[dict, bytes]] = []
        self.statuses = list(statuses)
        self.default = default
        self.delay = delay
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with receiver.lock:
                    receiver.requests.append(
                        ({k.lower(): v for k, v in self.headers.items()}, body)
                    )
                    status = receiver.statuses.pop(0) if receiver.statuses else receiver.default
                if receiver.delay:
                    time.sleep(receiver.delay)
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}/och/push"

    def keys(self) -> list[str]:
        return [json.loads(body)["idempotency_key"] for _h, body in self.requests]

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receivers():
    made = []

    def make(**kwargs) -> Receiver:
        made.append(Receiver(**kwargs))
        return made[-1]

    yield make
    for r in made:
        r.close()


@pytest.fixture
def outbox(world):
    """The outbox holding only this test's rows as due: everything else pending is set aside,
    so a delivery run sends only what the test made."""
    world.sql(
        "update ops.notification_outbox set status = 'suppressed', last_error = 'set aside by a "
        "test' where status = 'pending'"
    )

    def add(sid, subject="NOTE-01", *, urgent=False, expires=None, kind="changes_requested"):
        window = uuid.uuid4().hex[:8]
        (row,) = world.sql(
            "insert into ops.notification_outbox (user_id, kind, subject, window_key, "
            "idempotency_key, title, body, deep_link, urgent, expires_at) "
            "values (%s, %s, %s, %s, %s || ':' || %s || ':' || %s || ':' || %s, 'Title ✓', "
            "'Body', 'och://missions/' || %s, %s, %s) returning id::text",
            (sid, kind, subject, window, kind, sid, subject, window, subject, urgent, expires),
        )
        return row[0]

    return add


def zone_at_local_hour(hour: int) -> str:
    """An Etc/GMT zone where it is now `hour` o'clock (the quiet hours are local)."""
    offset = (hour - datetime.now(UTC).hour + 11) % 24 - 11  # -11 .. +12
    return "Etc/GMT" if offset == 0 else f"Etc/GMT{'-' if offset > 0 else '+'}{abs(offset)}"


def push_settings(settings, *urls, max_attempts=6):
    return dataclasses.replace(
        settings, push_webhooks=urls, push_secret=SECRET, push_max_attempts=max_attempts
    )


def row_of(world, nid) -> dict:
    with world.owner.cursor(cursor_factory=psycopg2.extras.RealDictCursor) as cur:
        cur.execute(
            "select *, extract(epoch from next_attempt_at - now()) as wait "
            "from ops.notification_outbox where id = %s",
            (nid,),
        )
        return cur.fetchone()


def due_now(world, nid):
    """Time passes: the row's backoff is over."""
    world.sql("update ops.notification_outbox set next_attempt_at = now() where id = %s", (nid,))


def test_the_signature_verifies_and_a_tampered_body_fails(world, outbox, receivers, settings):
    sid = world.student()
    world.refresh(sid)
    nid = outbox(sid, urgent=True)
    receiver = receivers()
    assert notify.deliver(push_settings(settings, receiver.url))["sent"] == 1
    ((headers, body),) = receiver.requests
    message = json.loads(body)
    assert list(message) == [
        "id",
        "idempotency_key",
        "user_id",
        "kind",
        "title",
        "body",
        "deep_link",
        "urgent",
        "created_at",
    ]
    assert message["id"] == nid and message["user_id"] == sid and message["urgent"] is True
    assert message["idempotency_key"].startswith(f"changes_requested:{sid}:NOTE-01:")
    assert message["title"] == "Title ✓" and message["created_at"].endswith("Z")
    assert headers["content-type"] == "application/json"

    timestamp, signature = headers["x-och-timestamp"], headers["x-och-signature"]
    assert abs(int(timestamp) - time.time()) < 30
    # the documented recipe, by hand: hex HMAC-SHA256 of "<timestamp>.<raw body>"
    expected = hmac.new(SECRET.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    assert signature == "sha256=" + expected.hexdigest()
    assert notify.verify(SECRET, timestamp, signature, body)
    tampered = body.replace(b'"urgent":true', b'"urgent":false')
    assert tampered != body and not notify.verify(SECRET, timestamp, signature, tampered)
    assert not notify.verify("another-secret", timestamp, signature, body)
    assert not notify.verify(SECRET, str(int(timestamp) + 1), signature, body)
    # a replay after the tolerance is rejected even with its genuine signature
    assert not notify.verify(SECRET, timestamp, signature, body, now=int(timestamp) + 301)
    assert not notify.verify(SECRET, None, signature, body)


def test_a_500_is_retried_with_backoff_and_not_lost_then_sent_once(
    world, outbox, receivers, settings
):
    sid = world.student(tz=zone_at_local_hour(12))
    world.refresh(sid)
    nid = outbox(sid)
    receiver = receivers(statuses=[500])
    config = push_settings(settings, receiver.url)

    assert notify.deliver(config) == {"claimed": 1, "sent": 0, "retrying": 1, "dead": 0}
    row = row_of(world, nid)
    assert (row["status"], row["attempts"]) == ("pending", 1)
    assert "HTTP 500" in row["last_error"] and 25 < row["wait"] <= 30
    assert notify.deliver(config)["claimed"] == 0, "not before its backoff is over"

    due_now(world, nid)
    assert notify.deliver(config)["sent"] == 1
    row = row_of(world, nid)
    assert (row["status"], row["attempts"], row["last_error"]) == ("sent", 2, None)
    assert row["sent_at"] is not None

    # a delivered row is never sent again, whatever happens to its schedule
    due_now(world, nid)
    assert notify.deliver(config)["claimed"] == 0
    assert len(receiver.requests) == 2 and len(set(receiver.keys())) == 1
    assert row_of(world, nid)["status"] == "sent"


def test_a_failed_non_urgent_push_is_retried_after_the_quiet_hours(
    world, outbox, receivers, settings
):
    sid = world.student(tz=zone_at_local_hour(23))
    world.refresh(sid)
    nid = outbox(sid)
    late = outbox(sid, "NOTE-02", urgent=True)
    notify.deliver(push_settings(settings, receivers(default=500).url))
    with world.owner.cursor() as cur:
        cur.execute(
            "select id::text, (next_attempt_at at time zone %s)::time from ops.notification_outbox "
            "where id in (%s, %s)",
            (
                world.sql(
                    "select timezone from serving.student_dashboard_cache where user_id = %s",
                    (sid,),
                )[0][0],
                nid,
                late,
            ),
        )
        retry_at = dict(cur.fetchall())
    assert str(retry_at[nid]) == "07:00:00", "non-urgent: after the quiet hours"
    assert str(retry_at[late]) != "07:00:00" and 25 < row_of(world, late)["wait"] <= 30


def test_dead_letter_after_max_attempts_with_doubling_backoff(world, outbox, receivers, settings):
    sid = world.student(tz="UTC")
    world.refresh(sid)
    nid = outbox(sid, urgent=True)  # urgent: retries are not held by quiet hours
    receiver = receivers(default=503)
    config = push_settings(settings, receiver.url, max_attempts=3)
    waits = []
    for _ in range(3):
        notify.deliver(config)
        row = row_of(world, nid)
        waits.append(row["wait"])
        due_now(world, nid)
    row = row_of(world, nid)
    assert (row["status"], row["attempts"]) == ("dead", 3)
    assert "HTTP 503" in row["last_error"]
    assert 25 < waits[0] <= 30 and 55 < waits[1] <= 60, waits
    assert notify.deliver(config)["claimed"] == 0
    assert len(receiver.requests) == 3
    # a DBA requeues dead letters once the gateway is fixed
    receiver.default = 200
    world.sql("select dashboard.requeue_dead_notifications('changes_requested')")
    assert notify.deliver(config)["sent"] == 1


def test_unreachable_and_slow_webhooks_count_as_failures(world, outbox, receivers, settings):
    sid = world.student()
    world.refresh(sid)
    refused = outbox(sid, "NOTE-01", urgent=True)
    closed = receivers()
    closed_url = closed.url
    closed.close()
    notify.deliver(push_settings(settings, closed_url))
    assert "refused" in row_of(world, refused)["last_error"].lower()

    world.sql("update ops.notification_outbox set status = 'sent' where id = %s", (refused,))
    slow_one = outbox(sid, "NOTE-02", urgent=True)
    slow = receivers(delay=1.0)
    notify.deliver(push_settings(settings, slow.url), timeout=0.3)
    row = row_of(world, slow_one)
    assert row["status"] == "pending" and "timed out" in row["last_error"].lower()


def test_two_webhooks_a_retry_goes_only_to_the_one_that_failed(world, outbox, receivers, settings):
    sid = world.student()
    world.refresh(sid)
    nid = outbox(sid, urgent=True)
    good, flaky = receivers(), receivers(statuses=[500])
    config = push_settings(settings, good.url, flaky.url)
    notify.deliver(config)
    row = row_of(world, nid)
    assert row["status"] == "pending"
    assert row["delivered_to"] == [notify.webhook_id(good.url)]
    assert good.url not in row["last_error"] and notify.webhook_id(flaky.url) in row["last_error"]
    due_now(world, nid)
    assert notify.deliver(config)["sent"] == 1
    assert (len(good.requests), len(flaky.requests)) == (1, 2)


def test_concurrent_deliveries_never_send_one_notification_twice(
    world, outbox, receivers, settings
):
    sid = world.student()
    world.refresh(sid)
    made = {outbox(sid, f"NOTE-{i:02d}", urgent=True) for i in range(12)}
    receiver = receivers(delay=0.05)
    config = push_settings(settings, receiver.url)
    results = []
    threads = [
        threading.Thread(target=lambda: results.append(notify.deliver(config))) for _ in range(3)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sum(r["sent"] for r in results) == 12
    assert len(receiver.keys()) == 12 == len(set(receiver.keys()))
    assert {json.loads(b)["id"] for _h, b in receiver.requests} == made


def test_expired_and_no_longer_true_notifications_are_withdrawn(world, outbox, receivers, settings):
    sid = world.student()
    code, _ = world.submission(
        sid, 0, "in_progress", deadline=datetime.now(UTC) + timedelta(hours=3)
    )
    world.refresh(sid)
    expired = outbox(sid, "NOTE-01", expires=datetime.now(UTC) - timedelta(seconds=1))
    handed_in = outbox(sid, code, kind="mission_deadline")
    world.run(
        "missions", "update submissions set status = 'submitted' where student_id = %s", (sid,)
    )
    world.refresh(sid)
    receiver = receivers()
    assert notify.deliver(push_settings(settings, receiver.url))["claimed"] == 0
    assert receiver.requests == []
    assert row_of(world, expired)["last_error"] == "expired before delivery"
    assert row_of(world, handed_in)["last_error"] == "no longer applies: handed in"
    assert {row_of(world, n)["status"] for n in (expired, handed_in)} == {"suppressed"}


def test_without_webhooks_or_secret_the_job_claims_nothing(world, outbox, monkeypatch):
    sid = world.student()
    world.refresh(sid)
    nid = outbox(sid)
    monkeypatch.setenv("OCH_PUSH_WEBHOOKS", "")
    assert "skipped" in notify.deliver_notifications()
    monkeypatch.setenv("OCH_PUSH_WEBHOOKS", "http://127.0.0.1:1/x")
    monkeypatch.setenv("OCH_PUSH_SECRET", "")
    assert "skipped" in notify.deliver_notifications()
    assert (row_of(world, nid)["status"], row_of(world, nid)["attempts"]) == ("pending", 0)


def test_the_job_runs_on_a_real_rq_worker_in_burst_mode(
    world, outbox, receivers, settings, redis_client
):
    """The whole chain: a deadline 40 minutes away upstream, refresh_student generates the
    urgent reminder, the RQ worker's job pushes it, signed, to the receiver."""
    sid = world.student()
    code, _ = world.submission(sid, 0, "draft", deadline=datetime.now(UTC) + timedelta(minutes=40))
    world.refresh(sid)
    (row,) = world.outbox(sid)
    receiver = receivers()
    _, default = queue_names(settings)
    job = Queue(default, connection=redis_client).enqueue("jobs.notify.deliver_notifications", 50)
    env = settings.process_env(OCH_PUSH_WEBHOOKS=f" {receiver.url} ,", OCH_PUSH_SECRET=SECRET)
    result = subprocess.run(
        ["och-dashboard", "worker", "--burst"], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    job.refresh()
    assert job.is_finished, job.get_status()
    assert job.return_value()["sent"] == 1
    ((headers, body),) = receiver.requests
    assert json.loads(body)["idempotency_key"] == f"mission_deadline:{sid}:{code}:1h"
    assert json.loads(body)["deep_link"] == f"och://missions/{code}"
    assert notify.verify(SECRET, headers["x-och-timestamp"], headers["x-och-signature"], body)
    assert row_of(world, str(row["id"]))["status"] == "sent"


# --------------------------------------------------------------------------------------------
# the inbox API
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def client(settings):
    app = create_app(settings)
    app.config["TESTING"] = True
    yield app.test_client()
    app.extensions["och_engine"].dispose()


def bearer(settings, sid):
    return {"Authorization": f"Bearer {tokens.mint(settings, sid)}"}


def test_the_inbox_lists_own_notifications_newest_first_and_marks_them_read(
    world, outbox, client, settings
):
    me, other = world.student(), world.student()
    for s in (me, other):
        world.refresh(s)
    mine = [outbox(me, f"NOTE-0{i}") for i in range(3)]
    world.sql(  # distinct creation instants: newest first is well defined
        "update ops.notification_outbox set created_at = now() - make_interval(mins => "
        "substr(subject, 6)::int) where user_id = %s",
        (me,),
    )
    withdrawn = outbox(me, "NOTE-09")
    world.sql(
        "update ops.notification_outbox set status = 'suppressed' where id = %s", (withdrawn,)
    )
    theirs = outbox(other, "NOTE-05")
    mine_h, other_h = bearer(settings, me), bearer(settings, other)

    page = client.get(API, headers=mine_h).get_json()
    assert [i["id"] for i in page["items"]] == mine, "newest first, withdrawn not listed"
    assert (page["total"], page["unread_count"], page["page"]) == (3, 3, 1)
    first = page["items"][0]
    assert first["deep_link"] == "och://missions/NOTE-00" and first["read"] is False
    assert set(first) >= {"kind", "title", "body", "urgent", "created_at", "data", "pushed_at"}

    two = client.get(f"{API}?page_size=2&page=2", headers=mine_h).get_json()
    assert [i["id"] for i in two["items"]] == mine[2:] and two["total"] == 3

    response = client.post(f"{API}/{mine[1]}/read", headers=mine_h)
    assert response.status_code == 200
    read = response.get_json()
    assert read["id"] == mine[1] and read["read"] is True and read["read_at"]
    again = client.post(f"{API}/{mine[1]}/read", headers=mine_h).get_json()
    assert again["read_at"] == read["read_at"], "the first read time is kept"
    page = client.get(API, headers=mine_h).get_json()
    assert (page["total"], page["unread_count"]) == (3, 2)
    unread = client.get(f"{API}?unread_only=true", headers=mine_h).get_json()
    assert [i["id"] for i in unread["items"]] == [mine[0], mine[2]] and unread["total"] == 2

    # another student's id, a withdrawn one and a missing one: the same 404
    answers = [
        client.post(f"{API}/{nid}/read", headers=mine_h)
        for nid in (theirs, withdrawn, str(uuid.uuid4()))
    ]
    assert [a.status_code for a in answers] == [404, 404, 404]
    assert len({json.dumps(a.get_json(), sort_keys=True) for a in answers}) == 1
    assert world.sql("select read_at from ops.notification_outbox where id = %s", (theirs,)) == [
        (None,)
    ]
    assert [i["id"] for i in client.get(API, headers=other_h).get_json()["items"]] == [theirs]

    assert client.get(API).status_code == 401
    assert client.post(f"{API}/{mine[0]}/read").status_code == 401
    assert client.post(f"{API}/not-a-uuid/read", headers=mine_h).status_code == 404
    assert client.get(f"{API}?page_size=1000", headers=mine_h).status_code == 400


def test_a_student_reads_only_their_own_rows_in_sql(world, outbox, connect_as):
    me, other = world.student(), world.student()
    for s in (me, other):
        world.refresh(s)
    outbox(me)
    theirs = outbox(other)
    conn = connect_as("authenticator")
    conn.autocommit = False
    with contextlib.closing(conn.cursor()) as cur:
        cur.execute("set local role authenticated")
        cur.execute("select set_config('request.jwt.claims', %s, true)", (json.dumps({"sub": me}),))
        cur.execute("select distinct user_id::text from api.notifications")
        assert cur.fetchall() == [(me,)]
        cur.execute("select api.mark_notification_read(%s)", (theirs,))
        assert cur.fetchone() == (None,)
        with pytest.raises(psycopg2.errors.InsufficientPrivilege):
            cur.execute("select 1 from ops.notification_outbox")
    conn.rollback()
