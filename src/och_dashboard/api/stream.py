"""GET /api/v1/student/dashboard/stream: the dashboard as Server-Sent Events.

Authenticate with the Authorization header, or (browsers' EventSource cannot send headers) with
a single-use ticket from POST .../dashboard/stream/ticket, valid 60 seconds. Events:
  event: snapshot  the whole dashboard (first event, unless Last-Event-ID is already current)
  event: patch     only the top-level sections that changed since the last event
  : heartbeat      a comment every OCH_STREAM_HEARTBEAT_SECONDS, so proxies keep it open
The event id is the row's version; a client reconnecting with Last-Event-ID gets a snapshot
only if something changed meanwhile. A stream ends after OCH_STREAM_MAX_SECONDS (the client
reconnects); a student may hold OCH_STREAM_LIMIT streams at once (429 beyond).
"""

from __future__ import annotations

import contextlib
import json
import queue
import time

import redis
from flask import Response, current_app, request, stream_with_context
from flask.views import MethodView
from flask_smorest import Blueprint, abort
from sqlalchemy import text

from och_dashboard import db
from och_dashboard.api import schemas
from och_dashboard.api.student import shape_dashboard
from och_dashboard.auth import require_student
from och_dashboard.queueing import app_redis
from och_dashboard.stream import Hub, new_ticket

blp = Blueprint(
    "stream",
    __name__,
    url_prefix="/api/v1/student",
    description="The dashboard as a live Server-Sent Events stream.",
)

TICKET_TTL_SECONDS = 60


def _hub() -> Hub:
    ext = current_app.extensions
    if "och_stream_hub" not in ext:
        ext["och_stream_hub"] = Hub(current_app.config["OCH_SETTINGS"].api_database_url)
    return ext["och_stream_hub"]


def _prefix() -> str:
    return current_app.config["OCH_SETTINGS"].rq_queue_prefix


def _claims_from_ticket(ticket: str) -> dict:
    raw = None
    if 16 <= len(ticket) <= 64:  # a malformed ticket is refused like an unknown one
        try:
            raw = app_redis().getdel(f"{_prefix()}:ticket:{ticket}")
        except redis.RedisError:
            abort(503, message="Stream tickets are unavailable; use the Authorization header.")
    if raw is None:
        abort(
            401,
            message="invalid or expired ticket",
            headers={"WWW-Authenticate": 'Bearer realm="och-dashboard", error="invalid_token"'},
        )
    return json.loads(raw)


def _read(claims: dict) -> tuple[str, dict]:
    with db.transaction(claims) as conn:
        row = conn.execute(text("select * from api.dashboard")).one_or_none()
    if row is None:
        return "", {}
    body = schemas.Dashboard().dump(shape_dashboard(row, stale=False))
    return str(int(row.cache_updated_at.timestamp() * 1_000_000)), body


def _event(kind: str, data: dict, event_id: str) -> str:
    return f"id: {event_id}\nevent: {kind}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"


@blp.route("/dashboard/stream/ticket")
class StreamTicket(MethodView):
    @blp.response(201, schemas.StreamTicket)
    @blp.alt_response(401, description="Missing or invalid bearer token.")
    def post(self):
        """A single-use ticket (60 s) to open the stream from a browser's EventSource."""
        claims = require_student()
        ticket = new_ticket()
        try:
            app_redis().set(
                f"{_prefix()}:ticket:{ticket}", json.dumps(claims), ex=TICKET_TTL_SECONDS
            )
        except redis.RedisError:
            abort(503, message="Stream tickets are unavailable; use the Authorization header.")
        return {"ticket": ticket, "expires_in": TICKET_TTL_SECONDS}


@blp.route("/dashboard/stream")
class DashboardStream(MethodView):
    @blp.arguments(schemas.StreamQuery, location="query", error_status_code=400)
    @blp.doc(
        responses={
            "200": {
                "description": "Server-Sent Events: snapshot, then patch events; heartbeats.",
                "content": {"text/event-stream": {"schema": {"type": "string"}}},
            }
        }
    )
    @blp.alt_response(401, description="Missing or invalid token or ticket.")
    @blp.alt_response(429, description="Too many open streams for this student.")
    def get(self, args):
        """Live dashboard: the changed sections pushed when the cached row changes."""
        settings = current_app.config["OCH_SETTINGS"]
        claims = _claims_from_ticket(args["ticket"]) if args.get("ticket") else require_student()
        subject = claims["sub"]
        slot = f"{settings.rq_queue_prefix}:streams:{subject}"
        try:
            pipe = app_redis().pipeline(transaction=False)
            pipe.incr(slot)
            pipe.expire(slot, settings.stream_max_seconds + 60)
            open_streams = pipe.execute()[0]
        except redis.RedisError:
            open_streams = None  # no Redis: no cross-process limit; the stream still works
        if open_streams is not None and open_streams > settings.stream_limit:
            _release(slot)
            abort(429, message="Too many open streams.", headers={"Retry-After": "30"})
        hub = _hub()
        changes = hub.subscribe(subject)  # before the first read: no change slips between
        version, body = _read(claims)
        if not version:
            hub.unsubscribe(subject, changes)
            _release(slot)
            abort(404, message="No dashboard for this student yet: GET /dashboard first.")
        last_seen = request.headers.get("Last-Event-ID", "")

        def events():
            nonlocal version, body
            deadline = time.monotonic() + settings.stream_max_seconds
            try:
                yield "retry: 3000\n\n"
                if last_seen != version:
                    yield _event("snapshot", body, version)
                while time.monotonic() < deadline:
                    try:
                        changes.get(timeout=settings.stream_heartbeat_seconds)
                    except queue.Empty:
                        yield ": heartbeat\n\n"
                        continue
                    new_version, new_body = _read(claims)
                    changed = {k: v for k, v in new_body.items() if body.get(k) != v}
                    if new_version and changed:
                        yield _event("patch", changed, new_version)
                        version, body = new_version, new_body
            finally:
                hub.unsubscribe(subject, changes)
                _release(slot)

        return Response(
            stream_with_context(events()),
            mimetype="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )


def _release(slot: str) -> None:
    with contextlib.suppress(redis.RedisError):
        app_redis().decr(slot)
