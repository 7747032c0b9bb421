"""/healthz (the process is up) and /readyz (database and Redis reachable, snapshot ages,
upstreams), outside the student prefix and without a token."""

from __future__ import annotations

import logging

from flask import current_app
from flask.views import MethodView
from flask_smorest import Blueprint
from sqlalchemy import text

from och_dashboard import db, queueing
from och_dashboard.api import schemas

log = logging.getLogger(__name__)
blp = Blueprint("health", __name__, description="Liveness and readiness probes (no token).")


@blp.route("/healthz")
class Healthz(MethodView):
    @blp.response(200, schemas.Health)
    @blp.doc(security=[])
    def get(self):
        """The process is up."""
        return {"status": "ok"}


@blp.route("/readyz")
class Readyz(MethodView):
    @blp.response(200, schemas.ReadyReport)
    @blp.alt_response(503, schema=schemas.ReadyReport, description="Database unreachable.")
    @blp.doc(security=[])
    def get(self):
        """Database and Redis reachable; age of each snapshot; each upstream's last load.

        200 when the database answers (degraded when Redis is down, a snapshot is older than two
        refresh periods, or an upstream failed); 503 when the database does not answer.
        """
        settings = current_app.config["OCH_SETTINGS"]
        report = {"database": False, "redis": queueing.redis_ok(), "snapshots": [], "upstreams": []}
        try:
            with db.transaction(None) as conn:
                health = conn.execute(
                    text("select api.health_status(make_interval(secs => :s))"),
                    {"s": settings.stale_after_seconds},
                ).scalar()
            report.update(database=True, **health)
        except Exception:  # noqa: BLE001 - any failure means "not ready"
            log.warning("readiness: database unreachable", exc_info=True)
        healthy = (
            report["redis"]
            and all(not s["stale"] and s["ok"] for s in report["snapshots"])
            and all(u["ok"] for u in report["upstreams"])
        )
        if not report["database"]:
            report["status"] = "unavailable"
            return report, 503
        report["status"] = "ready" if healthy else "degraded"
        return report
