"""The REST API through the Flask test client, against the real database: fields per tier,
masking over HTTP, object access, bad tokens, parameters, actions, cold start and stale rows."""

from __future__ import annotations

import dataclasses
import json
import time
import uuid
from datetime import UTC, datetime, timedelta

import jwt
import pytest
from sqlalchemy import text

from och_dashboard import create_app

API = "/api/v1/student"
PREMIUM_DASHBOARD = ("next_billing_at", "enhanced_access_days_left", "enhanced_access_ends_at")


@pytest.fixture
def by_tier(admin_conn):
    """Seeded students whose subscription is in force, by effective tier."""
    with admin_conn.cursor() as cur:
        cur.execute(
            """
            select e.effective_tier, array_agg(c.user_id::text order by c.user_id)
              from serving.student_dashboard_cache c
              cross join lateral dashboard.entitlements(c.tier, c.subscription_status,
                                                        c.period_end, c.enhanced_access_start, now()) e
             group by 1
            """
        )
        return dict(cur.fetchall())


def get(client, path, headers):
    response = client.get(path, headers=headers)
    return response.status_code, response.get_json()


@pytest.mark.parametrize("tier", ["free", "starter3", "professional7"])
def test_dashboard_fields_for_each_tier(client, auth, by_tier, tier):
    student = by_tier[tier][0]
    status, body = get(client, f"{API}/dashboard", auth(student))
    assert status == 200, body
    assert body["student"]["id"] == student
    assert set(body) >= {
        "today",
        "future_you",
        "quick_actions",
        "urgent_nudges",
        "subscription",
        "cache_updated_at",
        "missions",
        "curriculum",
        "portfolio",
    }
    assert body["cache_updated_at"].endswith("Z")
    sub = body["subscription"]
    assert sub["effective_tier"] == tier
    assert set(body["today"]) == {"readiness", "habit_streak", "habits", "goals", "reflections_7d"}
    if tier == "free":
        assert sub["entitlements"] == []
        assert len(body["quick_actions"]) <= 1
        assert body["action_plan"] is None
        assert all(sub[f] is None for f in PREMIUM_DASHBOARD)
        assert set(sub["masked_fields"]) >= {"next_billing_at", "action_plan"}
    if tier == "professional7":
        assert "mentor_feedback" in sub["entitlements"]
        assert body["action_plan"] == body["quick_actions"]
        assert "next_billing_at" not in sub["masked_fields"]


@pytest.mark.parametrize("tier", ["free", "starter3", "professional7"])
def test_profile_curriculum_and_missions_for_each_tier(client, auth, by_tier, tier):
    headers = auth(by_tier[tier][0])
    status, profile = get(client, f"{API}/profile", headers)
    assert status == 200
    assert set(profile["consent"]) == {"share_with_mentor", "employer_share", "public_portfolio"}
    status, curriculum = get(client, f"{API}/curriculum/progress", headers)
    assert status == 200
    assert curriculum["modules_total"] == len(curriculum["modules"])
    assert [m["position"] for m in curriculum["modules"]] == sorted(
        m["position"] for m in curriculum["modules"]
    )
    status, missions = get(client, f"{API}/missions?page_size=100", headers)
    assert status == 200
    assert missions["total"] == len(missions["items"])
    for item in missions["items"]:
        assert item["deep_link"] == f"och://missions/{item['mission_code']}"
        if tier == "free":
            assert item["ai_feedback"] is None
            assert item["mentor_score"] is None and item["mentor_feedback"] is None
            assert set(item["masked_fields"]) == {"ai_feedback", "mentor_score", "mentor_feedback"}
        if tier == "professional7":
            assert item["masked_fields"] == []


