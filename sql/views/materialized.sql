/*
 * The materialized views: one per domain, each materialising the plain view of the same name
 * (mv_X = select * from v_X), and v_student_dashboard joining them: one row per student.
 *
 * Created WITH NO DATA (the first refresh is plain: dashboard.populate_matviews). Each has a
 * unique index on plain columns without WHERE, which REFRESH ... CONCURRENTLY requires; readers
 * are never blocked by a concurrent refresh. They carry no RLS (PostgreSQL rejects it on
 * materialized views), so they live in the private dashboard schema: owner, worker (through
 * SECURITY DEFINER functions) and analysts only. A failed refresh of one leaves its last good
 * snapshot and the other domains alone (dashboard.refresh_matview).
 *
 * autovacuum: a concurrent refresh rewrites every changed row (dead tuples equal to the change);
 * vacuum them early rather than letting a refresh cycle double the view's size.
 */
create materialized view dashboard.mv_identity
  with (autovacuum_vacuum_scale_factor = 0.02, autovacuum_analyze_scale_factor = 0.05)
  as select * from dashboard.v_identity with no data;
create unique index mv_identity_key on dashboard.mv_identity (user_id);

create materialized view dashboard.mv_future_you
  with (autovacuum_vacuum_scale_factor = 0.02, autovacuum_analyze_scale_factor = 0.05)
  as select * from dashboard.v_future_you with no data;
create unique index mv_future_you_key on dashboard.mv_future_you (user_id);

create materialized view dashboard.mv_coaching_summary
  with (autovacuum_vacuum_scale_factor = 0.02, autovacuum_analyze_scale_factor = 0.05)
  as select * from dashboard.v_coaching_summary with no data;
create unique index mv_coaching_summary_key on dashboard.mv_coaching_summary (user_id);

/* The curriculum's summary: dashboard.v_curriculum_summary, generated from that view's own
   definition (so the formulas stay in one place) with the module rows the cycle merged just
   before (serving.student_module_progress, step merge:serving.student_module_progress) in place
   of the live dashboard.v_module_progress. The live view joins every student's 40 modules to
   the progress rows again: 7.2 s at 100,000 students, against 1.5 s for one aggregate of the
   merged rows. The module lists and recommended missions are served from their own tables
   (serving.student_module_progress, serving.student_curriculum), not from here. */
do $$
declare
  v_live text := rtrim(pg_get_viewdef('dashboard.v_curriculum_summary'::regclass), '; ');
  v_rows text := replace(v_live, 'dashboard.v_module_progress ', 'serving.student_module_progress ');
begin
  if v_rows = v_live then
    raise exception 'dashboard.v_curriculum_summary no longer reads dashboard.v_module_progress';
  end if;
  execute 'create materialized view dashboard.mv_curriculum_progress '
       || 'with (autovacuum_vacuum_scale_factor = 0.02, autovacuum_analyze_scale_factor = 0.05) as '
       || v_rows || ' with no data';
end $$;
create unique index mv_curriculum_progress_key on dashboard.mv_curriculum_progress (user_id);

/* dashboard.v_curriculum_snapshot: v_curriculum_progress as of the last refresh of
   mv_curriculum_progress, with the recommended missions: what the curriculum rows' full merge
   reads when that refresh is current, so the cycle aggregates the four million (student,
   module) rows of 100,000 students once, not twice. */
create view dashboard.v_curriculum_snapshot as
select cp.*, coalesce(rm.recommended_missions, '[]') as recommended_missions
  from dashboard.mv_curriculum_progress cp
  left join dashboard.v_recommended_missions rm on rm.user_id = cp.user_id;

create materialized view dashboard.mv_mission_funnel
  with (autovacuum_vacuum_scale_factor = 0.02, autovacuum_analyze_scale_factor = 0.05)
  as select * from dashboard.v_mission_funnel with no data;
create unique index mv_mission_funnel_key on dashboard.mv_mission_funnel (user_id);

create materialized view dashboard.mv_portfolio_health
  with (autovacuum_vacuum_scale_factor = 0.02, autovacuum_analyze_scale_factor = 0.05)
  as select * from dashboard.v_portfolio_health with no data;
create unique index mv_portfolio_health_key on dashboard.mv_portfolio_health (user_id);

create materialized view dashboard.mv_readiness
  with (autovacuum_vacuum_scale_factor = 0.02, autovacuum_analyze_scale_factor = 0.05)
  as select * from dashboard.v_readiness with no data;
create unique index mv_readiness_key on dashboard.mv_readiness (user_id);

create materialized view dashboard.mv_subscription
  with (autovacuum_vacuum_scale_factor = 0.02, autovacuum_analyze_scale_factor = 0.05)
  as select * from dashboard.v_subscription with no data;
