/*
 * api.missions: the signed-in student's mission funnel, one row per mission, masked at read time:
 * ai_feedback needs full_ai_feedback, mentor_score and mentor_feedback need mentor_feedback.
 * seconds_to_deadline and overdue are computed from the database clock when read (accurate to
 * the second); overdue means the deadline passed and the work is not handed in.
 */
create view api.missions with (security_barrier) as
select m.user_id, m.mission_id, m.mission_code, m.title, m.difficulty, m.competencies,
       m.estimated_hours, m.stage, m.upstream_status, m.next_action,
       m.ai_score,
       case when 'full_ai_feedback' = any(e.features) then m.ai_feedback end     as ai_feedback,
       case when 'mentor_feedback' = any(e.features) then m.mentor_score end     as mentor_score,
       case when 'mentor_feedback' = any(e.features) then m.mentor_feedback end  as mentor_feedback,
       array_remove(array[case when not ('full_ai_feedback' = any(e.features)) then 'ai_feedback' end,
                          case when not ('mentor_feedback' = any(e.features)) then 'mentor_score' end,
                          case when not ('mentor_feedback' = any(e.features)) then 'mentor_feedback' end],
                    null)                                                      as masked_fields,
       m.deadline_at,
       floor(extract(epoch from m.deadline_at - now()))::bigint                as seconds_to_deadline,
       coalesce(m.deadline_at < now()
                and m.upstream_status in ('not_started', 'in_progress', 'draft', 'revised'), false)
                                                                               as overdue,
       m.submitted_at, m.reviewed_at,
       dashboard.deep_link('missions', m.mission_code)                         as deep_link,
       m.refreshed_at
  from (select c.user_id, ent.features
          from serving.student_dashboard_cache c
          cross join lateral dashboard.entitlements(c.tier, c.subscription_status, c.period_end,
                                                    c.enhanced_access_start, now()) ent
         where c.user_id = (select auth.uid())
        offset 0) e                -- the student's entitlements, computed once per query
  -- e.user_id is auth.uid(): joining on it saves a second call (each call of the SQL function
  -- auth.uid() in a query is planned anew, ~30 us); the rows' own policy still applies.
  join serving.student_mission_progress m on m.user_id = e.user_id;
alter view api.missions owner to dashboard_api;
grant select on api.missions to authenticated;
comment on view api.missions is 'The signed-in student''s missions with stage, next action and masked reviews.';

/* api.missions_prepared(): every row of api.missions, with the plan kept for the session (as
   api.dashboard_prepared: planning the view cost about as much as running it). What the API
   reads; it filters by stage, orders, counts and pages the student's rows itself. Runs as the
   caller. */
create function api.missions_prepared() returns setof api.missions
language plpgsql stable as $$
begin
  return query select * from api.missions;
end $$;
grant execute on function api.missions_prepared() to authenticated;
comment on function api.missions_prepared() is 'api.missions through a plan kept for the session (what the API reads).';

/* api.mission_stages(): the valid ?status= values, in funnel order. */
create or replace function api.mission_stages() returns text[]
language sql stable security definer set search_path = pg_catalog, pg_temp
as $$ select dashboard.mission_stages() $$;
grant execute on function api.mission_stages() to authenticated;

/* api.sync_my_missions() -> rows changed: the signed-in student's missions, fresh from upstream
   (dashboard.sync_student_missions); the API calls it before reading api.missions. Null, and
   nothing synced, while the student has no cached row: the API computes the row first (a cold
   start) and calls it again. A failing missions service fails the call (and the transaction):
   the API then reads the last synced rows in a new one. */
create or replace function api.sync_my_missions() returns bigint
language plpgsql security definer set search_path = pg_catalog, pg_temp as $$
declare
  v_user uuid := (select auth.uid());
begin
  if v_user is null then
    raise exception 'no authenticated student' using errcode = '28000';
  end if;
  if not exists (select from serving.student_dashboard_cache c where c.user_id = v_user) then
    return null;
  end if;
  return dashboard.sync_student_missions(v_user);
end $$;
grant execute on function api.sync_my_missions() to authenticated;
