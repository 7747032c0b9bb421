"""POST /api/v1/student/habits/logs:sync: habit logs the student recorded offline, in batches.

One transaction as the student, one call: api.sync_habit_logs writes the accepted logs to the
coaching service's habit_logs (through the foreign table, committed with this transaction),
refreshes the student's dashboard and returns per-log outcomes and the recomputed streaks.
Idempotent by the client's log UUIDs: a batch sent again answers "duplicate" and writes
nothing. A malformed body or more than 100 logs is a 400 and writes nothing; problems of one
log (unknown habit, a date in the future or too old, ...) reject that log only; the coaching
service unreachable is a 503 and writes nothing (the client keeps the batch and retries).
"""

from __future__ import annotations

import json

from flask import request
from flask.views import MethodView
from flask_smorest import Blueprint
from sqlalchemy import text

from och_dashboard import db
from och_dashboard.api import schemas
from och_dashboard.auth import require_student

blp = Blueprint(
    "habits",
    __name__,
    url_prefix="/api/v1/student",
    description="Offline habit logging: batches of logs recorded without a connection.",
)

# A full batch (100 logs, ~180 bytes each compact) is over the app-wide 16 KiB body limit.
MAX_BODY_BYTES = 64 * 1024

SYNC_SQL = text("select api.sync_habit_logs(cast(:logs as jsonb))")


@blp.before_request
def _allow_a_full_batch() -> None:
    request.max_content_length = MAX_BODY_BYTES


def _wire(log: dict) -> dict:
    """One validated log as the SQL function reads it (ISO strings, instants with offsets)."""
    return {
        "id": str(log["id"]),
        "habit_id": str(log["habit_id"]),
        "log_date": log["log_date"].isoformat(),
        "status": log["status"],
        "logged_at": log["logged_at"].isoformat(),
    }


@blp.route("/habits/logs:sync")
class HabitLogSyncView(MethodView):
    @blp.arguments(schemas.HabitLogSync, error_status_code=400)
    @blp.response(200, schemas.HabitLogSyncResult)
    @blp.alt_response(401, description="Missing or invalid bearer token.")
    @blp.alt_response(503, description="The coaching service is unreachable: nothing was written.")
    def post(self, body):
        """Sync habit logs recorded offline; returns each log's outcome and the new streaks.

        Each log carries a client-generated UUID: sending a batch again changes nothing (its
        logs answer "duplicate"). Per log: accepted, duplicate, or rejected with a reason
        (invalid, duplicate_in_batch, conflict, not_your_habit, unknown_habit, future_date,
        too_old). Two devices logging one habit and day both keep their log: the one with the
        later logged_at decides the day. The streaks are computed as of `as_of` in `timezone`;
        the web client's habitStreak (clients/web/streak.js) reproduces them from the same logs.
        """
        claims = require_student()
        logs = json.dumps([_wire(log) for log in body["logs"]])
        with db.transaction(claims) as conn:
            return conn.execute(SYNC_SQL, {"logs": logs}).scalar_one()