def test_a_free_token_never_receives_a_premium_value_anywhere(client, auth, by_tier, admin_conn):
    """Every free student, every endpoint: premium values are absent even where the cache holds them."""
    with admin_conn.cursor() as cur:
        cur.execute(
            "select count(*) from serving.student_dashboard_cache where next_billing_at is not null"
        )
        assert cur.fetchone()[0] > 0
    for student in by_tier["free"]:
        headers = auth(student)
        _, dash = get(client, f"{API}/dashboard", headers)
        assert all(dash["subscription"][f] is None for f in PREMIUM_DASHBOARD)
        assert dash["action_plan"] is None and len(dash["quick_actions"]) <= 1
        assert len(dash["urgent_nudges"]) <= 1
        _, missions = get(client, f"{API}/missions?page_size=100", headers)
        for item in missions["items"]:
            assert (item["ai_feedback"], item["mentor_score"], item["mentor_feedback"]) == (
                None,
                None,
                None,
            )


def test_subscription_expiring_between_two_requests_is_masked_on_the_second(
    client, auth, by_tier, owner_conn, upstream_conn
):
    student = by_tier["professional7"][-1]
    with upstream_conn("subscriptions").cursor() as up:
        up.execute(
            "update subscriptions set status = 'active', period_end = now() + interval '2 seconds', "
            "next_billing_at = now() + interval '30 days' where student_id = %s",
            (student,),
        )
    with owner_conn.cursor() as cur:
        cur.execute("select dashboard.refresh_student(%s)", (student,))
    _, before = get(client, f"{API}/dashboard", auth(student))
    assert before["subscription"]["effective_tier"] == "professional7"
    assert before["subscription"]["next_billing_at"] is not None
    time.sleep(2.2)
    _, after = get(client, f"{API}/dashboard", auth(student))
    assert after["subscription"]["effective_tier"] == "free"
    assert after["subscription"]["next_billing_at"] is None
    _, missions = get(client, f"{API}/missions?page_size=100", auth(student))
    assert all(m["mentor_feedback"] is None for m in missions["items"])


@pytest.mark.parametrize("path", ["/dashboard", "/profile", "/curriculum/progress", "/missions"])
def test_student_a_never_gets_student_b_data(client, auth, students, path):
    a, b = students["professional7"][0], students["starter3"][0]
    _, body_a = get(client, f"{API}{path}?user_id={b}&sub={b}", auth(a))
    text_a = str(body_a)
    assert b not in text_a
    if path != "/missions":
        _, body_b = get(client, f"{API}{path}", auth(b))
        assert body_a != body_b


def _forge(settings, claims: dict, key=None, algorithm="HS256", headers=None) -> str:
    return jwt.encode(claims, key or settings.jwt_secret, algorithm=algorithm, headers=headers)


def _claims(settings, student, **overrides):
    now = int(time.time())
    return {"sub": student, "aud": settings.jwt_audience, "iat": now, "exp": now + 600, **overrides}


@pytest.mark.parametrize(
    "make_header",
    [
        lambda s, u: None,
        lambda s, u: "Bearer",
        lambda s, u: "Basic dXNlcjpwYXNz",
        lambda s, u: "Bearer not-a-jwt",
        lambda s, u: "Bearer " + _forge(s, _claims(s, u, exp=int(time.time()) - 3600)),
        lambda s, u: "Bearer " + _forge(s, _claims(s, u, aud="another-service")),
        lambda s, u: (
            "Bearer " + _forge(s, _claims(s, u), key="a-different-secret-of-enough-length")
        ),
        lambda s, u: "Bearer " + _forge(s, {k: v for k, v in _claims(s, u).items() if k != "sub"}),
        lambda s, u: "Bearer " + _forge(s, _claims(s, "not-a-uuid")),
        lambda s, u: "Bearer " + _forge(s, {k: v for k, v in _claims(s, u).items() if k != "exp"}),
        lambda s, u: "Bearer " + jwt.encode(_claims(s, u), None, algorithm="none"),
        lambda s, u: "Bearer " + _forge(s, _claims(s, u), algorithm="HS512"),
        lambda s, u: "Bearer " + "a" * 5000,
    ],
    ids=[
        "missing",
        "empty-bearer",
        "basic",
        "garbage",
        "expired",
        "wrong-aud",
        "wrong-key",
        "no-sub",
        "sub-not-uuid",
        "no-exp",
        "alg-none",
        "alg-not-allowed",
        "oversized",
    ],
)
def test_every_bad_token_is_a_401_with_a_challenge(client, settings, students, make_header):
    header = make_header(settings, students["free"][0])
    headers = {"Authorization": header} if header else {}
    response = client.get(f"{API}/dashboard", headers=headers)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith('Bearer realm="och-dashboard"')
    body = response.get_json()
    assert body["code"] == 401 and body["status"] == "Unauthorized" and body["message"]


