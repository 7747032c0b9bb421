-- Serving tables: what the API reads, one row per student (the dashboard cache) and one per
-- student x mission. Row-level security is enabled and forced in sql/policies/. Columns are
-- typed so analysts and the masking views can read them directly.
create schema serving;
revoke all on schema serving from public;

create table serving.student_dashboard_cache (
  user_id                   uuid primary key,
  name                      text,
  timezone                  text not null default 'UTC',   -- effective IANA zone (UTC fallback)
  track_code                text,
  track_name                text,
  cohort_id                 uuid,
  cohort_name               text,
  mentor_id                 uuid,
  mentor_name               text,
  share_with_mentor         boolean,
  employer_share            boolean,
  public_portfolio          boolean,
  last_login_at             timestamptz,
  -- profiler
  persona_name              text,
  persona_summary           text,
  recommended_track_code    text,
  skills_needed             text[],
  identity_alignment_pct    numeric(5,2),
  readiness_window_weeks    integer,
  -- coaching
  current_streak            integer not null default 0,
  longest_streak            integer not null default 0,
  streak_at_risk            boolean not null default false,
  habits_active             integer not null default 0,
  habit_completion_pct_week numeric(5,2),
  goals_active              integer not null default 0,
  goals_completed_today     integer not null default 0,
  goals_completed_week      integer not null default 0,
  goals_completed_pct_week  numeric(5,2),
  reflections_7d            integer not null default 0,
  -- curriculum
  completion_pct            numeric(5,2),
  modules_total             integer not null default 0,
  modules_completed         integer not null default 0,
  modules                   jsonb not null default '[]',
  next_module               jsonb,
  recommended_missions      jsonb not null default '[]',
  -- missions (funnel counts)
  missions_not_started      integer not null default 0,
  missions_in_progress      integer not null default 0,
  missions_pending          integer not null default 0,
  missions_in_review        integer not null default 0,
  missions_approved         integer not null default 0,
  missions_failed           integer not null default 0,
  missions_changes_requested integer not null default 0,
  -- portfolio
  portfolio_items_total     integer not null default 0,
  portfolio_items_approved  integer not null default 0,
  portfolio_health_pct      numeric(5,2),
  public_profile_slug       text,
  -- talentscope
  readiness_score           numeric(5,2),
  readiness_trend_7d        jsonb not null default '[]',
  readiness_delta_7d        numeric(6,2),
  time_to_ready_weeks       integer,
  top_skill_gaps            jsonb not null default '[]',
  -- subscriptions (raw: entitlements are decided at read time, see dashboard.entitlements)
  tier                      text,
  subscription_status       text,
  period_end                timestamptz,
  enhanced_access_start     timestamptz,
  next_billing_at           timestamptz,
  -- when this row was last recomputed (per student) or merged (full cycle)
  refreshed_at              timestamptz not null default now()
);

create table serving.student_mission_progress (
  user_id          uuid not null,
  mission_id       uuid not null,
  mission_code     text not null,
  title            text not null,
  difficulty       text,
  competencies     text[] not null default '{}',
  estimated_hours  numeric(5,1),
  upstream_status  text not null,
  stage            text not null,
  next_action      text not null,
  ai_score         numeric(5,2),
  ai_feedback      text,
  mentor_score     numeric(5,2),
  mentor_feedback  text,
  deadline_at      timestamptz,
  started_at       timestamptz,
  submitted_at     timestamptz,
  reviewed_at      timestamptz,
  source_updated_at timestamptz,
  refreshed_at     timestamptz not null default now(),
  primary key (user_id, mission_id)
);
-- The policy column leads both primary keys; the missions endpoint pages by (deadline, id).
create index on serving.student_mission_progress (user_id, stage, deadline_at, mission_id);

-- Entitlements as data: which tier unlocks which feature. Features marked enhanced_window_only
-- are unlocked only inside the tier's enhanced-access window (starter3: 180 days from its start).
create table serving.features (
  feature      text primary key,
  description  text not null,
  masked_fields text[] not null          -- the response fields that are null without it
);

create table serving.tier_features (
  tier                  text not null,
  feature               text not null references serving.features (feature),
  enhanced_window_only  boolean not null default false,
  primary key (tier, feature)
);

create table serving.tiers (
  tier                  text primary key,
  rank                  integer not null unique,
  enhanced_access_days  integer                 -- length of the enhanced window (null: none/unbounded)
);

insert into serving.tiers (tier, rank, enhanced_access_days) values
  ('free', 0, null), ('starter3', 1, 180), ('professional7', 2, null);

insert into serving.features (feature, description, masked_fields) values
  ('enhanced_access_days', 'Days left of enhanced access', array['enhanced_access_days_left', 'enhanced_access_ends_at']),
  ('next_billing_date', 'Next billing date', array['next_billing_at']),
  ('all_ai_recommendations', 'Every AI coach recommendation, not only the first', array['quick_actions[1:]']),
  ('ai_action_plan', 'The AI coach''s action plan (urgent nudges and reasons)', array['action_plan']),
  ('full_ai_feedback', 'The AI reviewer''s full feedback on submissions', array['ai_feedback']),
  ('mentor_feedback', 'Mentor review scores and feedback', array['mentor_score', 'mentor_feedback']),
  ('unlimited_missions', 'Missions beyond the free allowance', array[]::text[]);

insert into serving.tier_features (tier, feature, enhanced_window_only) values
  ('starter3', 'enhanced_access_days', true),
  ('starter3', 'next_billing_date', false),
  ('starter3', 'all_ai_recommendations', true),
  ('starter3', 'ai_action_plan', true),
  ('starter3', 'full_ai_feedback', true),
  ('starter3', 'unlimited_missions', true),
  ('professional7', 'next_billing_date', false),
  ('professional7', 'all_ai_recommendations', false),
  ('professional7', 'ai_action_plan', false),
  ('professional7', 'full_ai_feedback', false),
  ('professional7', 'mentor_feedback', false),
  ('professional7', 'unlimited_missions', false);
