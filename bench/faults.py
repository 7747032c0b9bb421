"""Reliability under load (issue: hardening): faults injected while a steady open-loop load runs
against /dashboard, then a soak. `python -m bench.faults [--rate 80] [--soak-minutes 10]`.

Restarts the project-local PostgreSQL and Redis (the ones scripts/bootstrap.sh started under
.local/): run it alone, not beside a demo or a test run. Results go to
bench/results/faults-<timestamp>.json; docs/reliability.md explains them.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime

import redis

from bench.run import BENCH, ENDPOINTS, ROOT, Api, change_students, log, openloop
from och_dashboard import tokens
from och_dashboard.sandbox import Sandbox

LOCAL = ROOT / ".local"
PG_CTL = "/usr/lib/postgresql/15/bin/pg_ctl"


def as_pg_user(cmd: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd


class Worker:
    def __init__(self, box: Sandbox):
        self.box = box
        self.proc = subprocess.Popen(
            ["och-dashboard", "worker"],
            env=box.settings.process_env(OCH_RATE_LIMIT="0"),
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )

    def kill(self, sig=signal.SIGKILL) -> None:
        os.killpg(self.proc.pid, sig)
        self.proc.wait(60)


def under_load(
    api: Api, tokens_file: str, rate: int, seconds: int, fault=None, at: float = 3.0
) -> dict:
    """Open-loop load for `seconds`; `fault()` runs `at` seconds in. Returns the load figures."""
    out: dict = {}
    runner = threading.Thread(
        target=lambda: out.update(
            openloop(api.url + ENDPOINTS["dashboard"], tokens_file, rate, seconds)
        )
    )
    runner.start()
    if fault:
        time.sleep(at)
        started = time.monotonic()
        out["fault"] = fault() or {}
        out["fault_seconds"] = round(time.monotonic() - started, 2)
    runner.join()
    return out


def owner(box: Sandbox):
    conn = box.connect()
    conn.autocommit = True
    cur = conn.cursor()
    cur.execute("set role dashboard_owner")
    return conn, cur


def queue_pending(box: Sandbox) -> int:
    conn, cur = owner(box)
    with contextlib.closing(conn):
        cur.execute("select count(*) from ops.dashboard_update_queue where status = 'pending'")
        return cur.fetchone()[0]


def enqueue_job(box: Sandbox, func: str, *args):
    from rq import Queue

    from och_dashboard.queueing import queue_names

    conn = redis.Redis.from_url(box.settings.redis_url)
    return Queue(queue_names(box.settings)[1], connection=conn).enqueue(
        func, *args, job_timeout=600
    )


def wait_for(predicate, seconds: float, step: float = 0.2) -> float:
    started = time.monotonic()
    while time.monotonic() - started < seconds:
        with contextlib.suppress(Exception):
            if predicate():
                return round(time.monotonic() - started, 2)
        time.sleep(step)
    raise RuntimeError("condition not reached")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--students", type=int, default=2000)
    parser.add_argument("--rate", type=int, default=80, help="requests per second on /dashboard")
    parser.add_argument("--window", type=int, default=20, help="seconds of load per fault")
    parser.add_argument("--soak-minutes", type=float, default=10)
    args = parser.parse_args(argv)
    if os.environ.get("DATABASE_URL", "").find(f":{os.environ.get('OCH_LOCAL_PG_PORT', '-')}/") < 0:
        parser.error("run through scripts/env.sh with the project-local PostgreSQL")
    results: dict = {"date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"), "rate": args.rate}
    box = Sandbox.create(label="faults")
    api = worker = None
    try:
        box.seed(args.students, seed_value=5)
        box.upgrade()
        conn, cur = owner(box)
        cur.execute("select dashboard.load_staging(true)")
        cur.execute("select dashboard.refresh_all(true)")
        cur.execute(
            "select user_id::text from serving.student_dashboard_cache order by user_id limit 1000"
        )
        students = [r[0] for r in cur.fetchall()]
        conn.close()
        with tempfile.NamedTemporaryFile("w", suffix=".tokens", delete=False) as fh:
            fh.write(
                "\n".join(tokens.mint(box.settings, s, ttl_seconds=7200) for s in students) + "\n"
            )
            tokens_file = fh.name
        api = Api(box)
        worker = Worker(box)
        w = args.window

        log("baseline")
        results["baseline"] = under_load(api, tokens_file, args.rate, w)

        log("restart PostgreSQL under load")

        def restart_pg():
            subprocess.run(
                as_pg_user(
                    [
                        PG_CTL,
                        "-D",
                        str(LOCAL / "pg" / "data"),
                        "-m",
                        "fast",
                        "-w",
                        "restart",
                        "-l",
                        str(LOCAL / "pg" / "server.log"),
                    ]
                ),
                check=True,
                capture_output=True,
            )

        results["postgres_restart"] = under_load(api, tokens_file, args.rate, w, restart_pg)
        results["postgres_restart_after"] = under_load(api, tokens_file, args.rate, w // 2)

        log("an upstream down during a refresh cycle")

        def upstream_down():
            c, k = owner(box)
            with contextlib.closing(c):
                k.execute("reset role")
                k.execute("select srvoptions from pg_foreign_server where srvname = 'coaching'")
                port = next(o.split("=", 1)[1] for o in k.fetchone()[0] if o.startswith("port="))
                k.execute("alter server coaching options (set port '1')")
                k.execute("set role dashboard_owner")
                change_students(box, 0.05, 7)
                k.execute("select dashboard.refresh_all()")
                steps = k.fetchone()[0]
                k.execute("reset role")
                k.execute("alter server coaching options (set port %s)", (port,))
                k.execute("set role dashboard_owner")
                k.execute("select dashboard.refresh_all()")
                after = k.fetchone()[0]
            return {
                "failed_steps": sorted(s for s, v in steps.items() if v == "failed"),
                "skipped_steps": sorted(
                    s
                    for s, v in steps.items()
                    if v == "skipped" and s.startswith("staging:coaching")
                ),
                "other_matviews_refreshed": sorted(
                    s for s, v in steps.items() if s.startswith("matview:") and v == "ok"
                ),
                "after_recovery_failed": sorted(s for s, v in after.items() if v == "failed"),
            }

        results["upstream_down"] = under_load(api, tokens_file, args.rate, w, upstream_down)

        log("Redis down")
        redis_port = int(box.settings.redis_url.rsplit(":", 1)[1].split("/")[0])

        def redis_down():
            r = redis.Redis(port=redis_port)
            with contextlib.suppress(redis.ConnectionError):
                r.shutdown(nosave=True)
            # actions while Redis is down: accepted into the database queue
            import urllib.request

            codes = []
            for sid in students[:20]:
                req = urllib.request.Request(
                    api.url + "/api/v1/student/dashboard/actions",
                    method="POST",
                    data=b'{"action": "subscription_changed"}',
                    headers={
                        "Authorization": "Bearer " + tokens.mint(box.settings, sid),
                        "Content-Type": "application/json",
                    },
                )
                codes.append(urllib.request.urlopen(req, timeout=10).status)
            pending = queue_pending(box)
            time.sleep(3)
            subprocess.run(
                [str(ROOT / "scripts" / "bootstrap.sh"), "services"],
                check=True,
                capture_output=True,
                env={k: v for k, v in os.environ.items() if k != "REDIS_URL"},
            )
            enqueue_job(box, "jobs.refresh.process_dashboard_update_queue", 1000)
            drained_in = wait_for(lambda: queue_pending(box) == 0, 120)
            return {
                "actions_status": sorted(set(codes)),
                "pending_while_down": pending,
                "drained_after_restart_seconds": drained_in,
            }

        results["redis_down"] = under_load(api, tokens_file, args.rate, w, redis_down)

        log("kill a worker during a refresh")

        def kill_worker():
            nonlocal worker
            enqueue_job(box, "jobs.refresh.refresh_all_active_student_dashboards", True)
            c, k = owner(box)
            with contextlib.closing(c):
                k.execute("reset role")
                wait_for(
                    lambda: (
                        k.execute(
                            "select count(*) from pg_stat_activity where datname = current_database() "
                            "and application_name = 'och-dashboard-worker' and state = 'active'"
                        )
                        or k.fetchone()[0] > 0
                    ),
                    30,
                    0.05,
                )
                worker.kill()
                gone = wait_for(
                    lambda: (
                        k.execute(
                            "select count(*) from pg_stat_activity where datname = current_database() "
                            "and application_name = 'och-dashboard-worker'"
                        )
                        or k.fetchone()[0] == 0
                    ),
                    30,
                )
                k.execute("select count(*) from pg_locks where locktype = 'advisory'")
                locks = k.fetchone()[0]
            worker = Worker(box)
            job = enqueue_job(box, "jobs.refresh.refresh_all_active_student_dashboards", False)
            wait_for(lambda: job.refresh() or job.is_finished, 120)
            return {
                "backend_gone_seconds": gone,
                "advisory_locks_left": locks,
                "next_cycle_skipped": bool(job.return_value().get("skipped")),
            }

        results["worker_killed"] = under_load(api, tokens_file, args.rate, w, kill_worker)

        log("graceful shutdown of a worker mid-job")
        job = enqueue_job(box, "jobs.refresh.refresh_all_active_student_dashboards", True)
        wait_for(lambda: job.refresh() or job.get_status() == "started", 30, 0.05)
        worker.kill(signal.SIGTERM)
        job.refresh()
        results["worker_sigterm"] = {
            "job_status": str(job.get_status()),
            "worker_exit": worker.proc.returncode,
        }
        worker = Worker(box)

        log(f"soak: {args.soak_minutes} min at {args.rate} rps, a refresh cycle every minute")
        results["soak"] = soak(box, api, tokens_file, args)

        log("graceful shutdown of the API under load")

        def stop_api():
            api.proc.send_signal(signal.SIGTERM)
            api.proc.wait(60)
            return {"exit": api.proc.returncode}

        results["api_sigterm"] = under_load(api, tokens_file, args.rate, 8, stop_api, at=3)
    finally:
        if worker:
            with contextlib.suppress(Exception):
                worker.kill()
        if api and api.proc.poll() is None:
            api.stop()
        box.destroy()
    out = BENCH / "results" / f"faults-{datetime.now(UTC):%Y%m%dT%H%M%S}.json"
    out.write_text(json.dumps(results, indent=2) + "\n")
    log(f"results: {out.relative_to(ROOT)}")
    print(json.dumps(results))
    return 0


def soak(box: Sandbox, api: Api, tokens_file: str, args) -> dict:
    samples = []
    stop = threading.Event()

    def cycles():
        while not stop.is_set():
            with contextlib.suppress(Exception):
                change_students(box, 0.01, int(time.time()))
                c, k = owner(box)
                with contextlib.closing(c):
                    k.execute("select dashboard.refresh_all()")
                    k.execute("select dashboard.process_update_queue(500)")
            stop.wait(60)

    def sample():
        c, k = owner(box)
        with contextlib.closing(c):
            k.execute("reset role")
            k.execute("select count(*) from pg_stat_activity where datname = current_database()")
            conns = k.fetchone()[0]
            k.execute(
                "select coalesce(sum(n_dead_tup), 0), coalesce(sum(n_live_tup), 0) from pg_stat_user_tables "
                "where schemaname in ('dashboard', 'serving')"
            )
            dead, live = k.fetchone()
        return {
            "t": round(time.monotonic() - started),
            "rss_mb": api.worker_rss_mb(),
            "connections": conns,
            "dead_tuples": int(dead),
            "live_tuples": int(live),
        }

    refresher = threading.Thread(target=cycles, daemon=True)
    started = time.monotonic()
    refresher.start()
    loads = []
    windows = max(1, int(args.soak_minutes * 2))
    for _ in range(windows):
        loads.append(openloop(api.url + ENDPOINTS["dashboard"], tokens_file, args.rate, 30))
        samples.append(sample())
    stop.set()
    refresher.join(120)
    return {
        "windows": loads,
        "samples": samples,
        "total_sent": sum(x["sent"] for x in loads),
        "total_errors": sum(x["errors"] for x in loads),
        "p99_ms_max": max(x["p99_ms"] for x in loads),
    }


if __name__ == "__main__":
    sys.exit(main())
