"""Push delivery: drains ops.notification_outbox (filled by dashboard.generate_notifications in
the refresh) to the webhooks in OCH_PUSH_WEBHOOKS, every minute (jobs/schedule.py).

Each claimed notification is POSTed as JSON to every configured webhook that has not accepted
it yet, signed: ``X-OCH-Timestamp`` (unix seconds) and ``X-OCH-Signature: sha256=<hex>``, the
HMAC-SHA256 of ``"<timestamp>.<raw body>"`` with OCH_PUSH_SECRET (docs/notifications.md shows
the receiver's side; ``verify`` below is the reference). A 2xx from every webhook -> sent;
anything else (status, timeout, refused connection) -> retried with exponential backoff by
dashboard.mark_notification, dead after OCH_PUSH_MAX_ATTEMPTS attempts. Delivery is at least
once: a job that dies mid-batch leaves its rows leased, and they come due again; the
idempotency key in the body lets a receiver drop what it already has.

Standard library only (urllib.request), a short timeout, redirects not followed.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import http.client
import json
import logging
import time
import urllib.error
import urllib.parse
import urllib.request
from datetime import UTC

import psycopg2
import psycopg2.extras

from och_dashboard.config import Settings

log = logging.getLogger(__name__)

TIMEOUT_SECONDS = 5.0  # per POST: a slow gateway must not hold the batch
CLAIM_CHUNK = 10  # rows leased per claim
LEASE_SECONDS = 300  # a claimed row comes due again after this if its job died
BUDGET_SECONDS = 40.0  # no new claim after this (the periodic job's timeout is 50 s)
REPLAY_TOLERANCE_SECONDS = 300  # receivers reject older (or further future) timestamps


def webhook_id(url: str) -> str:
    """How a webhook is named in the database and logs (URLs may carry tokens)."""
    return hashlib.sha256(url.encode()).hexdigest()[:16]


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The X-OCH-Signature value: sha256=<hex HMAC-SHA256 of "<timestamp>.<body>">."""
    mac = hmac.new(secret.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify(
    secret: str,
    timestamp: str | None,
    signature: str | None,
    body: bytes,
    *,
    tolerance: int = REPLAY_TOLERANCE_SECONDS,
    now: float | None = None,
) -> bool:
    """A receiver's check (the reference for docs/notifications.md): the timestamp is recent
    and the signature matches the raw body, compared in constant time. A receiver also drops a
    body whose idempotency_key it has seen (redelivery, or a replay within the tolerance)."""
    if not timestamp or not signature or not timestamp.isdigit():
        return False
    if abs((time.time() if now is None else now) - int(timestamp)) > tolerance:
        return False
    return hmac.compare_digest(sign(secret, int(timestamp), body), signature)


def message(row: dict) -> bytes:
    """The JSON body of one notification (compact; the signature covers these exact bytes)."""
    created = row["created_at"].astimezone(UTC).isoformat(timespec="seconds")
    return json.dumps(
        {
            "id": str(row["id"]),
            "idempotency_key": row["idempotency_key"],
            "user_id": str(row["user_id"]),
            "kind": row["kind"],
            "title": row["title"],
            "body": row["body"],
            "deep_link": row["deep_link"],
            "urgent": row["urgent"],
            "created_at": created.replace("+00:00", "Z"),
        },
        separators=(",", ":"),
        ensure_ascii=False,
    ).encode()


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A 3xx is an answer, not a delivery: never re-POST the payload somewhere else."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


_OPENER = urllib.request.build_opener(_NoRedirect)


def post(url: str, body: bytes, secret: str, timeout: float = TIMEOUT_SECONDS) -> str | None:
    """POST one signed body; None when the webhook answered 2xx, else what went wrong."""
    if urllib.parse.urlsplit(url).scheme not in ("http", "https"):
        return "not an http(s) URL"  # never file:, ftp: or a custom scheme
    timestamp = int(time.time())
    request = urllib.request.Request(  # noqa: S310 (scheme checked above)
        url,
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/json",
            "User-Agent": "och-dashboard-push/1",
            "X-OCH-Timestamp": str(timestamp),
            "X-OCH-Signature": sign(secret, timestamp, body),
        },
    )
    try:
        with _OPENER.open(request, timeout=timeout) as response:
            response.read(4096)
            status = response.status
    except urllib.error.HTTPError as exc:
        status = exc.code
        exc.close()
    except (urllib.error.URLError, OSError, http.client.HTTPException, ValueError) as exc:
        reason = getattr(exc, "reason", None) or exc
        return f"{type(exc).__name__}: {reason}"[:300]
    return None if 200 <= status < 300 else f"HTTP {status}"


def deliver(
    settings: Settings,
    max_batch: int = 100,
    *,
    timeout: float = TIMEOUT_SECONDS,
    budget_seconds: float = BUDGET_SECONDS,
) -> dict:
    """Claim due notifications (in chunks, while the time budget lasts), push, report each."""
    hooks = {webhook_id(url): url for url in settings.push_webhooks}
    counts = {"claimed": 0, "sent": 0, "retrying": 0, "dead": 0}
    started = time.monotonic()
    conn = psycopg2.connect(
        settings.worker_database_url, application_name="och-dashboard-push", connect_timeout=10
    )
    conn.autocommit = True  # each claim and each report commits on its own
    with (
        contextlib.closing(conn),
        conn.cursor(cursor_factory=psycopg2.extras.RealDictCursor) as cur,
    ):
        while counts["claimed"] < max_batch and time.monotonic() - started < budget_seconds:
            chunk = min(CLAIM_CHUNK, max_batch - counts["claimed"])
            cur.execute(
                "select * from dashboard.claim_notifications(%s, %s)", (chunk, LEASE_SECONDS)
            )
            rows = cur.fetchall()
            if not rows:
                break
            counts["claimed"] += len(rows)
            for row in rows:
                body = message(row)
                delivered, errors = [], []
                for hook, url in hooks.items():
                    if hook in row["delivered_to"]:
                        continue  # accepted on an earlier attempt
                    error = post(url, body, settings.push_secret, timeout)
                    if error is None:
                        delivered.append(hook)
                    else:
                        errors.append(f"webhook {hook}: {error}")
                cur.execute(
                    "select dashboard.mark_notification(%s, %s, %s, %s, %s::text[], %s) as status",
                    (
                        row["id"],
                        not errors,
                        "; ".join(errors) or None,
                        row["attempt"],
                        delivered,
                        settings.push_max_attempts,
                    ),
                )
                status = cur.fetchone()["status"]
                if status == "sent":
                    counts["sent"] += 1
                elif status == "dead":
                    counts["dead"] += 1
                    log.error("notification %s dead: %s", row["idempotency_key"], errors)
                else:
                    counts["retrying"] += 1
                    log.warning("notification %s will be retried: %s", row["id"], errors)
    log.info("push delivery: %s", counts)
    return counts


def deliver_notifications(max_batch: int = 100) -> dict:
    """The periodic job: push up to `max_batch` due notifications to every configured webhook.
    Without webhooks or a secret nothing is claimed: the rows wait in the outbox."""
    settings = Settings.from_env()
    if not settings.push_webhooks:
        log.info("push delivery skipped: OCH_PUSH_WEBHOOKS is empty")
        return {"skipped": "no webhooks configured"}
    if not settings.push_secret:
        log.error("push delivery skipped: OCH_PUSH_SECRET is not set (pushes must be signed)")
        return {"skipped": "no signing secret configured"}
    return deliver(settings, max_batch)
