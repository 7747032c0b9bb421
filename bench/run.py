"""`make bench`: the benchmark suite. See bench/README.md for what it measures and how.

    python -m bench.run [--sizes 1000,10000,100000] [--duration 10] [--idle-seconds 30] [--quick] [--keep]

Per size: seed the stand-ins, upgrade, load and refresh, then measure refresh cycles after 0%,
1% and 100% of students changed, per-student refresh, queue drain, cold start, and the API under
gunicorn loaded by wrk (closed loop, max throughput) and by bench/openloop.js (open loop at 60%
of the dashboard's maximum, idle and while a full refresh runs). Results go to
bench/results/<timestamp>.json and a table is appended to bench/README.md.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

from och_dashboard import tokens
from och_dashboard.sandbox import Sandbox

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"
ENDPOINTS = {
    "floor": "/api/v1/bench/floor",
    "dashboard": "/api/v1/student/dashboard",
    "missions": "/api/v1/student/missions?status=pending,in_review",
    "curriculum": "/api/v1/student/curriculum/progress",
    "profile": "/api/v1/student/profile",
}
GUNICORN_WORKERS, GUNICORN_THREADS = 4, 1  # sync workers: see README.md, "In production"


def log(msg: str) -> None:
    print(f"[bench {datetime.now(UTC):%H:%M:%S}] {msg}", file=sys.stderr, flush=True)


def timed(cur, sql: str, params=()) -> tuple[float, object]:
    started = time.perf_counter()
    cur.execute(sql, params)
    row = cur.fetchone()
    return time.perf_counter() - started, (row[0] if row else None)


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_cycle_job(box: Sandbox, force: bool) -> float:
    """The 5-minute job as a worker runs it (jobs/refresh.py: its own connection as
    dashboard_worker, backend priority lowered), in a process of its own; its seconds."""
    started = time.perf_counter()
    subprocess.run(
        [
            sys.executable,
            "-c",
            "from jobs.refresh import refresh_all_active_student_dashboards as job; "
            f"job(force={force})",
        ],
        cwd=ROOT,
        env=box.settings.process_env(),
        check=True,
    )
    return time.perf_counter() - started


class Api:
    """gunicorn serving the sandbox, as in production (4 sync workers per 2 cores)."""

    def __init__(self, box: Sandbox):
        self.port = free_port()
        env = box.settings.process_env(
            OCH_BENCH_ENDPOINTS="1", OCH_RATE_LIMIT="0", OCH_DB_POOL_SIZE=str(GUNICORN_THREADS)
        )
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "--bind",
                f"127.0.0.1:{self.port}",
                "--workers",
                str(GUNICORN_WORKERS),
                "--threads",
                str(GUNICORN_THREADS),
                "--log-level",
                "warning",
                "wsgi:app",
            ],
            cwd=ROOT,
            env=env,
        )
        self.url = f"http://127.0.0.1:{self.port}"
        for _ in range(100):
            with contextlib.suppress(OSError):
                urllib.request.urlopen(self.url + "/healthz", timeout=1)
                return
            time.sleep(0.2)
        raise RuntimeError("gunicorn did not start")

    def worker_rss_mb(self) -> list[float]:
        out = subprocess.run(
            ["ps", "-o", "rss=", "--ppid", str(self.proc.pid)], capture_output=True, text=True
        ).stdout.split()
        return [round(int(kb) / 1024, 1) for kb in out]

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(30)


def wrk(url: str, tokens_file: str, seconds: int, connections: int = 8) -> dict:
    out = subprocess.run(
        ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "-s", str(BENCH / "tokens.lua"), url],
        env=dict(os.environ, OCH_BENCH_TOKENS=tokens_file),
        capture_output=True,
        text=True,
        timeout=seconds + 60,
    )
    line = next(ln for ln in out.stdout.splitlines() if ln.startswith("{"))
    r = json.loads(line)
    r["rps"] = round(r["requests"] / (r["duration_us"] / 1e6), 1)
    r["errors"] = r.pop("socket_errors") + r.pop("non_2xx")
    for k in ("p50", "p90", "p99", "p999"):
        r[f"{k}_ms"] = round(r.pop(f"{k}_us") / 1000, 2)
    r["max_ms"] = round(r.pop("max_us") / 1000, 2)
    r.pop("mean_us")
    return r


def openloop(url: str, tokens_file: str, rate: float, seconds: int) -> dict:
    """Open-loop load at `rate` for `seconds` (the idle measurement)."""
    result = openloop_while(url, tokens_file, rate, lambda: time.sleep(seconds) or seconds)
    del result["samples"], result["cycle_seconds"]
    return result


def openloop_while(url: str, tokens_file: str, rate: float, action) -> dict:
    """Open-loop load at `rate` for exactly as long as action() runs (its seconds are returned
    as cycle_seconds): the whole of a refresh cycle, not its first seconds. Each request's due
    time (epoch ms) and latency are returned under "samples" for tail_by_phase()."""
    with tempfile.NamedTemporaryFile(suffix=".samples") as samples:
        proc = subprocess.Popen(
            ["node", str(BENCH / "openloop.js"), url, tokens_file, str(rate), "86400"],
            stdout=subprocess.PIPE,
            text=True,
            env=dict(os.environ, OCH_OPENLOOP_SAMPLES=samples.name),
        )
        time.sleep(0.5)
        try:
            seconds = action()
        finally:
            proc.send_signal(signal.SIGTERM)
            out, _ = proc.communicate(timeout=120)
        rows = [line.split() for line in Path(samples.name).read_text().splitlines()]
    return json.loads(out.strip().splitlines()[-1]) | {
        "cycle_seconds": round(seconds, 1),
        "samples": [(float(due), float(ms)) for due, ms, _ in rows],
    }


def tail_by_phase(cur, samples: list[tuple[float, float]], since: float) -> dict:
    """The open-loop latencies split by what the cycle (ops.refresh_log, from `since`, epoch
    seconds) was doing when each request was due: starting, loading staging, deriving histories
    and refreshing views, or merging serving rows and notifying."""
    cur.execute(
        "select case when kind = 'staging' then 'staging' "
        "            when kind in ('derive', 'matview') then 'views' else 'merge' end, "
        "       extract(epoch from min(started_at)) * 1000, extract(epoch from max(finished_at)) * 1000 "
        "  from ops.refresh_log where started_at >= to_timestamp(%s) "
        "   and kind in ('staging', 'derive', 'matview', 'cache', 'notify') group by 1",
        (since,),
    )
    spans = cur.fetchall()
    # before the first step: the job's process starting, connecting, lowering its priority
    spans.append(("start", since * 1000, min((float(start) for _, start, _ in spans), default=0)))
    phases = {}
    for phase, start, end in spans:
        v = [ms for due, ms in samples if float(start) <= due < float(end)]
        if v:
            phases[phase] = {
                "seconds": round((float(end) - float(start)) / 1000, 1),
                "requests": len(v),
                "p50_ms": round(pct(v, 50), 1),
                "p99_ms": round(pct(v, 99), 1),
            }
    return phases


AUTOGROUP = Path("/proc/sys/kernel/sched_autogroup_enabled")


def autogroup_enabled() -> bool | None:
    """The kernel's session autogrouping (None where the kernel has none)."""
    return AUTOGROUP.read_text().strip() == "1" if AUTOGROUP.exists() else None


