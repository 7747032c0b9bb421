-- Request identity, read from the transaction-local setting request.jwt.claims that the API sets
-- with set_config('request.jwt.claims', <claims>, true) after SET LOCAL ROLE authenticated.
-- A custom setting reads '' (not NULL) after a transaction that set it: nullif turns that into
-- NULL, so an unset identity is NULL and matches no row. Policies call these as
-- (select auth.uid()) so the planner evaluates them once per statement, not per row.

/* auth.jwt() -> jsonb: the verified claims of the current request, NULL when none. */
create or replace function auth.jwt() returns jsonb
language sql stable parallel safe as $$
  select nullif(current_setting('request.jwt.claims', true), '')::jsonb
$$;
comment on function auth.jwt() is 'Claims of the current request (request.jwt.claims), NULL when unset.';

/* auth.uid() -> uuid: the student of the current request (the token's sub), NULL when unset
   or not a UUID (a malformed sub matches nothing instead of raising). Written without FROM so
   the planner inlines it (a FROM made it a function call planned at every call site: 30-70 us
   each, three per dashboard read). */
create or replace function auth.uid() returns uuid
language sql stable parallel safe as $$
  select case when (auth.jwt() ->> 'sub') ~* '^[0-9a-f]{8}-?([0-9a-f]{4}-?){3}[0-9a-f]{12}$'
              then (auth.jwt() ->> 'sub')::uuid end
$$;
comment on function auth.uid() is 'The current student: the sub claim as a uuid, NULL when unset or invalid.';

/* auth.role() -> text: the role claim, as Supabase tooling expects (informational: the database
   role is what SET LOCAL ROLE chose, never this claim). */
create or replace function auth.role() returns text
language sql stable parallel safe as $$
  select auth.jwt() ->> 'role'
$$;
comment on function auth.role() is 'The role claim of the current request (informational only).';

grant usage on schema auth to anon, authenticated, dashboard_api, dashboard_worker, dashboard_analyst;
grant execute on function auth.jwt(), auth.uid(), auth.role()
  to anon, authenticated, dashboard_api, dashboard_worker, dashboard_analyst;