def test_a_tier_or_role_claim_added_by_the_client_changes_nothing(client, auth, by_tier):
    student = by_tier["free"][0]
    _, plain = get(client, f"{API}/dashboard", auth(student))
    _, forged = get(
        client, f"{API}/dashboard", auth(student, tier="professional7", role="service_role")
    )
    assert forged["subscription"]["effective_tier"] == "free"
    assert forged["subscription"] == plain["subscription"]


@pytest.mark.parametrize(
    "query",
    [
        "status=bogus",
        "status=",
        "status=pending,",
        "status=pending;drop table x",
        "status=' or 1=1 --",
        "status=" + "p" * 5000,
        "status=pending%00",
        "page=0",
        "page_size=1000",
        "page=abc",
        "status=PENDING",
    ],
)
def test_bad_mission_parameters_are_400_and_name_the_allowed_values(client, auth, students, query):
    response = client.get(f"{API}/missions?{query}", headers=auth(students["free"][0]))
    assert response.status_code == 400, response.get_json()
    body = response.get_json()
    assert body["code"] == 400 and "errors" in body
    if query.startswith("status=") and query != "status=":
        assert "pending, in_review" in str(body["errors"])


def test_missions_filter_order_and_pagination(client, auth, students):
    headers = auth(students["professional7"][0])
    _, everything = get(client, f"{API}/missions?page_size=100", headers)
    _, filtered = get(client, f"{API}/missions?status=pending,in_review&page_size=100", headers)
    expected = [
        m["mission_id"] for m in everything["items"] if m["stage"] in ("pending", "in_review")
    ]
    assert [m["mission_id"] for m in filtered["items"]] == expected
    assert filtered["total"] == len(expected)
    keys = [
        (m["deadline_at"] is None, m["deadline_at"] or "", m["mission_id"])
        for m in everything["items"]
    ]
    assert keys == sorted(keys)
    _, page1 = get(client, f"{API}/missions?page_size=3&page=1", headers)
    _, page2 = get(client, f"{API}/missions?page_size=3&page=2", headers)
    ids = [m["mission_id"] for m in page1["items"] + page2["items"]]
    assert ids == [m["mission_id"] for m in everything["items"][:6]]
    assert page1["total"] == everything["total"]


def _set_upstream_status(upstream_conn, student, mission_id, status):
    with upstream_conn("missions").cursor() as cur:
        cur.execute(
            "update submissions set status = %s where student_id = %s and mission_id = %s",
            (status, student, mission_id),
        )
        assert cur.rowcount == 1


def _stages(client, headers) -> dict:
    response = client.get(f"{API}/missions?page_size=100", headers=headers)
    assert response.status_code == 200, response.get_json()
    return {m["mission_id"]: m["stage"] for m in response.get_json()["items"]}


