"""Periodic jobs on rq-scheduler, registered under fixed ids.

rq-scheduler keeps job definitions in Redis across restarts: registering again replaces the job
of the same id instead of adding one. Each job's timeout is below its period and its ttl (how
long it may wait in the queue) is one period, so a backlog of the every-minute drain is dropped
rather than piling up; the SQL functions' advisory locks make an overlap a no-op.
"""

from __future__ import annotations

from datetime import UTC, datetime

from rq_scheduler import Scheduler

from och_dashboard.config import Settings
from och_dashboard.queueing import queue_names


def make_scheduler(settings: Settings, connection, interval: float = 5.0) -> Scheduler:
    """A scheduler whose Redis keys carry the queue prefix, so a test run or a second deployment
    on the same Redis never shares (or enqueues) another's periodic jobs."""
    _, default = queue_names(settings)
    scheduler = Scheduler(queue_name=default, connection=connection, interval=interval)
    scheduler.scheduler_lock_key = f"{settings.rq_queue_prefix}:rq:scheduler_lock"
    scheduler.scheduled_jobs_key = f"{settings.rq_queue_prefix}:rq:scheduler:scheduled_jobs"
    return scheduler


def periodic_jobs(settings: Settings) -> list[dict]:
    prefix = settings.rq_queue_prefix
    queue_period = settings.queue_period_seconds
    refresh_period = settings.refresh_period_seconds
    return [
        {
            "id": f"{prefix}-periodic-process_dashboard_update_queue",
            "func": "jobs.refresh.process_dashboard_update_queue",
            "interval": queue_period,
            "timeout": max(queue_period - 10, 5),
            "ttl": queue_period,
        },
        {
            "id": f"{prefix}-periodic-refresh_all_active_student_dashboards",
            "func": "jobs.refresh.refresh_all_active_student_dashboards",
            "interval": refresh_period,
            "timeout": max(refresh_period - 30, 10),
            "ttl": refresh_period,
        },
        {  # push notifications from the outbox to the webhooks (jobs/notify.py)
            "id": f"{prefix}-periodic-deliver_notifications",
            "func": "jobs.notify.deliver_notifications",
            "interval": 60,
            "timeout": 50,
            "ttl": 60,
        },
    ]


def register(scheduler: Scheduler, settings: Settings) -> list[str]:
    """(Re)register every periodic job under its fixed id. Idempotent across restarts."""
    _, default = queue_names(settings)
    ids = []
    for spec in periodic_jobs(settings):
        if spec["id"] in scheduler:
            scheduler.cancel(spec["id"])
        scheduler.schedule(
            scheduled_time=datetime.now(UTC),
            func=spec["func"],
            interval=spec["interval"],
            repeat=None,
            id=spec["id"],
            timeout=spec["timeout"],
            ttl=spec["ttl"],
            result_ttl=3600,
            queue_name=default,
        )
        ids.append(spec["id"])
    return ids
