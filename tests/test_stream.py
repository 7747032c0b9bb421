"""The live dashboard stream: SSE with header or ticket auth, a snapshot then patches pushed by
LISTEN/NOTIFY when the cached row changes, heartbeats, Last-Event-ID resume, a per-student limit."""

from __future__ import annotations

import dataclasses
import json
import threading
import time

import pytest
from werkzeug.serving import make_server

from och_dashboard import create_app, tokens

API = "/api/v1/student"


@pytest.fixture(scope="module")
def server(settings):
    """A real threaded HTTP server on loopback (streams hold their connection open)."""
    fast = dataclasses.replace(
        settings,
        stream_heartbeat_seconds=1,
        stream_max_seconds=8,
        stream_limit=2,
        rq_queue_prefix=settings.rq_queue_prefix + "-sse",
    )
    app = create_app(fast)
    httpd = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_port}", app
    httpd.shutdown()


def read_events(response, until, timeout=10):
    """Parse SSE from a streaming requests response until `until(events)` is true (one line
    iterator per response, kept on it, so a second call goes on where the first stopped)."""
    if not hasattr(response, "sse_lines"):
        response.sse_lines = response.iter_lines(decode_unicode=True)
    events, current = [], {}
    deadline = time.monotonic() + timeout
    for raw in response.sse_lines:
        if raw == "":
            if current:
                events.append(current)
                current = {}
                if until(events):
                    break
            if time.monotonic() > deadline:
                break
            continue
        if raw.startswith(":"):
            events.append({"comment": raw[1:].strip()})
            if until(events):
                break
            continue
        field, _, value = raw.partition(":")
        current[field] = value.lstrip()
    return events


def test_snapshot_then_a_patch_when_the_row_changes(
    server, settings, students, owner_conn, upstream_conn
):
    import requests

    base, _ = server
    student = students["professional7"][3]
    headers = {"Authorization": f"Bearer {tokens.mint(settings, student)}"}
    requests.get(f"{base}{API}/dashboard", headers=headers, timeout=10)  # cached
    with requests.get(
        f"{base}{API}/dashboard/stream", headers=headers, stream=True, timeout=15
    ) as r:
        assert r.status_code == 200
        assert r.headers["Content-Type"].startswith("text/event-stream")
        first = read_events(r, lambda ev: any(e.get("event") == "snapshot" for e in ev))
        snapshot = next(e for e in first if e.get("event") == "snapshot")
        body = json.loads(snapshot["data"])
        assert body["student"]["id"] == student
        with upstream_conn("profiler").cursor() as up:
            up.execute(
                "update future_you_profiles set persona_name = 'Streamed Persona' "
                "where student_id = %s",
                (student,),
            )
        with owner_conn.cursor() as cur:
            cur.execute("select dashboard.refresh_student(%s)", (student,))
        later = read_events(r, lambda ev: any(e.get("event") == "patch" for e in ev))
        patch = next(e for e in later if e.get("event") == "patch")
        changed = json.loads(patch["data"])
        assert changed["future_you"]["persona_name"] == "Streamed Persona"
        assert "student" not in changed, "only changed sections are sent"
        assert patch["id"] != snapshot["id"]


def test_heartbeats_and_resume_with_last_event_id(server, settings, students):
    import requests

    base, _ = server
    student = students["starter3"][4]
    headers = {"Authorization": f"Bearer {tokens.mint(settings, student)}"}
    requests.get(f"{base}{API}/dashboard", headers=headers, timeout=10)
    with requests.get(
        f"{base}{API}/dashboard/stream", headers=headers, stream=True, timeout=15
    ) as r:
        events = read_events(r, lambda ev: any(e.get("comment") == "heartbeat" for e in ev))
        snapshot_id = next(e["id"] for e in events if e.get("event") == "snapshot")
    resumed = dict(headers, **{"Last-Event-ID": snapshot_id})
    with requests.get(
        f"{base}{API}/dashboard/stream", headers=resumed, stream=True, timeout=15
    ) as r:
        events = read_events(r, lambda ev: any(e.get("comment") == "heartbeat" for e in ev))
        assert not any(e.get("event") == "snapshot" for e in events), "nothing changed: no snapshot"