def test_a_status_change_upstream_shows_on_the_next_missions_read(
    client, auth, students, upstream_conn
):
    student = students["professional7"][-1]
    headers = auth(student)
    before = _stages(client, headers)
    mission_id, stage = next(iter(before.items()))
    new_status, new_stage = (
        ("failed", "failed") if stage == "approved" else ("approved", "approved")
    )
    _set_upstream_status(upstream_conn, student, mission_id, new_status)
    after = _stages(client, headers)  # no cycle in between
    assert after[mission_id] == new_stage
    assert {k: v for k, v in after.items() if k != mission_id} == {
        k: v for k, v in before.items() if k != mission_id
    }


def test_missions_are_served_from_the_last_sync_while_the_missions_service_is_down(
    client, auth, students, upstream_conn, owner_conn, upstream_down, caplog
):
    student = students["professional7"][-2]
    headers = auth(student)
    with owner_conn.cursor() as cur:
        cur.execute(
            "select mission_id::text, stage from serving.student_mission_progress "
            "where user_id = %s",
            (student,),
        )
        served = dict(cur.fetchall())
    mission_id, stage = next(iter(served.items()))
    with upstream_down("missions"):
        _set_upstream_status(
            upstream_conn, student, mission_id, "failed" if stage == "approved" else "approved"
        )
        with caplog.at_level("WARNING", logger="och_dashboard.api.student"):
            during = _stages(client, headers)
        assert during == served, "the last synced rows, not an error and not the unseen change"
        assert "missions sync failed" in caplog.text
        # a student without a cached row yet is still computed (from what staging holds)
        with owner_conn.cursor() as cur:
            cur.execute(
                "delete from serving.student_dashboard_cache where user_id = %s", (student,)
            )
        assert _stages(client, headers) == served
        with owner_conn.cursor() as cur:
            cur.execute(
                "select count(*) from serving.student_dashboard_cache where user_id = %s",
                (student,),
            )
            assert cur.fetchone()[0] == 1


def test_missions_catch_up_once_the_missions_service_is_back(
    client, auth, students, upstream_conn, upstream_down
):
    student = students["professional7"][-3]
    headers = auth(student)
    before = _stages(client, headers)
    mission_id, stage = next(iter(before.items()))
    new_stage = "failed" if stage == "approved" else "approved"
    with upstream_down("missions"):
        _set_upstream_status(upstream_conn, student, mission_id, new_stage)
        assert _stages(client, headers)[mission_id] == stage
    assert _stages(client, headers)[mission_id] == new_stage


def test_seconds_to_deadline_is_computed_at_request_time(client, auth, students):
    headers = auth(students["professional7"][0])
    _, first = get(client, f"{API}/missions?page_size=100", headers)
    time.sleep(1.1)
    _, second = get(client, f"{API}/missions?page_size=100", headers)
    for a, b in zip(first["items"], second["items"], strict=True):
        if a["seconds_to_deadline"] is not None:
            assert a["seconds_to_deadline"] - b["seconds_to_deadline"] in (1, 2)
            deadline = datetime.fromisoformat(a["deadline_at"].replace("Z", "+00:00"))
            assert a["overdue"] == (
                deadline < datetime.now(UTC)
                and a["next_action"] in ("start", "submit", "revise")
                and a["stage"] not in ("failed",)
            )


def test_an_upstream_status_change_shows_on_the_next_read(client, auth, students, upstream_conn):
    student = students["starter3"][1]
    headers = auth(student)
    _, before = get(client, f"{API}/missions?page_size=100", headers)
    target = next(m for m in before["items"] if m["stage"] != "approved")
    with upstream_conn("missions").cursor() as up:
        up.execute(
            "update submissions set status = 'approved' where student_id = %s and mission_id = %s",
            (student, target["mission_id"]),
        )
    _, after = get(client, f"{API}/missions?page_size=100", headers)
    changed = next(m for m in after["items"] if m["mission_id"] == target["mission_id"])
    assert changed["stage"] == "approved" and changed["next_action"] == "complete_next"


