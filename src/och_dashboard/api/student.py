"""The student endpoints, /api/v1/student/*. Each request: verify the token, open one short
transaction as `authenticated` with the token's claims, read the api schema, shape, return.
The student is only ever the token's sub: no endpoint takes a student id from the client."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from flask import current_app
from flask.views import MethodView
from flask_smorest import Blueprint, abort
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from och_dashboard import db, queueing
from och_dashboard.api import schemas
from och_dashboard.api.fastjson import Body
from och_dashboard.auth import require_student

blp = Blueprint(
    "student",
    __name__,
    url_prefix="/api/v1/student",
    description="The signed-in student's dashboard (Bearer JWT; the student is the token's sub).",
)

# api.dashboard_prepared(): api.dashboard with its plan kept for the session (sql/api/dashboard.sql)
DASHBOARD_SQL = text("select * from api.dashboard_prepared()")
PROFILE_SQL = text("select * from api.profile")
CURRICULUM_SQL = text("select * from api.curriculum_progress")
log = logging.getLogger(__name__)
ERRORS = {401: "Missing or invalid bearer token.", 404: "No such student upstream."}

# The read endpoints return their body ready-made: what the schema's dump would give, without
# marshmallow's per-request walk (fastjson.Body). @blp.response still documents each schema.
DASHBOARD_BODY = Body(schemas.Dashboard)
PROFILE_BODY = Body(schemas.Profile)
CURRICULUM_BODY = Body(schemas.CurriculumProgress)
MISSION_PAGE_BODY = Body(schemas.MissionPage)


def _read_own(conn, query):
    """The student's row from an api view; on a cold start (no cached row yet) the row is
    computed now, from the upstreams, and read again. One query in the common case."""
    row = conn.execute(query).one_or_none()
    if row is None:
        _cold_start(conn)
        row = conn.execute(query).one()
    return row


def _cold_start(conn) -> None:
    if not conn.execute(text("select api.refresh_my_dashboard()")).scalar():
        abort(404, message="No dashboard for this student.")


def _student(row) -> dict:
    return {
        "id": row.user_id,
        "name": row.name,
        "timezone": row.timezone,
        "track": {"code": row.track_code, "name": row.track_name},
        "cohort": {"id": row.cohort_id, "name": row.cohort_name} if row.cohort_id else None,
        "mentor": {"id": row.mentor_id, "name": row.mentor_name} if row.mentor_id else None,
    }


def shape_dashboard(row, stale: bool) -> dict:
    return {
        "student": _student(row),
        "today": {
            "readiness": {
                "score": row.readiness_score,
                "trend_7d": row.readiness_trend_7d,
                "delta_7d": row.readiness_delta_7d,
                "time_to_ready_weeks": row.time_to_ready_weeks,
                "top_skill_gaps": row.top_skill_gaps,
            },
            "habit_streak": {
                "current": row.current_streak,
                "longest": row.longest_streak,
                "at_risk": row.streak_at_risk,
            },
            "habits": {
                "active": row.habits_active,
                "completion_pct_week": row.habit_completion_pct_week,
            },
            "goals": {
                "active": row.goals_active,
                "completed_today": row.goals_completed_today,
                "completed_week": row.goals_completed_week,
                "completed_pct_week": row.goals_completed_pct_week,
            },
            "reflections_7d": row.reflections_7d,
        },
        "future_you": {
            "persona_name": row.persona_name,
            "persona_summary": row.persona_summary,
            "identity_alignment_pct": row.identity_alignment_pct,
        },
        "curriculum": {
            "completion_pct": row.completion_pct,
            "modules_completed": row.modules_completed,
            "modules_total": row.modules_total,
        },
        "missions": {stage: getattr(row, f"missions_{stage}") for stage in schemas.MISSION_STAGES},
        "portfolio": {
            "health_pct": row.portfolio_health_pct,
            "items_total": row.portfolio_items_total,
            "items_approved": row.portfolio_items_approved,
        },
        "quick_actions": row.quick_actions,
        "urgent_nudges": row.urgent_nudges,
        "action_plan": row.action_plan,
        "subscription": {
            "tier": row.tier,
            "effective_tier": row.effective_tier,
            "status": row.subscription_status,
            "entitlements": row.entitlements,
            "locked_features": row.locked_features,
            "masked_fields": row.masked_fields,
            "enhanced_access_days_left": row.enhanced_access_days_left,
            "enhanced_access_ends_at": row.enhanced_access_ends_at,
            "enhanced_access_warning": row.enhanced_access_days_left is not None
            and row.enhanced_access_days_left <= 14,
            "next_billing_at": row.next_billing_at,
        },
        "cache_updated_at": row.cache_updated_at,
        "stale": stale,
    }


@blp.route("/dashboard")
class DashboardView(MethodView):
    @blp.response(200, schemas.Dashboard)
    @blp.alt_response(401, description=ERRORS[401])
    @blp.alt_response(404, description=ERRORS[404])
    def get(self):
        """The student's dashboard: today, Future-You, quick actions, subscription.

        Served from the cache. Cold start (no cached row): computed now. Stale (older than two
        refresh periods: a missed cycle): served, and a refresh is queued (de-duplicated).
        """
        claims = require_student()
        settings = current_app.config["OCH_SETTINGS"]
        queued = None
        with db.transaction(claims) as conn:
            row = _read_own(conn, DASHBOARD_SQL)
            age = datetime.now(UTC) - row.cache_updated_at
            stale = age > timedelta(seconds=settings.stale_after_seconds)
            if stale:
                queued = conn.execute(text("select * from api.request_refresh()")).one()
        if queued is not None and queued.created:
            queueing.hand_to_worker(claims["sub"], queued.priority)
        return DASHBOARD_BODY.response(shape_dashboard(row, stale))


def shape_profile(row) -> dict:
    return {
        "student": _student(row),
        "future_you": {
            "persona_name": row.persona_name,
            "persona_summary": row.persona_summary,
            "identity_alignment_pct": row.identity_alignment_pct,
            "recommended_track_code": row.recommended_track_code,
            "skills_needed": row.skills_needed,
            "readiness_window_weeks": row.readiness_window_weeks,
        },
        "consent": {
            "share_with_mentor": row.share_with_mentor,
            "employer_share": row.employer_share,
            "public_portfolio": row.public_portfolio,
        },
        "public_profile_slug": row.public_profile_slug,
    }


@blp.route("/profile")
class ProfileView(MethodView):
    @blp.response(200, schemas.Profile)
    @blp.alt_response(401, description=ERRORS[401])
    @blp.alt_response(404, description=ERRORS[404])
    def get(self):
        """Name, track, cohort, mentor; Future-You persona and skills; consent settings."""
        claims = require_student()
        with db.transaction(claims) as conn:
            row = _read_own(conn, PROFILE_SQL)
        return PROFILE_BODY.response(shape_profile(row))


def shape_curriculum(row) -> dict:
    return {
        "track": {"code": row.track_code, "name": row.track_name},
        "completion_pct": row.completion_pct,
        "modules_completed": row.modules_completed,
        "modules_total": row.modules_total,
        "modules": row.modules,
        "next_module": row.next_module,
        "recommended_missions": row.recommended_missions,
    }


@blp.route("/curriculum/progress")
class CurriculumProgressView(MethodView):
    @blp.response(200, schemas.CurriculumProgress)
    @blp.alt_response(401, description=ERRORS[401])
    @blp.alt_response(404, description=ERRORS[404])
    def get(self):
        """Track, completion %, every module with progress and status, recommended missions."""
        claims = require_student()
        with db.transaction(claims) as conn:
            row = _read_own(conn, CURRICULUM_SQL)
        return CURRICULUM_BODY.response(shape_curriculum(row))


# Null when the student has no cached row yet (nothing synced): a cold start computes the rows,
# then the sync runs.
MISSIONS_SYNC_SQL = text("select api.sync_my_missions()")
# The page and the total in one query (the window counts every row that matches, before the
# limit), from api.missions_prepared(): api.missions with its plan kept for the session. A page
# past the end has no row to carry the total: MISSIONS_TOTAL_SQL then.
MISSIONS_SQL = text(
    """
    select *, count(*) over () as total from api.missions_prepared()
     where stage = any(:stages)
     order by deadline_at nulls last, mission_id
     limit :limit offset :offset
    """
)
MISSIONS_TOTAL_SQL = text("select count(*) from api.missions_prepared() where stage = any(:stages)")


def shape_mission_page(rows, total: int, page: int, size: int) -> dict:
    return {"items": [r._asdict() for r in rows], "total": total, "page": page, "page_size": size}


class MissionsSyncFailed(Exception):
    """The missions service failed the read's sync; the request transaction is lost with it."""


