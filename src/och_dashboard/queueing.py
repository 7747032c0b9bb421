"""Handing refreshes to RQ workers.

The durable queue is the database's (ops.dashboard_update_queue): every event is recorded there
first, in the request's transaction. Redis only makes urgent work start at once; when Redis is
down nothing is lost, the every-minute drain picks the entry up from the table.
"""

from __future__ import annotations

import logging

import redis
from flask import current_app
from rq import Queue

from och_dashboard.config import Settings

log = logging.getLogger(__name__)

HANDED_TTL_SECONDS = 60  # one hand-off per student per minute; the table keeps the rest


def redis_client(settings: Settings) -> redis.Redis:
    # Short timeouts: a Redis outage must not stall API requests.
    return redis.Redis.from_url(
        settings.redis_url, socket_timeout=0.5, socket_connect_timeout=0.5, health_check_interval=30
    )


def queue_names(settings: Settings) -> tuple[str, str]:
    """(urgent, default): workers listen to both, urgent first."""
    return f"{settings.rq_queue_prefix}-urgent", f"{settings.rq_queue_prefix}-default"


def app_redis() -> redis.Redis:
    """The app's Redis client (short timeouts), made on first use."""
    ext = current_app.extensions
    if "och_redis" not in ext:
        ext["och_redis"] = redis_client(current_app.config["OCH_SETTINGS"])
    return ext["och_redis"]


def redis_ok() -> bool:
    try:
        return bool(app_redis().ping())
    except redis.RedisError:
        return False


def hand_to_worker(user_id: str, priority: str) -> bool:
    """Start an urgent refresh now on a worker (at most once a minute per student)."""
    if priority != "urgent":
        return False
    settings = current_app.config["OCH_SETTINGS"]
    conn = app_redis()
    try:
        if not conn.set(
            f"{settings.rq_queue_prefix}:handed:{user_id}", 1, nx=True, ex=HANDED_TTL_SECONDS
        ):
            return False
        urgent, _ = queue_names(settings)
        Queue(urgent, connection=conn).enqueue(
            "jobs.refresh.process_dashboard_update_queue",
            job_timeout=50,
            ttl=HANDED_TTL_SECONDS,
            result_ttl=300,
            description=f"urgent refresh for {user_id}",
        )
        return True
    except redis.RedisError:
        log.warning("redis unavailable: urgent refresh of %s left to the queue drain", user_id)
        return False
