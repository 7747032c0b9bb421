"""Jobs and DBA operations against real PostgreSQL and Redis, with real RQ workers in burst
mode: queue order and de-duplication, schedule registration, locks, faults, the CLI."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
import uuid

import psycopg2
import pytest
from rq import Queue

from jobs import schedule
from och_dashboard.queueing import queue_names


def cli(settings, *args, timeout=120) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["och-dashboard", *args],
        env=settings.process_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def enqueue(cur, user, priority, reason="test"):
    cur.execute("select * from dashboard.enqueue_update(%s, %s, %s)", (user, priority, reason))
    return cur.fetchone()


def test_queue_drains_in_priority_then_age_order_and_deduplicates(owner_conn, students):
    pool = students["starter3"][:4] + students["free"][:2]
    with owner_conn.cursor() as cur:
        cur.execute(
            "update ops.dashboard_update_queue set status = 'done' where status = 'pending'"
        )
        # insertion order: low, normal, urgent, high, normal (older first)
        enqueue(cur, pool[0], "low")
        enqueue(cur, pool[1], "normal")
        enqueue(cur, pool[2], "urgent")
        enqueue(cur, pool[3], "high")
        enqueue(cur, pool[4], "normal")
        # a second event for pool[0] raises its priority to high; a later 'low' never lowers it
        _, priority, created = enqueue(cur, pool[0], "high")
        assert (priority, created) == ("high", False)
        _, priority, created = enqueue(cur, pool[0], "low")
        assert (priority, created) == ("high", False)
        cur.execute("select count(*) from ops.dashboard_update_queue where status = 'pending'")
        assert cur.fetchone()[0] == 5
        cur.execute("select dashboard.process_update_queue(3)")
        result = cur.fetchone()[0]
        assert result["processed"] == 3 and result["remaining"] == 2
        cur.execute(
            "select user_id::text from ops.dashboard_update_queue where status = 'done' "
            "and processed_at is not null order by processed_at desc, id limit 3"
        )
        done = {r[0] for r in cur.fetchall()}
        # urgent (pool[2]), then the two highs in age order (pool[0] was enqueued first)
        assert done == {pool[2], pool[0], pool[3]}
        cur.execute(
            "select user_id::text from ops.dashboard_update_queue where status = 'pending' "
            "order by id"
        )
        assert [r[0] for r in cur.fetchall()] == [pool[1], pool[4]]
        cur.execute("select dashboard.process_update_queue(100)")


def test_failures_are_retried_with_backoff_and_capped(owner_conn):
    with owner_conn.cursor() as cur:
        cur.execute(
            "insert into ops.dashboard_update_queue (user_id, priority, reason, attempts) "
            "values (%s, 'urgent', 'test', 4) returning id",
            (str(uuid.uuid4()),),
        )
        entry = cur.fetchone()[0]
        # make the cache reject every write, so the refresh of that entry fails
        cur.execute(
            "alter table serving.student_dashboard_cache add constraint test_reject "
            "check (user_id is null) not valid"
        )
        try:
            cur.execute(
                "update ops.dashboard_update_queue set user_id = %s where id = %s",
                (_any_student(cur), entry),
            )
            cur.execute("select dashboard.process_update_queue(10)")
        finally:
            cur.execute("alter table serving.student_dashboard_cache drop constraint test_reject")
        cur.execute(
            "select status, attempts, last_error, not_before > now() "
            "from ops.dashboard_update_queue where id = %s",
            (entry,),
        )
        status, attempts, error, later = cur.fetchone()
        assert (status, attempts) == ("failed", 5)
        assert "test_reject" in error
        assert later


def _any_student(cur) -> str:
    cur.execute("select user_id::text from serving.student_dashboard_cache limit 1")
    return cur.fetchone()[0]


def test_refresh_student_job_runs_on_a_real_worker_in_burst_mode(
    settings, owner_conn, students, redis_client, upstream_conn
):
    student = students["professional7"][1]
    with upstream_conn("profiler").cursor() as up:
        up.execute(
            "update future_you_profiles set persona_name = 'Burst Tester' where student_id = %s",
            (student,),
        )
    urgent, _ = queue_names(settings)
    job = Queue(urgent, connection=redis_client).enqueue(
        "jobs.refresh.refresh_student_dashboard_cache", student
    )
    result = cli(settings, "worker", "--burst")
    assert result.returncode == 0, result.stderr
    job.refresh()
    assert job.is_finished, job.get_status()
    assert job.return_value()["found"] is True
    with owner_conn.cursor() as cur:
        cur.execute(
            "select persona_name from serving.student_dashboard_cache where user_id = %s",
            (student,),
        )
        assert cur.fetchone()[0] == "Burst Tester"


def test_schedule_registration_is_idempotent_across_restarts(settings, redis_client):
    first = schedule.make_scheduler(settings, redis_client)
    ids = schedule.register(first, settings)
    again = schedule.make_scheduler(settings, redis_client)
    assert schedule.register(again, settings) == ids
    jobs = list(again.get_jobs())
    assert sorted(j.id for j in jobs) == sorted(ids)
    for job in jobs:
        spec = next(s for s in schedule.periodic_jobs(settings) if s["id"] == job.id)
        assert job.timeout < spec["interval"], "a job's timeout stays below its period"
        assert job.ttl == spec["interval"], "a backlog is dropped after one period, not piled up"
    # the scheduler's keys carry the prefix: another deployment on this Redis sees none of them
    assert all(
        settings.rq_queue_prefix in k for k in (again.scheduled_jobs_key, again.scheduler_lock_key)
    )
    for job_id in ids:
        again.cancel(job_id)


def test_scheduler_enqueues_due_jobs_and_a_worker_runs_them(settings, redis_client):
    scheduler = schedule.make_scheduler(settings, redis_client)
    ids = schedule.register(scheduler, settings)
    try:
        scheduler.run(burst=True)  # moves the due periodic jobs to the queue
        _, default = queue_names(settings)
        assert set(Queue(default, connection=redis_client).job_ids) >= set(ids)
        result = cli(settings, "worker", "--burst")
        assert result.returncode == 0, result.stderr
        assert Queue(default, connection=redis_client).count == 0
    finally:
        for job_id in ids:
            scheduler.cancel(job_id)


def test_two_refreshes_at_once_one_runs_the_other_skips(sandbox, owner_conn):
    holder = sandbox.connect()
    try:
        with holder.cursor() as cur:
            cur.execute("set role dashboard_owner")
            cur.execute("select dashboard.try_begin_cycle()")
            assert cur.fetchone()[0] is True
            with owner_conn.cursor() as other:
                started = time.monotonic()
                other.execute("select dashboard.refresh_all()")
                assert other.fetchone()[0] == {"skipped": True}
                assert time.monotonic() - started < 2
                other.execute("select dashboard.process_update_queue(5)")  # a different lock
                assert "skipped" not in other.fetchone()[0]
    finally:
        holder.rollback()
        holder.close()


def test_readers_are_not_blocked_by_a_running_refresh(sandbox, connect_as):
    writer = sandbox.connect()
    reader = connect_as("dashboard_analyst")
    try:
        with writer.cursor() as cur:
            cur.execute("set role dashboard_owner")
            cur.execute("select dashboard.try_begin_cycle()")
            for step in (
                "matview:dashboard.mv_coaching_summary",
                "merge:serving.student_dashboard_cache",
            ):
                cur.execute("select dashboard.run_cycle_step(%s, true)", (step,))
            # the refresh holds its locks (transaction still open): readers go on
            with reader.cursor() as r:
                r.execute("set statement_timeout = '2s'")
                started = time.monotonic()
                r.execute("select count(*) from dashboard.v_student_dashboard")
                assert r.fetchone()[0] > 0
                r.execute("select count(*) from analytics.tier_mix")
                assert time.monotonic() - started < 1
    finally:
        writer.rollback()
        writer.close()


def test_an_unreachable_upstream_fails_alone_and_the_next_cycle_catches_up(
    owner_conn, upstream_conn, students, upstream_down
):
    student = students["professional7"][2]
    with upstream_conn("profiler").cursor() as up:
        up.execute(
            "update future_you_profiles set persona_name = 'Still Refreshed' where student_id = %s",
            (student,),
        )
    with upstream_conn("coaching").cursor() as up:
        up.execute(
            "insert into reflections (id, student_id, body) values (gen_random_uuid(), %s, 'x')",
            (student,),
        )
    with upstream_down("coaching"), owner_conn.cursor() as cur:
        cur.execute("select dashboard.refresh_all()")
        steps = cur.fetchone()[0]
        assert steps["staging:coaching_habits"] in ("failed", "skipped")
        assert all(
            v in ("failed", "skipped") for k, v in steps.items() if k.startswith("staging:coaching")
        )
        assert steps["staging:profiler_future_you_profiles"] == "ok"
        cur.execute(
            "select persona_name from serving.student_dashboard_cache where user_id = %s",
            (student,),
        )
        assert cur.fetchone()[0] == "Still Refreshed"
        cur.execute(
            "select name, ok from dashboard.refresh_status where kind = 'upstream' order by name"
        )
        status = dict(cur.fetchall())
        assert status["coaching"] is False and status["profiler"] is True
    # the upstream comes back: the next cycle catches up
    with owner_conn.cursor() as cur:
        cur.execute("select dashboard.refresh_all()")
        assert cur.fetchone()[0]["staging:coaching_reflections"] == "ok"
        cur.execute(
            "select reflections_7d from serving.student_dashboard_cache where user_id = %s",
            (student,),
        )
        cur.execute(
            "select count(*) from staging.coaching_reflections where student_id = %s and body = 'x'",
            (student,),
        )
        assert cur.fetchone()[0] == 1
        cur.execute(
            "select ok from dashboard.refresh_status where kind = 'upstream' and name = 'coaching'"
        )
        assert cur.fetchone()[0] is True


def test_a_worker_killed_mid_refresh_leaves_no_half_write_and_no_lock(
    settings, sandbox, owner_conn, admin_conn
):
    """The refresh is blocked mid-way (a lock we hold), its worker is SIGKILLed, the lock is
    released: the refresh rolls back, the advisory lock is free, the next cycle succeeds."""
    blocker = sandbox.connect()
    blocker.autocommit = False
    with owner_conn.cursor() as cur:
        cur.execute("select count(*), max(refreshed_at) from serving.student_dashboard_cache")
        before = cur.fetchone()
    with blocker.cursor() as b:
        b.execute("lock table serving.student_mission_progress in exclusive mode")
    worker = subprocess.Popen(
        [
            "python",
            "-c",
            "from jobs.refresh import refresh_all_active_student_dashboards as r; r(True)",
        ],
        env=settings.process_env(),
        start_new_session=True,
        stderr=subprocess.PIPE,
    )
    try:
        _wait_for(lambda: _backend_waiting(admin_conn) or worker.poll() is not None, 20)
        assert worker.poll() is None, worker.stderr.read()
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait(10)
    finally:
        blocker.rollback()
        blocker.close()
    _wait_for(lambda: not _worker_backends(admin_conn), 10)
    with owner_conn.cursor() as cur:
        cur.execute("select count(*), max(refreshed_at) from serving.student_dashboard_cache")
        assert cur.fetchone() == before, "nothing of the killed refresh was committed"
        cur.execute("select dashboard.refresh_all(true)")
        assert "skipped" not in cur.fetchone()[0]


def _worker_backends(conn) -> int:
    with conn.cursor() as cur:
        cur.execute(
            "select count(*) from pg_stat_activity where application_name = 'och-dashboard-worker' "
            "and datname = current_database()"
        )
        return cur.fetchone()[0]


def _backend_waiting(conn) -> bool:
    with conn.cursor() as cur:
        cur.execute(
            "select count(*) from pg_stat_activity where application_name = 'och-dashboard-worker' "
            "and datname = current_database() and wait_event_type = 'Lock'"
        )
        return cur.fetchone()[0] > 0


def _wait_for(predicate, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError("condition not reached in time")


def test_redis_down_the_api_still_serves_and_queues_in_the_database(settings, students, admin_conn):
    import dataclasses

    from och_dashboard import create_app, tokens

    broken = dataclasses.replace(settings, redis_url="redis://127.0.0.1:1/0")
    client = create_app(broken).test_client()
    student = students["starter3"][3]
    headers = {"Authorization": f"Bearer {tokens.mint(settings, student)}"}
    assert client.get("/api/v1/student/dashboard", headers=headers).status_code == 200
    response = client.post(
        "/api/v1/student/dashboard/actions",
        headers=headers,
        json={"action": "subscription_changed"},
    )
    assert response.status_code == 202 and response.get_json()["priority"] == "urgent"
    with admin_conn.cursor() as cur:
        cur.execute(
            "select count(*) from ops.dashboard_update_queue where user_id = %s and status = 'pending'",
            (student,),
        )
        assert cur.fetchone()[0] == 1, "nothing is lost: the drain picks it up when Redis is back"
    ready = client.get("/readyz").get_json()
    assert ready["redis"] is False and ready["status"] == "degraded"


def test_cli_status_queue_and_refresh_commands(settings, students):
    student = students["free"][1]
    result = cli(settings, "refresh", "--student", student)
    assert result.returncode == 0, result.stderr
    assert '"found": true' in result.stdout
    result = cli(settings, "refresh", "--view", "mv_readiness", "--force")
    assert result.returncode == 0 and "dashboard.mv_readiness: ok" in result.stdout
    result = cli(settings, "refresh", "--all")
    assert result.returncode == 0, result.stderr
    # every step of dashboard.cycle_steps(), one per staging table, view and serving table
    assert "cycle done: 33 steps, 0 failed" in result.stdout
    result = cli(settings, "status")
    assert result.returncode == 0
    assert "dashboard.mv_identity" in result.stdout and "coaching" in result.stdout
    result = cli(settings, "queue")
    assert result.returncode == 0
    assert [line.split()[0] for line in result.stdout.splitlines()[1:]] == [
        "urgent",
        "high",
        "normal",
        "low",
    ]
    assert cli(settings, "refresh", "--view", "no_such_view").returncode != 0
    assert cli(settings, "refresh").returncode != 0


def test_the_worker_role_can_run_the_jobs_but_read_nothing_else(connect_as):
    worker = connect_as("dashboard_worker")
    with worker.cursor() as cur:
        cur.execute("select dashboard.process_update_queue(1)")
        for relation in (
            "serving.student_dashboard_cache",
            "staging.identity_students",
            "fdw_identity.students",
        ):
            with pytest.raises(psycopg2.errors.InsufficientPrivilege):
                cur.execute(f"select 1 from {relation} limit 1")


def test_concurrent_drains_share_nothing_twice(sandbox, owner_conn, students):
    with owner_conn.cursor() as cur:
        for student in students["free"][:6]:
            enqueue(cur, student, "normal")
    results = []

    def drain():
        conn = sandbox.connect()
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute("set role dashboard_owner")
            cur.execute("select dashboard.process_update_queue(100)")
            results.append(cur.fetchone()[0])
        conn.close()

    threads = [threading.Thread(target=drain) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    processed = sum(r.get("processed", 0) for r in results)
    assert processed == 6 or all(
        r.get("skipped") or r.get("processed") is not None for r in results
    )
    with owner_conn.cursor() as cur:
        cur.execute("select count(*) from ops.dashboard_update_queue where status = 'pending'")
        assert cur.fetchone()[0] == 0


def test_cli_full_staging_load_leaves_the_habit_logs_vacuumed_and_analyzed(settings, admin_conn):
    """The first cycle after a bulk load plans index-only scans of the habit logs: they need the
    visibility map and statistics, which `staging load --full` brings."""
    with admin_conn.cursor() as cur:
        cur.execute(
            "select coalesce(last_vacuum, 'epoch'), coalesce(last_analyze, 'epoch') "
            "from pg_stat_user_tables where relid = 'staging.coaching_habit_logs'::regclass"
        )
        before = cur.fetchone()
    result = cli(settings, "staging", "load", "--full", timeout=300)
    assert result.returncode == 0, result.stderr
    assert "rows changed" in result.stdout
    with admin_conn.cursor() as cur:
        for _ in range(50):  # the statistics collector reports asynchronously
            cur.execute("select pg_stat_clear_snapshot()")
            cur.execute(
                "select last_vacuum, last_analyze from pg_stat_user_tables "
                "where relid = 'staging.coaching_habit_logs'::regclass"
            )
            vacuumed, analyzed = cur.fetchone()
            if vacuumed and analyzed and vacuumed > before[0] and analyzed > before[1]:
                break
            time.sleep(0.1)
        assert vacuumed > before[0] and analyzed > before[1]
