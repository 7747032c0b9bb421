"""The signed-in student's push notifications (the in-app inbox of what the outbox holds):
GET /api/v1/student/notifications and POST /api/v1/student/notifications/<id>/read.

Reads api.notifications (own rows only, withdrawn ones not listed); marks read through
api.mark_notification_read, which acts only on the token's student: another student's id and
a missing id both answer 404. docs/notifications.md describes the rules and the push side."""

from __future__ import annotations

from uuid import UUID

from flask.views import MethodView
from flask_smorest import Blueprint, abort
from sqlalchemy import text

from och_dashboard import db
from och_dashboard.api import schemas
from och_dashboard.auth import require_student

blp = Blueprint(
    "notifications",
    __name__,
    url_prefix="/api/v1/student",
    description="The signed-in student's notifications (deadlines and nudges), read state.",
)

COLUMNS = (
    "id, kind, subject, title, body, deep_link, urgent, data, created_at, read_at, pushed_at, "
    "read_at is not null as read"
)
PAGE_SQL = text(
    f"""
    select {COLUMNS} from api.notifications
     where (not :unread_only or read_at is null)
     order by created_at desc, id desc
     limit :limit offset :offset
    """
)
COUNTS_SQL = text(
    "select count(*) filter (where not :unread_only or read_at is null) as total, "
    "count(*) filter (where read_at is null) as unread from api.notifications"
)
ONE_SQL = text(f"select {COLUMNS} from api.notifications where id = :id")


@blp.route("/notifications")
class NotificationsView(MethodView):
    @blp.arguments(schemas.NotificationQuery, location="query", error_status_code=400)
    @blp.response(200, schemas.NotificationPage)
    @blp.alt_response(401, description="Missing or invalid bearer token.")
    def get(self, args):
        """The student's notifications, newest first, with the total and the unread count.

        Listed as soon as they are generated (a push may wait for the end of the student's
        quiet hours); withdrawn ones (consent withdrawn, expired, no longer true) are not.
        """
        claims = require_student()
        page, size = args["page"], args["page_size"]
        params = {
            "unread_only": args["unread_only"],
            "limit": size,
            "offset": (page - 1) * size,
        }
        with db.transaction(claims) as conn:
            items = [r._asdict() for r in conn.execute(PAGE_SQL, params)]
            counts = conn.execute(COUNTS_SQL, params).one()
        return {
            "items": items,
            "total": counts.total,
            "unread_count": counts.unread,
            "page": page,
            "page_size": size,
        }


@blp.route("/notifications/<uuid:notification_id>/read")
class NotificationReadView(MethodView):
    @blp.response(200, schemas.Notification)
    @blp.alt_response(401, description="Missing or invalid bearer token.")
    @blp.alt_response(404, description="No such notification of this student.")
    def post(self, notification_id: UUID):
        """Mark one of the student's notifications read (again: keeps the first read time)."""
        claims = require_student()
        with db.transaction(claims) as conn:
            read_at = conn.execute(
                text("select api.mark_notification_read(:id)"), {"id": str(notification_id)}
            ).scalar()
            if read_at is None:
                abort(404, message="No such notification.")
            row = conn.execute(ONE_SQL, {"id": str(notification_id)}).one()
        return row._asdict()
