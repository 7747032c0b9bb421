/*
 * Change notifications of the dashboard cache, for the live stream (GET .../dashboard/stream).
 *
 * After each statement that inserts or updates cache rows, the ids of the students whose row
 * changed are sent on channel och_dashboard_changed, comma-separated, in payloads under the
 * 8000-byte NOTIFY limit. Statement-level with transition tables: a full-cycle merge of 100,000
 * rows costs a few hundred notifications, not 100,000 trigger calls. Listeners (the API's
 * stream hub) re-read the row as the student, so nothing private travels on the channel.
 * Notifications are delivered at commit, and not at all when the transaction rolls back.
 */
create or replace function dashboard.notify_dashboard_changed() returns trigger
language plpgsql as $$
declare
  v_ids text;
begin
  for v_ids in
    select string_agg(user_id::text, ',')
      from (select user_id, (row_number() over (order by user_id) - 1) / 200 as chunk
              from changed_rows) c
     group by chunk
  loop
    perform pg_notify('och_dashboard_changed', v_ids);
  end loop;
  return null;
end $$;

drop trigger if exists notify_changed_on_insert on serving.student_dashboard_cache;
create trigger notify_changed_on_insert after insert on serving.student_dashboard_cache
  referencing new table as changed_rows
  for each statement execute function dashboard.notify_dashboard_changed();

drop trigger if exists notify_changed_on_update on serving.student_dashboard_cache;
create trigger notify_changed_on_update after update on serving.student_dashboard_cache
  referencing new table as changed_rows
  for each statement execute function dashboard.notify_dashboard_changed();
