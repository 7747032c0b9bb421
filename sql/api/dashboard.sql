-- The api schema: all that the `authenticated` role can read, and how.
--
-- Why these views run with their owner's rights (security_invoker off), owned by dashboard_api:
-- a student may read their own row but not every column of it. Premium values (next billing
-- date, mentor feedback, ...) sit in the same cached row and must be unreadable to a student
-- whose tier does not unlock them, even with direct SQL. A security_invoker view would need
-- SELECT on the whole table for `authenticated`, and with it the raw premium columns. So
-- `authenticated` gets no privilege on serving.* at all, only on these views; the views read as
-- dashboard_api, which is still held to the forced row-level security policies (its policy is
-- user_id = auth.uid(), the request's claims), and each view also filters on auth.uid() itself.
-- dashboard_api owns nothing else and can write nothing.
--
-- Masking is decided here, at read time, by dashboard.entitlements(..., now()): a subscription
-- that expired a second ago is masked now, whatever the cache holds. Masked values are null and
-- their field names are listed in masked_fields.

-- Functions the views call run as the caller (authenticated): they are pure or read only the
-- tier configuration, and `authenticated` has no USAGE on schema dashboard, so it cannot call
-- them by name; the views can.
grant execute on function dashboard.entitlements(text, text, timestamptz, timestamptz, timestamptz),
  dashboard.quick_actions(dashboard.coach_facts, serving.student_mission_progress[],
                          timestamptz, text[], timestamptz),
  dashboard.deep_link(text, text)
  to authenticated, dashboard_api;

/*
 * api.dashboard: the student's dashboard row, masked by entitlement at read time.
 *   quick_actions      all actions (paid) or only the first (free, starter3 past its window)
 *   urgent_nudges      the urgent subset of the visible quick actions
 *   action_plan        every action with its reason, in order (ai_action_plan feature)
 *   cache_updated_at   when the row's data was last computed or confirmed by a full cycle
 */
create view api.dashboard with (security_barrier) as
select c.user_id, c.name, c.timezone, c.track_code, c.track_name,
       c.cohort_id, c.cohort_name, c.mentor_id, c.mentor_name,
       c.persona_name, c.persona_summary, c.identity_alignment_pct,
       c.readiness_score, c.readiness_trend_7d, c.readiness_delta_7d, c.time_to_ready_weeks,
       c.top_skill_gaps,
       c.current_streak, c.longest_streak, c.streak_at_risk, c.habits_active,
       c.habit_completion_pct_week,
       c.goals_active, c.goals_completed_today, c.goals_completed_week, c.goals_completed_pct_week,
       c.reflections_7d,
       c.completion_pct, c.modules_completed, c.modules_total,
       c.missions_not_started, c.missions_in_progress, c.missions_pending, c.missions_in_review,
       c.missions_approved, c.missions_failed, c.missions_changes_requested,
       c.portfolio_items_total, c.portfolio_items_approved, c.portfolio_health_pct,
       coalesce(c.tier, 'free')                      as tier,
       e.effective_tier,
       c.subscription_status,
       e.features                                    as entitlements,
       l.locked_features,
       l.masked_fields,
       case when 'enhanced_access_days' = any(e.features) then e.enhanced_access_days_left end
                                                     as enhanced_access_days_left,
       case when 'enhanced_access_days' = any(e.features) then e.enhanced_access_ends_at end
                                                     as enhanced_access_ends_at,
       case when 'next_billing_date' = any(e.features) then c.next_billing_at end
                                                     as next_billing_at,
       case when 'all_ai_recommendations' = any(e.features) then q.actions
            else jsonb_path_query_array(q.actions, '$[0]') end
                                                     as quick_actions,
       case when 'all_ai_recommendations' = any(e.features)
            then jsonb_path_query_array(q.actions, '$[*] ? (@.urgent == true)')
            else jsonb_path_query_array(q.actions, '$[0] ? (@.urgent == true)') end
                                                     as urgent_nudges,
       case when 'ai_action_plan' = any(e.features) then q.actions end
                                                     as action_plan,
       case when c.last_login_at > cyc.last_success_at - interval '30 days'
            then greatest(c.refreshed_at, cyc.last_success_at) else c.refreshed_at end
                                                     as cache_updated_at
  from serving.student_dashboard_cache c
  cross join lateral dashboard.entitlements(c.tier, c.subscription_status, c.period_end,
                                            c.enhanced_access_start, now()) e
  cross join lateral (
    select array(select f.feature from serving.features f
                  where f.feature <> all(e.features) order by 1) as locked_features,
           array(select mf from serving.features f cross join lateral unnest(f.masked_fields) mf
                  where f.feature <> all(e.features) order by 1) as masked_fields) l
  cross join lateral (
    select dashboard.quick_actions(
             row(c.current_streak, c.streak_at_risk, c.next_module, c.track_name, c.top_skill_gaps,
                 c.cohort_id, c.persona_name, c.portfolio_health_pct)::dashboard.coach_facts,
             array(select m from serving.student_mission_progress m where m.user_id = c.user_id),
             e.enhanced_access_ends_at, e.features, now()) as actions
     offset 0) q                  -- computed once, not once per column that uses it
  left join ops.refresh_state cyc on cyc.target = 'serving.student_dashboard_cache'
 where c.user_id = (select auth.uid());
alter view api.dashboard owner to dashboard_api;
grant select on api.dashboard to authenticated;
comment on view api.dashboard is 'The signed-in student''s dashboard, masked by entitlement at read time.';

/*
 * api.dashboard_prepared(): `select * from api.dashboard` with its plan kept for the session,
 * like a prepared statement. What the API reads. A query sent as text is planned at every
 * execution, and planning this view (entitlements, the coach's missions, quick actions,
 * masking: ~0.25 ms) cost half as much as running it. PL/pgSQL prepares its query once per
 * session; with no parameter the plan is the generic one, so each pooled connection plans the
 * view once. Nothing of a request is planned in: the student (auth.uid(), an initplan of the
 * view and of each policy) and now() are evaluated at every execution.
 * Runs as the caller (SECURITY INVOKER): the very view, with its owner's rights, the forced
 * row-level security and the view's own filter; a student calling it gets their own row only.
 */
create function api.dashboard_prepared() returns setof api.dashboard
language plpgsql stable rows 1 as $$
begin
  return query select * from api.dashboard;
end $$;
grant execute on function api.dashboard_prepared() to authenticated;
comment on function api.dashboard_prepared() is 'api.dashboard through a plan kept for the session (what the API reads).';
