-- Pseudonymous views for analysts: no names, emails or raw ids. A student appears as a stable
-- pseudonym (an md5 of the id), enough to count and join these views, not to find the person.
-- Read by dashboard_analyst (and dashboard_dba); documented with COMMENT ON for BI tools.

/* analytics.students: one row per student, no identifying data. */
create view analytics.students as
select md5(m.user_id::text)            as student_key,
       m.track_code, m.cohort_name, coalesce(e.effective_tier, 'free') as effective_tier,
       m.active, m.current_streak, m.longest_streak, m.readiness_score, m.completion_pct,
       m.portfolio_health_pct, m.identity_alignment_pct
  from dashboard.v_student_dashboard m
  cross join lateral dashboard.entitlements(m.tier, m.subscription_status, m.period_end,
                                            m.enhanced_access_start, now()) e;
comment on view analytics.students is
  'One pseudonymous row per student (student_key = md5 of the id): track, cohort, effective tier, streaks, readiness, completion.';

/* analytics.mission_funnel_by_cohort: submissions per funnel stage, by cohort and track. */
create view analytics.mission_funnel_by_cohort as
select coalesce(i.cohort_name, '(no cohort)') as cohort_name, i.track_code, p.stage,
       count(*) as missions, count(distinct p.user_id) as students,
       round(avg(p.ai_score), 2) as avg_ai_score, round(avg(p.mentor_score), 2) as avg_mentor_score
  from serving.student_mission_progress p
  join dashboard.mv_identity i on i.user_id = p.user_id
 group by 1, 2, 3;
comment on view analytics.mission_funnel_by_cohort is
  'Missions and students per funnel stage, by cohort and track, with average AI and mentor scores.';

/* analytics.readiness_distribution: students per 10-point readiness band, by track. */
create view analytics.readiness_distribution as
select track_code, (floor(readiness_score / 10) * 10)::integer as band_from, count(*) as students
  from dashboard.v_student_dashboard
 where readiness_score is not null
 group by 1, 2;
comment on view analytics.readiness_distribution is
  'Students per readiness band (band_from .. band_from + 9), by track.';

/* analytics.streak_distribution: students by current streak length bucket. */
create view analytics.streak_distribution as
select case when current_streak = 0 then '0'
            when current_streak < 7 then '1-6'
            when current_streak < 30 then '7-29'
            when current_streak < 90 then '30-89'
            else '90+' end as current_streak_bucket,
       count(*) as students,
       count(*) filter (where streak_at_risk) as at_risk_today
  from dashboard.v_student_dashboard
 group by 1;
comment on view analytics.streak_distribution is
  'Students per current-streak bucket and how many of them are at risk today.';

/* analytics.tier_mix: students per effective tier (now) and per tier on record. */
create view analytics.tier_mix as
select coalesce(m.tier, '(none)') as tier_on_record, e.effective_tier, count(*) as students
  from dashboard.v_student_dashboard m
  cross join lateral dashboard.entitlements(m.tier, m.subscription_status, m.period_end,
                                            m.enhanced_access_start, now()) e
 group by 1, 2;
comment on view analytics.tier_mix is
  'Students per tier on record and effective tier now (expired, cancelled or unknown tiers count as free).';

grant select on all tables in schema analytics to dashboard_analyst, dashboard_dba;
-- Analysts also read the domain materialized views (they carry no RLS, and these roles are
-- trusted with them; authenticated and anon never are).
grant select on dashboard.mv_identity, dashboard.mv_future_you, dashboard.mv_coaching_summary,
  dashboard.mv_curriculum_progress, dashboard.mv_mission_funnel, dashboard.mv_portfolio_health,
  dashboard.mv_readiness, dashboard.mv_subscription, dashboard.v_student_dashboard
  to dashboard_analyst, dashboard_dba;
-- The curriculum's per-module detail is not materialized (mv_curriculum_progress holds the
-- summary, as of the last cycle): the live views compute it and the summary, for the students
-- a query filters on.
grant select on dashboard.v_curriculum_summary, dashboard.v_curriculum_progress,
  dashboard.v_module_progress to dashboard_analyst, dashboard_dba;
grant execute on function dashboard.deep_link(text, text) to dashboard_analyst, dashboard_dba;
grant execute on function dashboard.entitlements(text, text, timestamptz, timestamptz, timestamptz)
  to dashboard_analyst, dashboard_dba;