def test_a_ticket_opens_the_stream_once(server, settings, students):
    import requests

    base, _ = server
    student = students["free"][4]
    headers = {"Authorization": f"Bearer {tokens.mint(settings, student)}"}
    requests.get(f"{base}{API}/dashboard", headers=headers, timeout=10)
    issued = requests.post(f"{base}{API}/dashboard/stream/ticket", headers=headers, timeout=10)
    assert issued.status_code == 201
    ticket = issued.json()["ticket"]
    with requests.get(
        f"{base}{API}/dashboard/stream?ticket={ticket}", stream=True, timeout=15
    ) as r:
        assert r.status_code == 200
        events = read_events(r, lambda ev: any(e.get("event") == "snapshot" for e in ev))
        assert json.loads(events[-1]["data"])["student"]["id"] == student
    again = requests.get(f"{base}{API}/dashboard/stream?ticket={ticket}", timeout=10)
    assert again.status_code == 401, "a ticket is single-use"
    assert (
        requests.get(f"{base}{API}/dashboard/stream?ticket={'x' * 32}", timeout=10).status_code
        == 401
    )
    assert requests.get(f"{base}{API}/dashboard/stream", timeout=10).status_code == 401


def test_streams_per_student_are_limited(server, settings, students):
    import requests

    base, _ = server
    student = students["professional7"][4]
    headers = {"Authorization": f"Bearer {tokens.mint(settings, student)}"}
    requests.get(f"{base}{API}/dashboard", headers=headers, timeout=10)
    opened = [
        requests.get(f"{base}{API}/dashboard/stream", headers=headers, stream=True, timeout=15)
        for _ in range(2)
    ]
    try:
        assert [r.status_code for r in opened] == [200, 200]
        third = requests.get(f"{base}{API}/dashboard/stream", headers=headers, timeout=10)
        assert third.status_code == 429 and "Retry-After" in third.headers
    finally:
        for r in opened:
            r.close()
    time.sleep(1.5)  # the server notices the closed streams at their next heartbeat
    with requests.get(
        f"{base}{API}/dashboard/stream", headers=headers, stream=True, timeout=15
    ) as r:
        assert r.status_code == 200


def test_the_stream_ends_after_its_maximum_duration(server, settings, students):
    import requests

    base, _ = server
    student = students["free"][5]
    headers = {"Authorization": f"Bearer {tokens.mint(settings, student)}"}
    requests.get(f"{base}{API}/dashboard", headers=headers, timeout=10)
    started = time.monotonic()
    with requests.get(
        f"{base}{API}/dashboard/stream", headers=headers, stream=True, timeout=20
    ) as r:
        for _ in r.iter_lines():
            pass
    assert 7 <= time.monotonic() - started < 15


def test_the_hub_listens_only_while_a_stream_is_open(settings, admin_conn):
    """The LISTEN connection goes away soon after the last stream ends (a database going away
    then is not an error to log), and comes back, hearing changes, with the next stream."""
    from och_dashboard.stream import CHANNEL, Hub

    def hub_connections():
        with admin_conn.cursor() as cur:
            cur.execute(
                "select count(*) from pg_stat_activity where datname = current_database() "
                "and application_name = 'och-dashboard-stream-hub' and pid <> pg_backend_pid()"
            )
            return cur.fetchone()[0]

    def wait_for(predicate, seconds=5.0):
        deadline = time.monotonic() + seconds
        while not predicate() and time.monotonic() < deadline:
            time.sleep(0.05)
        return predicate()

    # the hub of this module's server lets go once its streams ended (within its 5 s poll)
    assert wait_for(lambda: hub_connections() == 0, seconds=12), "an idle hub kept its connection"
    hub = Hub(settings.api_database_url, poll_seconds=0.1)
    user = "00000000-0000-0000-0000-00000000abcd"
    try:
        changes = hub.subscribe(user)
        assert hub.listening.is_set() and hub_connections() == 1
        hub.unsubscribe(user, changes)
        assert wait_for(lambda: hub_connections() == 0), "the idle hub kept its connection"
        assert not hub.listening.is_set()

        changes = hub.subscribe(user)
        assert hub.listening.is_set() and hub_connections() == 1
        while not changes.empty():  # the re-read every stream gets when the hub (re)connects
            changes.get_nowait()
        with admin_conn.cursor() as cur:
            cur.execute("select pg_notify(%s, %s)", (CHANNEL, user))
        assert changes.get(timeout=5) == "changed"
        hub.unsubscribe(user, changes)
        assert wait_for(lambda: hub_connections() == 0)
    finally:
        hub.stop()