create unique index mv_subscription_key on dashboard.mv_subscription (user_id);

/*
 * dashboard.v_student_dashboard: one row per student, every domain's materialized view joined
 * (a student missing from a domain gets that domain's defaults). Its columns are the cache's
 * columns (serving.student_dashboard_cache) but refreshed_at; the cycle merges the cache from
 * it. The curriculum's detail (the modules, the recommended missions) is not here: it is served
 * from serving.student_curriculum and serving.student_module_progress (migrations 0010, 0015).
 *
 * A plain view, not materialized: it was a ninth materialized view, and its concurrent refresh
 * recomputed and diffed every student's row after any domain changed, to be diffed once more by
 * the cache merge (at 100,000 students 4.3-5.4 s of a 1% cycle and 8.6-12.0 s of a 100% one,
 * against 3.0 s for the join itself). The join is as current as the domain views it reads.
 */
create view dashboard.v_student_dashboard as
select i.user_id, i.name, i.timezone, i.track_code, cp.track_name, i.cohort_id, i.cohort_name,
       i.mentor_id, i.mentor_name, i.share_with_mentor, i.employer_share, i.public_portfolio,
       i.push_opt_in, i.last_login_at, i.active,
       fy.persona_name, fy.persona_summary, fy.recommended_track_code, fy.skills_needed,
       fy.identity_alignment_pct, fy.readiness_window_weeks,
       coalesce(cs.current_streak, 0) as current_streak,
       coalesce(cs.longest_streak, 0) as longest_streak,
       coalesce(cs.streak_at_risk, false) as streak_at_risk,
       coalesce(cs.habits_active, 0) as habits_active,
       cs.habit_completion_pct_week,
       coalesce(cs.goals_active, 0) as goals_active,
       coalesce(cs.goals_completed_today, 0) as goals_completed_today,
       coalesce(cs.goals_completed_week, 0) as goals_completed_week,
       cs.goals_completed_pct_week,
       coalesce(cs.reflections_7d, 0) as reflections_7d,
       cp.completion_pct,
       coalesce(cp.modules_total, 0) as modules_total,
       coalesce(cp.modules_completed, 0) as modules_completed,
       cp.next_module,
       coalesce(mf.missions_not_started, 0) as missions_not_started,
       coalesce(mf.missions_in_progress, 0) as missions_in_progress,
       coalesce(mf.missions_pending, 0) as missions_pending,
       coalesce(mf.missions_in_review, 0) as missions_in_review,
       coalesce(mf.missions_approved, 0) as missions_approved,
       coalesce(mf.missions_failed, 0) as missions_failed,
       coalesce(mf.missions_changes_requested, 0) as missions_changes_requested,
       coalesce(ph.portfolio_items_total, 0) as portfolio_items_total,
       coalesce(ph.portfolio_items_approved, 0) as portfolio_items_approved,
       ph.portfolio_health_pct,
       ph.public_profile_slug,
       rd.readiness_score,
       coalesce(rd.readiness_trend_7d, '[]') as readiness_trend_7d,
       rd.readiness_delta_7d,
       rd.time_to_ready_weeks,
       coalesce(rd.top_skill_gaps, '[]') as top_skill_gaps,
       sb.tier, sb.subscription_status, sb.period_end, sb.enhanced_access_start, sb.next_billing_at
  from dashboard.mv_identity i
  left join dashboard.mv_future_you fy on fy.user_id = i.user_id
  left join dashboard.mv_coaching_summary cs on cs.user_id = i.user_id
  left join dashboard.mv_curriculum_progress cp on cp.user_id = i.user_id
  left join dashboard.mv_mission_funnel mf on mf.user_id = i.user_id
  left join dashboard.mv_portfolio_health ph on ph.user_id = i.user_id
  left join dashboard.mv_readiness rd on rd.user_id = i.user_id
  left join dashboard.mv_subscription sb on sb.user_id = i.user_id;
comment on view dashboard.v_student_dashboard is
  'One row per student joining every domain materialized view (the cache is merged from it).';

/*
 * dashboard.v_student_dashboard_live: the same SELECT as v_student_dashboard over the plain
 * domain views (v_X for mv_X), so filtering it by user_id computes one student's row from
 * staging right now (cold start, per-student refresh). Generated from the materialized view's
 * own definition so the two can never drift apart.
 */
do $$
begin
  execute 'create view dashboard.v_student_dashboard_live as '
       || replace(pg_get_viewdef('dashboard.v_student_dashboard'::regclass), 'dashboard.mv_', 'dashboard.v_');
end $$;
comment on view dashboard.v_student_dashboard_live is
  'v_student_dashboard computed live from the plain domain views (filter by user_id).';