def _sync_missions(conn) -> None:
    """The student's submissions fresh from the missions service (computing the student's row
    first on a cold start). Any database error here aborts the transaction: raised as
    MissionsSyncFailed, so the caller reads the last synced rows in a new one."""
    try:
        if conn.execute(MISSIONS_SYNC_SQL).scalar() is None:
            _cold_start(conn)
            conn.execute(MISSIONS_SYNC_SQL)
    except DBAPIError as exc:
        raise MissionsSyncFailed(str(exc.orig or exc).strip()) from exc


def _mission_page(conn, params: dict, page: int) -> tuple[list, int]:
    rows = conn.execute(MISSIONS_SQL, params).all()
    if rows:
        return rows, rows[0].total
    if page == 1:
        return rows, 0
    return rows, conn.execute(MISSIONS_TOTAL_SQL, params).scalar()


@blp.route("/missions")
class MissionsView(MethodView):
    # An instance: given the class, webargs builds a new schema for every request.
    @blp.arguments(schemas.MissionQuery(), location="query", error_status_code=400)
    @blp.response(200, schemas.MissionPage)
    @blp.alt_response(401, description=ERRORS[401])
    @blp.alt_response(404, description=ERRORS[404])
    def get(self, args):
        """The mission funnel: stage, next action, reviews (masked per tier), deadlines.

        Synced from the missions service on every read, so a status change shows at once (the
        last synced rows while that service is down); seconds_to_deadline and overdue are
        computed at request time. Ordered by deadline, then mission id; paginated with a total.
        """
        claims = require_student()
        stages = list(args.get("status") or schemas.MISSION_STAGES)
        page, size = args["page"], args["page_size"]
        params = {"stages": stages, "limit": size, "offset": (page - 1) * size}
        try:
            with db.transaction(claims) as conn:
                _sync_missions(conn)
                rows, total = _mission_page(conn, params, page)
        except MissionsSyncFailed as failed:
            log.warning(
                "missions sync failed for %s, serving the last synced rows: %s",
                claims["sub"],
                failed,
            )
            with db.transaction(claims) as conn:
                _read_own(conn, PROFILE_SQL)  # a cold start still computes the row
                rows, total = _mission_page(conn, params, page)
        return MISSION_PAGE_BODY.response(shape_mission_page(rows, total, page, size))


@blp.route("/dashboard/actions")
class ActionsView(MethodView):
    @blp.arguments(schemas.ActionReport, error_status_code=400)
    @blp.response(202, schemas.ActionQueued)
    @blp.alt_response(401, description=ERRORS[401])
    def post(self, body):
        """Report what the student did; queues a refresh of their dashboard by priority.

        urgent > high > normal > low. One pending refresh per student: a new event raises the
        pending entry's priority instead of queueing twice. Urgent ones go to a worker at once.
        """
        claims = require_student()
        with db.transaction(claims) as conn:
            row = conn.execute(
                text("select * from api.report_action(:action)"), {"action": body["action"]}
            ).one()
        queueing.hand_to_worker(claims["sub"], row.priority)
        return {
            "queued": True,
            "queue_id": row.queue_id,
            "priority": row.priority,
            "deduplicated": not row.created,
        }
