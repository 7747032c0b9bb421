"""The benchmarks' floor: the same stack (token, pooled connection, request transaction with
role and claims) doing one primary-key SELECT. Registered only with OCH_BENCH_ENDPOINTS=1, so
bench/ can report each endpoint's throughput as a ratio to it (a ratio survives a noisy box)."""

from __future__ import annotations

from flask.views import MethodView
from flask_smorest import Blueprint
from sqlalchemy import text

from och_dashboard import db
from och_dashboard.api import schemas
from och_dashboard.auth import require_student

blp = Blueprint("bench", __name__, url_prefix="/api/v1/bench", description="Benchmark floor.")


@blp.route("/floor")
class Floor(MethodView):
    @blp.response(200, schemas.Health)
    def get(self):
        """One primary-key SELECT through the full request path."""
        claims = require_student()
        with db.transaction(claims) as conn:
            found = conn.execute(
                text("select user_id from api.profile where user_id = :id"), {"id": claims["sub"]}
            ).scalar()
        return {"status": "ok" if found else "missing"}
