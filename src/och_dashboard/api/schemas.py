"""marshmallow schemas of every request argument and response, so the OpenAPI document is exact.

Times are ISO 8601 in UTC with a Z; field names are snake_case and stable.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

from marshmallow import Schema, fields, validate
from webargs.fields import DelimitedList

# The funnel stages, in order: dashboard.mission_stages() in SQL (a test keeps them equal).
MISSION_STAGES = (
    "not_started",
    "in_progress",
    "pending",
    "in_review",
    "approved",
    "failed",
    "changes_requested",
)
# The actions a client reports: api.action_priorities in SQL (a test keeps them equal).
ACTIONS = (
    "goal_completed",
    "habit_logged",
    "mission_started",
    "mission_submitted",
    "module_completed",
    "portfolio_item_added",
    "profile_updated",
    "reflection_created",
    "subscription_changed",
)


class UtcDateTime(fields.DateTime):
    """ISO 8601 in UTC with a trailing Z (seconds precision). Accepts datetimes and the ISO
    strings PostgreSQL writes into jsonb."""

    def _serialize(self, value, attr, obj, **kwargs):
        if value is None:
            return None
        if isinstance(value, str):
            value = datetime.fromisoformat(value)
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


class IsoDate(fields.Date):
    """A calendar date; accepts dates and ISO strings from jsonb."""

    def _serialize(self, value, attr, obj, **kwargs):
        if isinstance(value, str):
            value = date.fromisoformat(value)
        return super()._serialize(value, attr, obj, **kwargs)


class Base(Schema):
    class Meta:
        ordered = True


# --- shared pieces ---------------------------------------------------------------------------


class Ref(Base):
    id = fields.UUID(required=True)
    name = fields.String(allow_none=True)


class Track(Base):
    code = fields.String(allow_none=True)
    name = fields.String(allow_none=True)


class Action(Base):
    type = fields.String(required=True)
    title = fields.String(required=True)
    reason = fields.String(allow_none=True)
    priority = fields.Integer(required=True)
    urgent = fields.Boolean(required=True)
    due_at = UtcDateTime(allow_none=True)
    deep_link = fields.String(allow_none=True, metadata={"example": "och://missions/SIEM-01"})


class TrendPoint(Base):
    date = IsoDate(required=True)
    score = fields.Float(required=True)


class SkillGap(Base):
    skill = fields.String(required=True)
    score = fields.Float(required=True)
    target = fields.Float(required=True)
    gap = fields.Float(required=True)


# --- /dashboard ------------------------------------------------------------------------------


class Readiness(Base):
    score = fields.Float(allow_none=True)
    trend_7d = fields.List(fields.Nested(TrendPoint), required=True)
    delta_7d = fields.Float(allow_none=True)
    time_to_ready_weeks = fields.Integer(allow_none=True)
    top_skill_gaps = fields.List(fields.Nested(SkillGap), required=True)


class HabitStreak(Base):
    current = fields.Integer(required=True)
    longest = fields.Integer(required=True)
    at_risk = fields.Boolean(required=True)


class Habits(Base):
    active = fields.Integer(required=True)
    completion_pct_week = fields.Float(allow_none=True)


class Goals(Base):
    active = fields.Integer(required=True)
    completed_today = fields.Integer(required=True)
    completed_week = fields.Integer(required=True)
    completed_pct_week = fields.Float(allow_none=True)


class Today(Base):
    readiness = fields.Nested(Readiness, required=True)
    habit_streak = fields.Nested(HabitStreak, required=True)
    habits = fields.Nested(Habits, required=True)
    goals = fields.Nested(Goals, required=True)
    reflections_7d = fields.Integer(required=True)


class FutureYou(Base):
    persona_name = fields.String(allow_none=True)
    persona_summary = fields.String(allow_none=True)
    identity_alignment_pct = fields.Float(allow_none=True)


class CurriculumSummary(Base):
    completion_pct = fields.Float(allow_none=True)
    modules_completed = fields.Integer(required=True)
    modules_total = fields.Integer(required=True)


class Funnel(Base):
    not_started = fields.Integer(required=True)
    in_progress = fields.Integer(required=True)
    pending = fields.Integer(required=True)
    in_review = fields.Integer(required=True)
    approved = fields.Integer(required=True)
    failed = fields.Integer(required=True)
    changes_requested = fields.Integer(required=True)


class PortfolioSummary(Base):
    health_pct = fields.Float(allow_none=True)
    items_total = fields.Integer(required=True)
    items_approved = fields.Integer(required=True)


class Subscription(Base):
    tier = fields.String(required=True, metadata={"description": "The tier on record upstream."})
    effective_tier = fields.String(
        required=True,
        validate=validate.OneOf(["free", "starter3", "professional7"]),
        metadata={"description": "The tier in force now (free when expired or unknown)."},
    )
    status = fields.String(allow_none=True)
    entitlements = fields.List(fields.String(), required=True)
    locked_features = fields.List(fields.String(), required=True)
    masked_fields = fields.List(
        fields.String(),
        required=True,
        metadata={
            "description": "Fields withheld by the tier (null here): what an upgrade unlocks."
        },
    )
    enhanced_access_days_left = fields.Integer(allow_none=True)
    enhanced_access_ends_at = UtcDateTime(allow_none=True)
    enhanced_access_warning = fields.Boolean(
        required=True, metadata={"description": "14 or fewer days of enhanced access left."}
    )
    next_billing_at = UtcDateTime(allow_none=True)


class Student(Base):
    id = fields.UUID(required=True)
    name = fields.String(allow_none=True)
    timezone = fields.String(required=True)
    track = fields.Nested(Track, required=True)
    cohort = fields.Nested(Ref, allow_none=True)
    mentor = fields.Nested(Ref, allow_none=True)


class Dashboard(Base):
    student = fields.Nested(Student, required=True)
    today = fields.Nested(Today, required=True)
    future_you = fields.Nested(FutureYou, required=True)
    curriculum = fields.Nested(CurriculumSummary, required=True)
    missions = fields.Nested(Funnel, required=True)
    portfolio = fields.Nested(PortfolioSummary, required=True)
    quick_actions = fields.List(fields.Nested(Action), required=True)
    urgent_nudges = fields.List(fields.Nested(Action), required=True)
    action_plan = fields.List(fields.Nested(Action), allow_none=True)
    subscription = fields.Nested(Subscription, required=True)
    cache_updated_at = UtcDateTime(required=True)
    stale = fields.Boolean(
        required=True,
        metadata={
            "description": "cache_updated_at is more than two refresh periods old (a missed "
            "cycle); a refresh of this student has been queued"
        },
    )


# --- /profile --------------------------------------------------------------------------------


class Consent(Base):
    share_with_mentor = fields.Boolean(allow_none=True)
    employer_share = fields.Boolean(allow_none=True)
    public_portfolio = fields.Boolean(allow_none=True)


class FutureYouProfile(FutureYou):
    recommended_track_code = fields.String(allow_none=True)
    skills_needed = fields.List(fields.String(), allow_none=True)
    readiness_window_weeks = fields.Integer(allow_none=True)


class Profile(Base):
    student = fields.Nested(Student, required=True)
    future_you = fields.Nested(FutureYouProfile, required=True)
    consent = fields.Nested(Consent, required=True)
    public_profile_slug = fields.String(allow_none=True)


# --- /curriculum/progress --------------------------------------------------------------------


class Module(Base):
    module_id = fields.UUID(required=True)
    position = fields.Integer(required=True)
    title = fields.String(required=True)
    progress_pct = fields.Float(required=True)
    status = fields.String(
        required=True, validate=validate.OneOf(["not_started", "in_progress", "completed"])
    )
    completed_at = UtcDateTime(allow_none=True)
    deep_link = fields.String(required=True)


class NextModule(Base):
    module_id = fields.UUID(required=True)
    position = fields.Integer(required=True)
    title = fields.String(required=True)
    progress_pct = fields.Float(required=True)
    deep_link = fields.String(required=True)


class RecommendedMission(Base):
    mission_code = fields.String(required=True)
    title = fields.String(allow_none=True)
    rank = fields.Integer(required=True)
    reason = fields.String(allow_none=True)
    difficulty = fields.String(allow_none=True)
    estimated_hours = fields.Float(allow_none=True)
    deep_link = fields.String(required=True)


class CurriculumProgress(Base):
    track = fields.Nested(Track, required=True)
    completion_pct = fields.Float(allow_none=True)
    modules_completed = fields.Integer(required=True)
    modules_total = fields.Integer(required=True)
    modules = fields.List(fields.Nested(Module), required=True)
    next_module = fields.Nested(NextModule, allow_none=True)
    recommended_missions = fields.List(fields.Nested(RecommendedMission), required=True)


# --- /missions -------------------------------------------------------------------------------


class MissionQuery(Base):
    status = DelimitedList(
        fields.String(validate=validate.OneOf(MISSION_STAGES)),
        validate=validate.Length(min=1, max=len(MISSION_STAGES)),
        metadata={
            "description": "Comma-separated funnel stages (default: all).",
            "example": "pending,in_review",
        },
    )
    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=10_000))
    page_size = fields.Integer(load_default=20, validate=validate.Range(min=1, max=100))


class Mission(Base):
    mission_id = fields.UUID(required=True)
    mission_code = fields.String(required=True)
    title = fields.String(required=True)
    difficulty = fields.String(allow_none=True)
    competencies = fields.List(fields.String(), required=True)
    estimated_hours = fields.Float(allow_none=True)
    stage = fields.String(required=True, validate=validate.OneOf(MISSION_STAGES))
    next_action = fields.String(
        required=True,
        validate=validate.OneOf(["start", "submit", "await_review", "revise", "complete_next"]),
    )
    ai_score = fields.Float(allow_none=True)
    ai_feedback = fields.String(allow_none=True)
    mentor_score = fields.Float(allow_none=True)
    mentor_feedback = fields.String(allow_none=True)
    masked_fields = fields.List(fields.String(), required=True)
    deadline_at = UtcDateTime(allow_none=True)
    seconds_to_deadline = fields.Integer(allow_none=True)
    overdue = fields.Boolean(required=True)
    submitted_at = UtcDateTime(allow_none=True)
    reviewed_at = UtcDateTime(allow_none=True)
    deep_link = fields.String(required=True)


class MissionPage(Base):
    items = fields.List(fields.Nested(Mission), required=True)
    total = fields.Integer(required=True)
    page = fields.Integer(required=True)
    page_size = fields.Integer(required=True)


# --- POST /dashboard/actions -----------------------------------------------------------------


class ActionReport(Base):
    action = fields.String(required=True, validate=validate.OneOf(ACTIONS))


class ActionQueued(Base):
    queued = fields.Boolean(required=True)
    queue_id = fields.Integer(required=True)
    priority = fields.String(
        required=True, validate=validate.OneOf(["urgent", "high", "normal", "low"])
    )
    deduplicated = fields.Boolean(
        required=True,
        metadata={"description": "An entry was already pending: its priority was raised."},
    )


# --- /dashboard/stream ------------------------------------------------------------------------


class StreamQuery(Base):
    # No length validator: a malformed ticket is an invalid credential (401, as an unknown one
    # is), not a 400 describing tickets to an anonymous caller; the view checks the length.
    ticket = fields.String(
        metadata={"description": "A ticket from POST /dashboard/stream/ticket (EventSource)."},
    )


class StreamTicket(Base):
    ticket = fields.String(required=True)
    expires_in = fields.Integer(required=True, metadata={"description": "Seconds."})


# --- health ----------------------------------------------------------------------------------


class Health(Base):
    status = fields.String(required=True)


class Snapshot(Base):
    name = fields.String(required=True)
    age_seconds = fields.Float(allow_none=True)
    stale = fields.Boolean(required=True)
    ok = fields.Boolean(required=True)


class UpstreamHealth(Base):
    service = fields.String(required=True)
    ok = fields.Boolean(required=True)


class ReadyReport(Base):
    status = fields.String(
        required=True, validate=validate.OneOf(["ready", "degraded", "unavailable"])
    )
    database = fields.Boolean(required=True)
    redis = fields.Boolean(required=True)
    snapshots = fields.List(fields.Nested(Snapshot), required=True)
    upstreams = fields.List(fields.Nested(UpstreamHealth), required=True)


# --- POST /habits/logs:sync (offline habit logging) ------------------------------------------

# api.sync_habit_logs / dashboard.sync_habit_logs in SQL (sql/functions/habit_sync.sql).
HABIT_LOG_STATUSES = ("completed", "skipped", "missed")
HABIT_SYNC_MAX_LOGS = 100
HABIT_SYNC_OUTCOMES = ("accepted", "duplicate", "rejected")
HABIT_SYNC_REASONS = (
    "invalid",
    "duplicate_in_batch",
    "conflict",
    "not_your_habit",
    "unknown_habit",
    "future_date",
    "too_old",
)


class HabitLogIn(Base):
    id = fields.UUID(
        required=True,
        metadata={"description": "Generated by the client: the log's identity (idempotency)."},
    )
    habit_id = fields.UUID(required=True)
    log_date = fields.Date(
        required=True, metadata={"description": "The student's local calendar day the log is for."}
    )
    status = fields.String(required=True, validate=validate.OneOf(HABIT_LOG_STATUSES))
    logged_at = fields.AwareDateTime(
        required=True,
        default_timezone=UTC,
        metadata={
            "description": "When the client recorded it (ISO 8601; UTC when no offset). "
            "Of several logs for one habit and day, the latest decides."
        },
    )


class HabitLogSync(Base):
    logs = fields.List(
        fields.Nested(HabitLogIn),
        required=True,
        validate=validate.Length(max=HABIT_SYNC_MAX_LOGS),
        metadata={"description": f"At most {HABIT_SYNC_MAX_LOGS} logs per batch."},
    )


class HabitLogResult(Base):
    id = fields.UUID(required=True)
    outcome = fields.String(required=True, validate=validate.OneOf(HABIT_SYNC_OUTCOMES))
    reason = fields.String(
        allow_none=True,
        validate=validate.OneOf(HABIT_SYNC_REASONS),
        metadata={"description": "Why it was rejected (null unless rejected)."},
    )


class HabitStreakResult(Base):
    habit_id = fields.UUID(required=True)
    frequency = fields.String(required=True, validate=validate.OneOf(["daily", "weekly"]))
    current_streak = fields.Integer(required=True)
    longest_streak = fields.Integer(required=True)
    at_risk = fields.Boolean(required=True)


class SyncedDashboard(Base):
    current_streak = fields.Integer(required=True)
    longest_streak = fields.Integer(required=True)
    streak_at_risk = fields.Boolean(required=True)
    refreshed_at = UtcDateTime(required=True)


class HabitLogSyncResult(Base):
    results = fields.List(
        fields.Nested(HabitLogResult),
        required=True,
        metadata={"description": "One per log sent, in the order sent."},
    )
    streaks = fields.List(
        fields.Nested(HabitStreakResult),
        required=True,
        metadata={"description": "Every active habit, from all its logs, as of as_of."},
    )
    dashboard = fields.Nested(
        SyncedDashboard,
        allow_none=True,
        metadata={"description": "The student's dashboard figures, refreshed by this sync."},
    )
    timezone = fields.String(
        required=True, metadata={"description": "The zone the local days are counted in."}
    )
    as_of = UtcDateTime(required=True, metadata={"description": "The instant of the streaks."})


# --- /notifications (push notification inbox) ------------------------------------------------

NOTIFICATION_KINDS = (
    "mission_deadline",
    "streak_at_risk",
    "changes_requested",
    "mentor_feedback",
    "enhanced_access_ending",
)


class NotificationQuery(Base):
    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=10_000))
    page_size = fields.Integer(load_default=20, validate=validate.Range(min=1, max=100))
    unread_only = fields.Boolean(
        load_default=False, metadata={"description": "Only notifications not marked read."}
    )


class Notification(Base):
    id = fields.UUID(required=True)
    kind = fields.String(required=True, validate=validate.OneOf(NOTIFICATION_KINDS))
    subject = fields.String(
        required=True, metadata={"description": "What it is about, e.g. the mission code."}
    )
    title = fields.String(required=True)
    body = fields.String(required=True)
    deep_link = fields.String(required=True, metadata={"example": "och://missions/SIEM-01"})
    urgent = fields.Boolean(required=True)
    data = fields.Dict(
        required=True, metadata={"description": "Facts behind it (deadline, streak, end date)."}
    )
    created_at = UtcDateTime(required=True)
    read = fields.Boolean(required=True)
    read_at = UtcDateTime(allow_none=True)
    pushed_at = UtcDateTime(
        allow_none=True,
        metadata={"description": "When the push gateway accepted it (null: not pushed yet)."},
    )


class NotificationPage(Base):
    items = fields.List(fields.Nested(Notification), required=True)
    total = fields.Integer(required=True)
    unread_count = fields.Integer(
        required=True, metadata={"description": "Unread notifications in all pages."}
    )
    page = fields.Integer(required=True)
    page_size = fields.Integer(required=True)
