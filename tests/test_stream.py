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