@contextlib.contextmanager
def autogroup(enabled: bool):
    """Session autogrouping set for the block (root only), restored after. With it on, the
    kernel shares the CPU between groups first: every PostgreSQL backend is in the postmaster's
    group, gunicorn in the bench's, so a busy refresh backend claims half the cores however low
    its priority, and the API, needing more than the other half, queues (docs/dba.md)."""
    before = AUTOGROUP.read_text()
    AUTOGROUP.write_text("1\n" if enabled else "0\n")
    try:
        yield
    finally:
        AUTOGROUP.write_text(before)


def table_sizes(cur) -> dict:
    cur.execute(
        "select n.nspname || '.' || c.relname, c.reltuples::bigint from pg_class c "
        "join pg_namespace n on n.oid = c.relnamespace "
        "where n.nspname in ('staging', 'serving', 'dashboard') and c.relkind in ('r', 'm') "
        "order by 1"
    )
    rows = {name: n for name, n in cur.fetchall()}
    cur.execute(
        "select pg_size_pretty(pg_database_size(current_database())), "
        "pg_database_size(current_database())"
    )
    pretty, size = cur.fetchone()
    return {"rows": rows, "database_size": pretty, "database_bytes": size}


def change_students(box: Sandbox, share: float, seed: int) -> int:
    """Touch `share` of the students in every upstream that changes often."""
    stamp = f"bench-{seed}"
    n = 0
    for service, sql in (
        (
            "coaching",
            "update habit_logs set status = case status when 'completed' then 'skipped' "
            "else 'completed' end where id in (select distinct on (student_id) id "
            "from habit_logs where abs(hashtext(student_id::text || %(s)s)) %% 10000 < %(k)s "
            "order by student_id, log_date desc)",
        ),
        (
            "missions",
            "update submissions set ai_score = coalesce(ai_score, 50) + 0.01 where id in "
            "(select distinct on (student_id) id from submissions "
            "where abs(hashtext(student_id::text || %(s)s)) %% 10000 < %(k)s order by student_id, id)",
        ),
        (
            # a student at work moves on in a module: the curriculum summary, its detail rows
            "curriculum",
            "update module_progress set progress_pct = case when progress_pct < 99.99 "
            "then progress_pct + 0.01 else progress_pct - 0.01 end "
            "where (student_id, module_id) in (select distinct on (student_id) student_id, module_id "
            "from module_progress where status <> 'completed' "
            "and abs(hashtext(student_id::text || %(s)s)) %% 10000 < %(k)s "
            "order by student_id, module_id)",
        ),
        (
            "talentscope",
            "update readiness_snapshots set readiness_score = least(100, readiness_score + 0.01) "
            "where (student_id, measured_on) in (select student_id, max(measured_on) "
            "from readiness_snapshots where abs(hashtext(student_id::text || %(s)s)) %% 10000 < %(k)s "
            "group by student_id)",
        ),
    ):
        conn = box.connect(dbname=box.settings.upstream_dbname(service))
        with contextlib.closing(conn), conn, conn.cursor() as cur:
            cur.execute(sql, {"s": stamp, "k": int(share * 10000)})
            n = max(n, cur.rowcount)
    return n


