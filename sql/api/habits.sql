-- Habit logs a student recorded offline, synced in batches (POST /api/v1/student/habits/logs:sync).

/*
 * api.sync_habit_logs(logs jsonb) -> jsonb
 * Writes the signed-in student's offline habit logs to the coaching service and returns each
 * log's outcome, the recomputed streaks and the refreshed dashboard figures
 * (dashboard.sync_habit_logs in sql/functions/habit_sync.sql has the contract). Logs are
 * only ever written for auth.uid(): no student id is taken from the caller.
 * Errors: 28000 without a student; 22023 for a batch that is not an array or holds more than
 * 100 logs (the API answers 400); the coaching service unreachable: 08xxx (503).
 */
create or replace function api.sync_habit_logs(p_logs jsonb) returns jsonb
language plpgsql security definer set search_path = pg_catalog, pg_temp as $$
declare
  v_user uuid := (select auth.uid());
begin
  if v_user is null then
    raise exception 'no authenticated student' using errcode = '28000';
  end if;
  return dashboard.sync_habit_logs(v_user, p_logs);
end $$;
grant execute on function api.sync_habit_logs(jsonb) to authenticated;