def test_actions_queue_by_priority_and_deduplicate(client, auth, admin_conn):
    student = str(uuid.uuid4())  # any signed-in student may report; the queue keys on the sub
    headers = auth(student)
    low = client.post(
        f"{API}/dashboard/actions", headers=headers, json={"action": "profile_updated"}
    )
    assert low.status_code == 202
    assert low.get_json()["priority"] == "low" and low.get_json()["deduplicated"] is False
    high = client.post(f"{API}/dashboard/actions", headers=headers, json={"action": "habit_logged"})
    assert high.get_json() == {
        "queued": True,
        "queue_id": low.get_json()["queue_id"],
        "priority": "high",
        "deduplicated": True,
    }
    again_low = client.post(
        f"{API}/dashboard/actions", headers=headers, json={"action": "profile_updated"}
    )
    assert again_low.get_json()["priority"] == "high", "a later low event never lowers the priority"
    with admin_conn.cursor() as cur:
        cur.execute(
            "select count(*), max(priority::text) from ops.dashboard_update_queue "
            "where user_id = %s and status = 'pending'",
            (student,),
        )
        assert cur.fetchone() == (1, "high")


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"action": "hacked"},
        {"action": 3},
        {"action": "habit_logged", "x": 1},
        {"action": "x" * 10000},
    ],
)
def test_bad_action_bodies_are_400_and_queue_nothing(client, auth, admin_conn, body):
    student = str(uuid.uuid4())
    response = client.post(f"{API}/dashboard/actions", headers=auth(student), json=body)
    assert response.status_code == 400
    with admin_conn.cursor() as cur:
        cur.execute(
            "select count(*) from ops.dashboard_update_queue where user_id = %s", (student,)
        )
        assert cur.fetchone()[0] == 0


def test_an_oversized_body_is_refused(client, auth):
    response = client.post(
        f"{API}/dashboard/actions",
        headers=auth(str(uuid.uuid4())),
        data="{" + " " * 20000 + "}",
        content_type="application/json",
    )
    assert response.status_code == 413


def test_cold_start_computes_the_row_now(client, auth, students, owner_conn):
    student = students["starter3"][2]
    with owner_conn.cursor() as cur:
        cur.execute("delete from serving.student_dashboard_cache where user_id = %s", (student,))
        cur.execute("delete from serving.student_mission_progress where user_id = %s", (student,))
    status, body = get(client, f"{API}/dashboard", auth(student))
    assert status == 200
    assert body["stale"] is False
    with owner_conn.cursor() as cur:
        cur.execute(
            "select count(*) from serving.student_dashboard_cache where user_id = %s", (student,)
        )
        assert cur.fetchone()[0] == 1


def test_a_student_unknown_upstream_is_404(client, auth):
    status, body = get(client, f"{API}/dashboard", auth(str(uuid.uuid4())))
    assert status == 404 and body["code"] == 404


def test_a_stale_row_is_served_and_a_refresh_queued_once(
    client, auth, students, owner_conn, admin_conn
):
    student = students["free"][3]
    assert get(client, f"{API}/dashboard", auth(student))[0] == 200  # cached (cold start if needed)
    with owner_conn.cursor() as cur:
        cur.execute(
            "update serving.student_dashboard_cache set refreshed_at = now() - interval '1 hour', "
            "last_login_at = now() - interval '90 days' where user_id = %s",
            (student,),
        )
    status, first = get(client, f"{API}/dashboard", auth(student))
    assert status == 200 and first["stale"] is True
    pending = (
        "select count(*), min(reason), min(xmin::text) from ops.dashboard_update_queue "
        "where user_id = %s and status = 'pending'"
    )
    with admin_conn.cursor() as cur:
        cur.execute(pending, (student,))
        queued = cur.fetchone()
    assert queued[:2] == (1, "stale")
    # the next stale reads find the refresh pending and write nothing (same row version)
    for _ in range(3):
        assert get(client, f"{API}/dashboard", auth(student))[1]["stale"] is True
    with admin_conn.cursor() as cur:
        cur.execute(pending, (student,))
        assert cur.fetchone() == queued