def cycle(cur) -> dict:
    seconds, result = timed(cur, "select dashboard.refresh_all()")
    cur.execute(
        "select kind, sum(duration_ms) from ops.refresh_log "
        "where started_at >= now() - make_interval(secs => %s) and kind in ('staging', 'derive', 'matview', 'cache', 'notify') "
        "group by kind",
        (seconds + 1,),
    )
    parts = {k: round(float(v) / 1000, 2) for k, v in cur.fetchall()}
    refreshed = sorted(
        k.split(":", 1)[1] for k, v in result.items() if k.startswith("matview:") and v == "ok"
    )
    return {"seconds": round(seconds, 2), "parts_seconds": parts, "matviews_refreshed": refreshed}


def cold_starts(box: Sandbox, cur, url: str, ids: list[str]) -> dict:
    """Delete these students' cache rows, then one GET /dashboard each: p50/p95 ms."""
    cur.execute(
        "delete from serving.student_dashboard_cache where user_id = any(%s::uuid[])", (ids,)
    )
    cold = []
    for sid in ids:
        req = urllib.request.Request(
            url + ENDPOINTS["dashboard"],
            headers={"Authorization": "Bearer " + tokens.mint(box.settings, sid)},
        )
        t = time.perf_counter()
        urllib.request.urlopen(req, timeout=10).read()
        cold.append((time.perf_counter() - t) * 1000)
    return {"p50": round(pct(cold, 50), 1), "p95": round(pct(cold, 95), 1)}


