/*
 * dashboard.lower_priority(nice) -> the backend's nice value now, or null where the prioritize
 * extension is not installed (nothing changes then).
 *
 * Background work (the 5-minute cycle, the queue drain) competes with the API for the database
 * server's cores. At equal priority a cycle that keeps one core busy took the API's p99 at 60%
 * of its maximum throughput from 27 ms to 755 ms on two cores: with the cycle's demand added the
 * machine is oversubscribed, and an open-loop request stream queues up behind it. Run below the
 * API (a higher nice value), the cycle only takes the cores the API leaves idle; it is slower
 * when the API is busy, which is what a 5-minute cycle can afford and a student cannot.
 *
 * The nice value: the argument, else the setting dashboard.background_nice (e.g.
 * `alter role dashboard_worker set dashboard.background_nice = 15`), else 10. It lasts for the
 * rest of the backend's life and can only go up (an unprivileged process cannot raise its
 * priority again): call it on connections that do background work only, as the jobs do (each
 * job has its own connection). SECURITY INVOKER on purpose: set_backend_priority lets a role
 * renice backends of its own login role only, so it must run as the connected role.
 *
 * Caveat: the upstream services' backends that postgres_fdw talks to keep their priority; in
 * production they run on their own servers.
 * Callers: dashboard_worker (jobs/refresh.py), dashboard_dba (psql, `och-dashboard refresh`).
 */
create or replace function dashboard.lower_priority(p_nice integer default null) returns integer
language plpgsql set search_path = pg_catalog, pg_temp set client_min_messages = warning as $$
declare
  v_nice integer := coalesce(lower_priority.p_nice,
                             nullif(current_setting('dashboard.background_nice', true), '')::integer, 10);
  v_now integer;
begin
  if v_nice not between 0 and 19 then
    raise exception 'nice must be between 0 and 19, got %', v_nice using errcode = '22023';
  end if;
  if to_regprocedure('extensions.set_backend_priority(integer, integer)') is null then
    return null;
  end if;
  -- dynamic: the extension is optional, so nothing here may depend on it at creation time
  execute 'select extensions.get_backend_priority(pg_backend_pid())' into v_now;
  if v_now < v_nice then
    execute 'select extensions.set_backend_priority(pg_backend_pid(), $1)' using v_nice;
    execute 'select extensions.get_backend_priority(pg_backend_pid())' into v_now;
  end if;
  return v_now;
end $$;
comment on function dashboard.lower_priority(integer) is
  'Run this backend below the API''s CPU priority (nice, default 10; needs the prioritize extension).';
grant execute on function dashboard.lower_priority(integer) to dashboard_worker, dashboard_dba;