def test_only_the_first_stale_read_writes_and_its_commit_does_not_wait_for_the_flush(
    connect_as, students
):
    """api.request_refresh as the API calls it: the first call queues the student in a
    transaction that commits without waiting for the WAL flush (synchronous_commit off); the
    next finds the entry pending and leaves the transaction read-only (no xid assigned)."""
    student = students["free"][6]
    conn = connect_as("authenticator")
    conn.autocommit = False

    def request_refresh():
        with conn.cursor() as cur:
            cur.execute("set local role authenticated")
            cur.execute(
                "select set_config('request.jwt.claims', %s, true)",
                (json.dumps({"sub": student, "role": "authenticated"}),),
            )
            cur.execute("select created from api.request_refresh()")
            (created,) = cur.fetchone()
            cur.execute(
                "select current_setting('synchronous_commit'), "
                "txid_current_if_assigned() is not null"
            )
            setting, wrote = cur.fetchone()
        conn.commit()
        return created, setting, wrote

    assert request_refresh() == (True, "off", True)
    assert request_refresh() == (False, "on", False)


def test_a_stale_read_raises_a_pending_low_priority_refresh_to_normal(
    client, auth, students, owner_conn, admin_conn
):
    student = students["free"][4]
    assert get(client, f"{API}/dashboard", auth(student))[0] == 200
    with owner_conn.cursor() as cur:
        cur.execute(
            "update serving.student_dashboard_cache set refreshed_at = now() - interval '1 hour', "
            "last_login_at = now() - interval '90 days' where user_id = %s",
            (student,),
        )
        cur.execute("select * from dashboard.enqueue_update(%s, 'low', 'nightly')", (student,))
    assert get(client, f"{API}/dashboard", auth(student))[1]["stale"] is True
    with admin_conn.cursor() as cur:
        cur.execute(
            "select count(*), min(priority::text), min(reason) from ops.dashboard_update_queue "
            "where user_id = %s and status = 'pending'",
            (student,),
        )
        assert cur.fetchone() == (1, "normal", "stale")


def test_a_row_one_refresh_period_old_is_not_stale(
    client, auth, settings, students, owner_conn, admin_conn
):
    """A cycle running a little late (the row older than one period, not two) is no reason to
    queue a refresh of every student who reads meanwhile."""
    student = students["free"][5]
    assert get(client, f"{API}/dashboard", auth(student))[0] == 200
    with owner_conn.cursor() as cur:
        cur.execute(
            "update serving.student_dashboard_cache "
            "set refreshed_at = now() - make_interval(secs => %s), "
            "last_login_at = now() - interval '90 days' where user_id = %s",
            (settings.refresh_period_seconds * 1.5, student),
        )
    status, body = get(client, f"{API}/dashboard", auth(student))
    assert status == 200 and body["stale"] is False
    with admin_conn.cursor() as cur:
        cur.execute(
            "select count(*) from ops.dashboard_update_queue "
            "where user_id = %s and status = 'pending'",
            (student,),
        )
        assert cur.fetchone()[0] == 0


def test_two_students_alternating_on_one_pooled_connection_see_only_their_own(
    app, settings, auth, students
):
    one = dataclasses.replace(settings, db_pool_size=1)
    single = create_app(one)
    single_client = single.test_client()
    a, b = students["professional7"][0], students["free"][0]
    for student in (a, b, a, b):
        _, body = get(single_client, f"{API}/profile", auth(student))
        assert body["student"]["id"] == student
    engine = single.extensions["och_engine"]
    assert engine.pool.checkedin() == 1
    with engine.connect() as conn:  # the same pooled connection, outside any request
        row = conn.execute(
            text(
                "select current_user, current_setting('request.jwt.claims', true), "
                "current_setting('role')"
            )
        ).one()
    assert row[0] == "authenticator" and row[1] == "" and row[2] == "none"
    engine.dispose()