def bench_size(n: int, args) -> dict:
    log(f"== {n} students")
    result: dict = {"students": n}
    box = Sandbox.create(label=f"bench{n}")
    try:
        t = time.perf_counter()
        box.seed(n, seed_value=42)
        seeded_at = time.monotonic()
        result["seed_seconds"] = round(time.perf_counter() - t, 1)
        log(f"seeded in {result['seed_seconds']} s")
        box.upgrade(populate=False)
        conn = box.connect()
        conn.autocommit = True
        cur = conn.cursor()
        cur.execute("set role dashboard_owner")
        result["staging_full_seconds"], _ = timed(cur, "select dashboard.load_staging(true)")
        # as `och-dashboard staging load --full` does: statistics and the visibility map for
        # the first cycle's plans (an index-only scan of 13M unvacuumed logs reads the heap)
        cur.execute("reset role")
        cur.execute("vacuum analyze")
        cur.execute("set role dashboard_owner")
        result["first_cycle_seconds"], _ = timed(cur, "select dashboard.refresh_all(true)")
        cur.execute("reset role")
        cur.execute("vacuum analyze")
        cur.execute("set role dashboard_owner")
        result["sizes"] = table_sizes(cur)
        log(
            f"staging {result['staging_full_seconds']:.1f} s, first cycle {result['first_cycle_seconds']:.1f} s, "
            f"db {result['sizes']['database_size']}"
        )

        # Steady state: an incremental load re-reads the 2 minutes before the previous load
        # began (open upstream transactions); right after a bulk seed that is every row. Wait
        # those 2 minutes out and settle one cycle, as a running system would be.
        if not args.quick:
            time.sleep(max(0.0, 125 - (time.monotonic() - seeded_at)))
            cycle(cur)
        # Refresh cycles after 0 %, 1 % and 100 % of the students changed.
        result["cycle_quiet"] = cycle(cur)
        changed = change_students(box, 0.01, 1)
        result["cycle_1pct"] = cycle(cur) | {"rows_changed_upstream": changed}
        if not args.quick:
            changed = change_students(box, 1.0, 2)
            result["cycle_100pct"] = cycle(cur) | {"rows_changed_upstream": changed}
        log(
            f"cycles: quiet {result['cycle_quiet']['seconds']} s, 1% {result['cycle_1pct']['seconds']} s, "
            f"100% {result.get('cycle_100pct', {}).get('seconds')} s"
        )

        cur.execute(
            "select user_id::text from serving.student_dashboard_cache order by random() limit 200"
        )
        sample = [r[0] for r in cur.fetchall()]
        # Per student, each call its own transaction as a worker or the API runs it: from
        # staging (dashboard.recompute_student) and with the upstream pull (refresh_student).
        for key, fn in (
            ("recompute_student_ms", "recompute_student"),
            ("refresh_student_ms", "refresh_student"),
        ):
            per_student = []
            for sid in sample[: 50 if args.quick else 200]:
                seconds, _ = timed(cur, f"select dashboard.{fn}(%s)", (sid,))
                per_student.append(seconds * 1000)
            result[key] = {
                "p50": round(pct(per_student, 50), 1),
                "p95": round(pct(per_student, 95), 1),
            }
        cur.execute(
            "update ops.dashboard_update_queue set status = 'done' where status = 'pending'"
        )
        for sid in sample:
            cur.execute("select * from dashboard.enqueue_update(%s, 'normal', 'bench')", (sid,))
        seconds, drained = timed(cur, "select dashboard.process_update_queue(1000)")
        result["queue_drain_per_second"] = round(drained["processed"] / seconds, 1)

        # The API.
        cur.execute(
            "select c.user_id::text from serving.student_dashboard_cache c order by random() limit 2000"
        )
        students = [r[0] for r in cur.fetchall()]
        with tempfile.NamedTemporaryFile("w", suffix=".tokens", delete=False) as fh:
            for sid in students:
                fh.write(tokens.mint(box.settings, sid, ttl_seconds=7200) + "\n")
            tokens_file = fh.name
        api = Api(box)
        try:
            # Cold starts: rows deleted, then the first GET computes them (FDW path included).
            # First on the fresh API: the workers' first requests also open their database
            # connection, its eight FDW connections, and plan every statement (the first five
            # calls of a statement in a session are planned each time).
            fresh_ids = sample[-60:] if args.quick else sample[-150:]
            result["cold_start_fresh_api_ms"] = cold_starts(box, cur, api.url, fresh_ids)
            duration = 3 if args.quick else args.duration
            endpoints = ["floor", "dashboard"] if args.quick else list(ENDPOINTS)
            result["wrk"] = {}
            for _ in range(1 if args.quick else 2):  # warm-up pass first, keep the last
                for name in endpoints:
                    result["wrk"][name] = wrk(api.url + ENDPOINTS[name], tokens_file, duration)
            floor = result["wrk"]["floor"]["rps"]
            for r in result["wrk"].values():
                r["ratio_to_floor"] = round(r["rps"] / floor, 3)
            log(
                "wrk: "
                + ", ".join(
                    f"{k} {v['rps']} rps (x{v['ratio_to_floor']})" for k, v in result["wrk"].items()
                )
            )
            # Then on workers that have served (the target's measure: a student with no cached
            # row, not a new process), students outside the load's token set where there are
            # enough (the open loop below would meet the others cold).
            cur.execute(
                "select user_id::text from serving.student_dashboard_cache "
                "where user_id <> all(%s::uuid[]) "
                "order by user_id = any(%s::uuid[]), random() limit %s",
                (fresh_ids, students, len(fresh_ids)),
            )
            result["cold_start_ms"] = cold_starts(box, cur, api.url, [r[0] for r in cur.fetchall()])
            log(
                f"cold start p50/p95: {result['cold_start_ms']['p50']} / "
                f"{result['cold_start_ms']['p95']} ms, on the fresh API "
                f"{result['cold_start_fresh_api_ms']['p50']} / {result['cold_start_fresh_api_ms']['p95']} ms"
            )

            if not args.quick:
                rate = round(0.6 * result["wrk"]["dashboard"]["rps"])
                # one 10 s window's p99 spread from 15 to 115 ms on an idle machine (README)
                result["open_loop_idle"] = openloop(
                    api.url + ENDPOINTS["dashboard"], tokens_file, rate, args.idle_seconds
                )
                # Cycles run as the job runs them (its backend's priority lowered), under
                # open-loop load for their whole length: a forced one after every student
                # changed (the worst case), and the regular 5-minute one after 1% changed. Each
                # with the kernel's autogrouping as the machine has it, and, when that is on
                # and this is root, once more with it off.
                found = autogroup_enabled()
                groupings = [("", found)]
                if found and os.access(AUTOGROUP, os.W_OK):
                    groupings.append(("_autogroup_off", False))
                runs = [
                    (prefix + suffix, share, force, grouped)
                    for prefix, share, force in (
                        ("open_loop_during_refresh", 1.0, True),
                        ("open_loop_during_cycle_1pct", 0.01, False),
                    )
                    for suffix, grouped in groupings
                ]
                for seed, (key, share, force, grouped) in enumerate(runs, start=3):
                    change_students(box, share, seed)
                    since = time.time()
                    with contextlib.ExitStack() as stack:
                        if grouped is not found:
                            stack.enter_context(autogroup(bool(grouped)))
                        loaded = openloop_while(
                            api.url + ENDPOINTS["dashboard"],
                            tokens_file,
                            rate,
                            lambda force=force: run_cycle_job(box, force=force),
                        )
                    samples = loaded.pop("samples")
                    result[key] = loaded | {
                        "autogroup": grouped,
                        "changed_share": share,
                        "forced": force,
                        "by_phase": tail_by_phase(cur, samples, since),
                    }
                    log(
                        f"open loop at {rate} rps: p99 idle {result['open_loop_idle']['p99_ms']} ms, "
                        f"{key} {result[key]['p99_ms']} ms over {result[key]['cycle_seconds']} s"
                    )
            result["worker_rss_mb"] = api.worker_rss_mb()
        finally:
            api.stop()
            os.unlink(tokens_file)
        conn.close()
    finally:
        if not args.keep:
            box.destroy()
    return result


