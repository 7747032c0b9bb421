"""Per-student rate limit, in Redis: a fixed window per token subject.

OCH_RATE_LIMIT requests per OCH_RATE_WINDOW_SECONDS; over it, 429 with Retry-After (the seconds
left in the window). One INCR (and an EXPIRE on the window's first request) per request, in one
round trip. When Redis is unreachable the limit fails open: reads keep being served (they are
cheap and authenticated) and the outage is logged; availability beats throttling here.
"""

from __future__ import annotations

import logging
import time

import redis
from flask import current_app
from flask_smorest import abort

from och_dashboard.queueing import app_redis

log = logging.getLogger(__name__)


def check(subject: str) -> None:
    settings = current_app.config["OCH_SETTINGS"]
    if settings.rate_limit <= 0:
        return
    window = settings.rate_window_seconds
    now = time.time()
    slot = int(now // window)
    key = f"{settings.rq_queue_prefix}:rl:{subject}:{slot}"
    try:
        pipe = app_redis().pipeline(transaction=False)
        pipe.incr(key)
        pipe.expire(key, window + 1, nx=True)
        count = pipe.execute()[0]
    except redis.RedisError:
        log.warning("rate limit unavailable (redis): request allowed")
        return
    if count > settings.rate_limit:
        retry_after = max(1, int((slot + 1) * window - now + 0.999))
        abort(
            429, message="Too many requests; slow down.", headers={"Retry-After": str(retry_after)}
        )