def test_errors_share_one_shape(client, auth, students):
    for response in (
        client.get("/api/v1/student/nope", headers=auth(students["free"][0])),
        client.delete(f"{API}/dashboard", headers=auth(students["free"][0])),
    ):
        body = response.get_json()
        assert set(body) >= {"code", "status"} and body["code"] == response.status_code


def test_openapi_document_and_local_docs_page(client):
    spec = client.get("/openapi.json").get_json()
    assert {
        "/api/v1/student/dashboard",
        "/api/v1/student/missions",
        "/api/v1/student/profile",
        "/api/v1/student/curriculum/progress",
        "/api/v1/student/dashboard/actions",
        "/healthz",
        "/readyz",
    } <= set(spec["paths"])
    assert spec["paths"]["/healthz"]["get"]["security"] == []
    docs = client.get("/docs").get_data(as_text=True)
    assert "/docs/assets/swagger-ui-bundle.js" in docs and "//cdn" not in docs
    asset = client.get("/docs/assets/swagger-ui-bundle.js")
    assert asset.status_code == 200 and len(asset.data) > 100_000
    assert client.get("/docs/assets/../../setup.cfg").status_code == 404


def test_health_and_readiness(client):
    assert client.get("/healthz").get_json() == {"status": "ok"}
    ready = client.get("/readyz")
    body = ready.get_json()
    assert ready.status_code == 200 and body["database"] is True and body["redis"] is True
    assert {s["name"] for s in body["snapshots"]} >= {
        "dashboard.mv_identity",
        "serving.student_dashboard_cache",
    }
    assert "dashboard.mv_student_dashboard" not in {s["name"] for s in body["snapshots"]}
    assert {u["service"] for u in body["upstreams"]} == {
        "identity",
        "profiler",
        "coaching",
        "curriculum",
        "missions",
        "portfolio",
        "talentscope",
        "subscriptions",
    }


def test_python_vocabularies_match_the_database(owner_conn):
    from och_dashboard.api import schemas

    with owner_conn.cursor() as cur:
        cur.execute("select dashboard.mission_stages()")
        assert tuple(cur.fetchone()[0]) == schemas.MISSION_STAGES
        cur.execute("select array_agg(action order by action) from api.action_priorities")
        assert tuple(cur.fetchone()[0]) == schemas.ACTIONS


def test_expired_tokens_within_leeway_are_accepted(client, settings, students):
    claims = _claims(settings, students["free"][0], exp=int(time.time()) - 5)
    response = client.get(
        f"{API}/profile", headers={"Authorization": "Bearer " + _forge(settings, claims)}
    )
    assert response.status_code == 200
    assert timedelta(seconds=settings.jwt_leeway) > timedelta(seconds=5)


def test_rate_limit_per_student_answers_429_with_retry_after(settings, auth, students):
    limited = dataclasses.replace(
        settings,
        rate_limit=3,
        rate_window_seconds=30,
        rq_queue_prefix=settings.rq_queue_prefix + "-rl",
    )
    client = create_app(limited).test_client()
    a, b = students["free"][0], students["free"][1]
    codes = [client.get(f"{API}/profile", headers=auth(a)).status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]
    blocked = client.get(f"{API}/profile", headers=auth(a))
    assert blocked.status_code == 429
    assert 1 <= int(blocked.headers["Retry-After"]) <= 31
    assert blocked.get_json()["code"] == 429
    assert client.get(f"{API}/profile", headers=auth(b)).status_code == 200, "per student"


def test_rate_limit_fails_open_when_redis_is_down(settings, auth, students):
    broken = dataclasses.replace(settings, rate_limit=1, redis_url="redis://127.0.0.1:1/0")
    client = create_app(broken).test_client()
    for _ in range(3):
        assert client.get(f"{API}/profile", headers=auth(students["free"][0])).status_code == 200
