-- Writes a student may cause, each a SECURITY DEFINER function acting only on auth.uid().

/* The client-reported actions and the refresh priority each one earns. */
create table api.action_priorities (action text primary key, priority ops.update_priority not null);
insert into api.action_priorities values
  ('subscription_changed', 'urgent'),
  ('mission_submitted', 'urgent'),
  ('mission_started', 'high'),
  ('habit_logged', 'high'),
  ('goal_completed', 'high'),
  ('module_completed', 'normal'),
  ('reflection_created', 'normal'),
  ('portfolio_item_added', 'normal'),
  ('profile_updated', 'low');
grant select on api.action_priorities to authenticated;

/*
 * api.report_action(action) -> (queue_id, priority, created)
 * Queues a refresh of the signed-in student's dashboard with the action's priority. A second
 * event while one is pending raises that entry's priority instead of adding one.
 * Errors: 28000 without a student; 22023 for an unknown action (the API answers 400).
 */
create or replace function api.report_action(p_action text)
returns table (queue_id bigint, priority text, created boolean)
language plpgsql security definer set search_path = pg_catalog, pg_temp as $$
declare
  v_user uuid := (select auth.uid());
  v_priority ops.update_priority;
begin
  if v_user is null then
    raise exception 'no authenticated student' using errcode = '28000';
  end if;
  select ap.priority into v_priority from api.action_priorities ap where ap.action = p_action;
  if v_priority is null then
    raise exception 'unknown action' using errcode = '22023',
      detail = (select string_agg(action, ', ' order by action) from api.action_priorities);
  end if;
  return query select q.id, q.priority::text, q.created
                 from dashboard.enqueue_update(v_user, v_priority, p_action) q;
end $$;
grant execute on function api.report_action(text) to authenticated;

/*
 * api.request_refresh() -> (queue_id, priority, created): the API calls it when it served a
 * stale row; de-duplicated by the queue like any other event (a student already queued: no
 * write). When it did queue, the transaction commits without waiting for the WAL flush
 * (synchronous_commit off, this transaction only): the response promises nothing, and an entry
 * lost in a crash is queued again by the next stale read, or made moot by the next cycle.
 */
create or replace function api.request_refresh()
returns table (queue_id bigint, priority text, created boolean)
language plpgsql security definer set search_path = pg_catalog, pg_temp as $$
declare
  v_user uuid := (select auth.uid());
begin
  if v_user is null then
    raise exception 'no authenticated student' using errcode = '28000';
  end if;
  return query select q.id, q.priority::text, q.created
                 from dashboard.enqueue_update(v_user, 'normal', 'stale') q;
  if txid_current_if_assigned() is not null then
    perform set_config('synchronous_commit', 'off', true);
  end if;
end $$;
grant execute on function api.request_refresh() to authenticated;

/*
 * api.refresh_my_dashboard() -> boolean (the student exists upstream)
 * Cold start: computes the signed-in student's rows now (dashboard.refresh_student).
 */
create or replace function api.refresh_my_dashboard() returns boolean
language plpgsql security definer set search_path = pg_catalog, pg_temp as $$
declare
  v_user uuid := (select auth.uid());
begin
  if v_user is null then
    raise exception 'no authenticated student' using errcode = '28000';
  end if;
  return (dashboard.refresh_student(v_user) ->> 'found')::boolean;
end $$;
grant execute on function api.refresh_my_dashboard() to authenticated;