def machine() -> dict:
    return {
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpu": next(
            (
                ln.split(":", 1)[1].strip()
                for ln in Path("/proc/cpuinfo").read_text().splitlines()
                if ln.startswith("model name")
            ),
            "?",
        ),
        "autogroup": autogroup_enabled(),
    }


def code_version() -> str | None:
    """The commit measured, with "+changes" when the work tree differs from it (None outside
    a git checkout): a results file says which code it measured."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
        )
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no", "--", "src", "sql", "bench"],
            cwd=ROOT,
            capture_output=True,
            text=True,
        )
    except OSError:
        return None
    if head.returncode != 0:
        return None
    return head.stdout.strip() + ("+changes" if dirty.stdout.strip() else "")


def markdown(run: dict) -> str:
    commit = f", commit {run['commit']}" if run.get("commit") else ""
    lines = [
        f"\n### {run['date']} — {run['machine']['cpus']} cores, {run['machine']['cpu']}{commit}\n",
        "| students | seed s | quiet cycle s | 1% cycle s | 100% cycle s | recompute/student p50/p95 ms | "
        "refresh/student p50/p95 ms | "
        "cold start p95 ms (served workers / fresh API) | drain /s | floor rps | dashboard rps (ratio) | missions | curriculum | "
        "profile | dashboard p99 ms @60% idle / during forced 100% cycle / same, autogroup off | "
        "during 1% cycle / same, autogroup off | worker RSS MB | db size |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in run["results"]:
        w = r["wrk"]

        def ep(name, w=w):
            return f"{w[name]['rps']} (x{w[name]['ratio_to_floor']})" if name in w else "-"

        def p99(key, r=r):
            return r.get(key, {}).get("p99_ms", "-")

        ol = (
            f"{p99('open_loop_idle')} / {p99('open_loop_during_refresh')} / "
            f"{p99('open_loop_during_refresh_autogroup_off')} | "
            f"{p99('open_loop_during_cycle_1pct')} / {p99('open_loop_during_cycle_1pct_autogroup_off')}"
            if "open_loop_idle" in r
            else "- | -"
        )
        lines.append(
            f"| {r['students']:,} | {r['seed_seconds']} | {r['cycle_quiet']['seconds']} | "
            f"{r['cycle_1pct']['seconds']} | {r.get('cycle_100pct', {}).get('seconds', '-')} | "
            f"{r['recompute_student_ms']['p50']} / {r['recompute_student_ms']['p95']} | "
            f"{r['refresh_student_ms']['p50']} / {r['refresh_student_ms']['p95']} | "
            f"{r['cold_start_ms']['p95']} / {r.get('cold_start_fresh_api_ms', {}).get('p95', '-')} | "
            f"{r['queue_drain_per_second']} | {w['floor']['rps']} | {ep('dashboard')} | {ep('missions')} | "
            f"{ep('curriculum')} | {ep('profile')} | {ol} | {max(r['worker_rss_mb'] or [0])} | "
            f"{r['sizes']['database_size']} |"
        )
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--duration", type=int, default=10, help="seconds per load run")
    parser.add_argument(
        "--idle-seconds", type=int, default=30, help="seconds of the idle open-loop run"
    )
    parser.add_argument("--quick", action="store_true", help="the CI guard: small and fast")
    parser.add_argument("--keep", action="store_true", help="keep the sandbox databases")
    parser.add_argument("--no-readme", action="store_true", help="do not append to bench/README.md")
    args = parser.parse_args(argv)
    for tool in ("wrk", "node"):
        if not shutil.which(tool):
            parser.error(f"{tool} is not installed (scripts/bootstrap.sh installs it)")
    random.seed(42)
    run = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine(),
        "commit": code_version(),
        "gunicorn": {"workers": GUNICORN_WORKERS, "threads": GUNICORN_THREADS},
        "quick": args.quick,
        "results": [],
    }
    for n in [int(x) for x in args.sizes.split(",")]:
        run["results"].append(bench_size(n, args))
    out = (
        BENCH
        / "results"
        / f"{datetime.now(UTC):%Y%m%dT%H%M%S}{'-quick' if args.quick else ''}.json"
    )
    out.write_text(json.dumps(run, indent=2) + "\n")
    log(f"results: {out.relative_to(ROOT)}")
    if not args.quick and not args.no_readme:
        with (BENCH / "README.md").open("a") as fh:
            fh.write(markdown(run))
    print(json.dumps(run))
    return 0


if __name__ == "__main__":
    sys.exit(main())
