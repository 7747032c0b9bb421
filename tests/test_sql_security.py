"""Row-level security and privilege attacks, as the real roles.

A student reads through the `authenticator` login exactly as the API does: in one transaction,
SET LOCAL ROLE authenticated and transaction-local request.jwt.claims. Everything here must be
denied or empty; a catalog sweep makes any object added later without protection fail.
"""

from __future__ import annotations

import json
import uuid

import psycopg2
import psycopg2.errors
import pytest

API_VIEWS = ["api.dashboard", "api.profile", "api.curriculum_progress", "api.missions"]
SYSTEM_SCHEMAS = "('pg_catalog', 'information_schema', 'pg_toast')"

# Functions outside api/auth that `authenticated` may EXECUTE, and why. The api views run with
# their owner's table rights but call functions with the caller's EXECUTE rights, so the
# functions they call must be executable by `authenticated`; without USAGE on schema dashboard
# the student still cannot call them by name (test_functions_outside_api_cannot_be_called).
AUTHENTICATED_EXECUTE_ALLOWED = {
    "dashboard.entitlements(text,text,timestamp with time zone,timestamp with time zone,"
    "timestamp with time zone)",  # api.dashboard, api.missions
    "dashboard.quick_actions(dashboard.coach_facts,serving.student_mission_progress[],"
    "timestamp with time zone,text[],timestamp with time zone)",  # api.dashboard
    "dashboard.deep_link(text,text)",  # api.missions
}


# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------


class Student:
    """One authenticator connection used like the API's pool: each call is one transaction."""

    def __init__(self, conn):
        self.conn = conn
        self.conn.autocommit = False

    def run(self, sql, params=None, *, claims=None, role="authenticated"):
        """Run sql in a fresh transaction as `role` with `claims` (a dict, a raw string, or
        None to leave the setting alone); commits, or rolls back and re-raises."""
        try:
            with self.conn.cursor() as cur:
                if role:
                    cur.execute(f"set local role {role}")
                if claims is not None:
                    raw = claims if isinstance(claims, str) else json.dumps(claims)
                    cur.execute("select set_config('request.jwt.claims', %s, true)", (raw,))
                cur.execute(sql, params)
                rows = cur.fetchall() if cur.description else None
            self.conn.commit()
            return rows
        except Exception:
            self.conn.rollback()
            raise


@pytest.fixture
def student(connect_as):
    return Student(connect_as("authenticator"))


@pytest.fixture(scope="module")
def pair(sandbox):
    """Two seeded students (A, B) that have a cache row and mission rows."""
    with sandbox.connect() as conn, conn.cursor() as cur:
        cur.execute(
            "select c.user_id::text from serving.student_dashboard_cache c "
            "join staging.identity_students s on s.id = c.user_id "
            "where s.email not like 'zz-%' "
            "and exists (select from serving.student_mission_progress m where m.user_id = c.user_id) "
            "order by s.email limit 2"
        )
        a, b = (r[0] for r in cur.fetchall())
        counts = {}
        for sid in (a, b):
            cur.execute(
                "select count(*) from serving.student_mission_progress where user_id = %s", (sid,)
            )
            counts[sid] = cur.fetchone()[0]
    conn.close()
    return a, b, counts


def catalog(admin_conn, sql, params=None):
    """Rows of a catalog query (% is literal unless params are given)."""
    with admin_conn.cursor() as cur:
        cur.execute(sql, params)
        return cur.fetchall()


# --------------------------------------------------------------------------------------------
# own rows only
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("view", API_VIEWS)
def test_api_views_return_only_the_callers_rows(student, pair, view):
    a, b, missions = pair
    for me, other in ((a, b), (b, a)):
        rows = student.run(f"select user_id::text from {view}", claims={"sub": me})
        expected = missions[me] if view == "api.missions" else 1
        assert len(rows) == expected
        assert {r[0] for r in rows} == {me}
        # asking for the other student by id finds nothing
        rows = student.run(
            f"select count(*) from {view} where user_id = %s", (other,), claims={"sub": me}
        )
        assert rows == [(0,)]


NO_IDENTITY = [
    pytest.param(None, id="never-set"),
    pytest.param("", id="empty-string"),
    pytest.param({}, id="empty-object"),
    pytest.param({"role": "authenticated"}, id="no-sub"),
    pytest.param({"sub": "not-a-uuid"}, id="non-uuid-sub"),
    pytest.param({"sub": ""}, id="empty-sub"),
    pytest.param({"sub": None}, id="null-sub"),
    pytest.param({"sub": 42}, id="numeric-sub"),
    pytest.param({"sub": "x' or true --"}, id="injection-sub"),
    pytest.param({"sub": ["00000000-0000-0000-0000-000000000000"]}, id="array-sub"),
]


@pytest.mark.parametrize("claims", NO_IDENTITY)
def test_without_a_valid_sub_the_api_views_are_empty(student, pair, claims):
    for view in API_VIEWS:
        assert student.run(f"select count(*) from {view}", claims=claims) == [(0,)], view
    with pytest.raises(psycopg2.Error) as raised:
        student.run("select * from api.report_action('habit_logged')", claims=claims)
    assert raised.value.pgcode == "28000"


def test_claims_from_a_previous_transaction_do_not_linger(student, pair):
    a, _b, _missions = pair
    assert student.run("select count(*) from api.dashboard", claims={"sub": a}) == [(1,)]
    # same connection, next transaction, no claims set: '' after the last transaction
    assert student.run("select count(*) from api.dashboard") == [(0,)]


def test_malformed_claims_raise_rather_than_match(student):
    with pytest.raises(psycopg2.errors.InvalidTextRepresentation):
        student.run("select count(*) from api.dashboard", claims="{not json")


def test_anon_reads_no_api_view(student):
    for view in API_VIEWS:
        with pytest.raises(psycopg2.errors.InsufficientPrivilege):
            student.run(f"select 1 from {view} limit 1", role="anon", claims={})


# --------------------------------------------------------------------------------------------
# private objects
# --------------------------------------------------------------------------------------------


def private_relations(admin_conn):
    """Every relation outside api: serving.*, staging.*, fdw_*.*, ops.*, dashboard.mv_*,
    dashboard.v_*, analytics.*, extensions.*, ..."""
    return [
        r[0]
        for r in catalog(
            admin_conn,
            "select format('%I.%I', n.nspname, c.relname) from pg_class c "
            "join pg_namespace n on n.oid = c.relnamespace "
            f"where c.relkind in ('r', 'p', 'v', 'm', 'f') and n.nspname not in {SYSTEM_SCHEMAS} "
            "and n.nspname <> 'api' and n.nspname not like 'pg_temp%' "
            "order by 1",
        )
    ]


@pytest.mark.parametrize("role", ["authenticated", "anon"])
def test_private_relations_are_denied(student, admin_conn, pair, role):
    a, _b, _missions = pair
    relations = private_relations(admin_conn)
    # the enumeration found what it must
    for expected in (
        "serving.student_dashboard_cache",
        "serving.student_mission_progress",
        "serving.student_curriculum",
        "serving.student_module_progress",
        "serving.tier_features",
        "staging.identity_students",
        "staging.subscriptions_subscriptions",
        "fdw_identity.students",
        "fdw_missions.submissions",
        "ops.dashboard_update_queue",
        "ops.refresh_log",
        "dashboard.v_student_dashboard",
        "dashboard.mv_subscription",
        "dashboard.v_student_dashboard_live",
        "dashboard.v_identity",
    ):
        assert expected in relations
    assert len(relations) >= 60
    leaked = []
    for relation in relations:
        try:
            student.run(f"select 1 from {relation} limit 1", claims={"sub": a}, role=role)
            leaked.append(relation)
        except psycopg2.errors.InsufficientPrivilege:
            pass
    assert leaked == []


REFRESH_CALLS = [
    "select dashboard.refresh_all()",
    "select dashboard.refresh_all(true)",
    "select dashboard.refresh_student(%(b)s)",
    "select dashboard.refresh_student(%(a)s)",
    "select dashboard.process_update_queue()",
    "select dashboard.refresh_matview('dashboard.mv_subscription'::regclass, true)",
    "select dashboard.populate_matviews()",
    "select dashboard.load_staging(true)",
    "select dashboard.load_student_staging(%(b)s)",
    "select * from dashboard.enqueue_update(%(b)s, 'urgent', 'x')",
]


@pytest.mark.parametrize("call", REFRESH_CALLS)
def test_refresh_functions_are_denied(student, pair, call):
    a, b, _missions = pair
    with pytest.raises(psycopg2.errors.InsufficientPrivilege):
        student.run(call, {"a": a, "b": b}, claims={"sub": a})


def test_functions_outside_api_cannot_be_called(student, admin_conn, pair):
    """Every plain function in every schema but api and auth (dashboard.*, meta.*, ...), called
    by name with null arguments as a student: denied, including the ones in
    AUTHENTICATED_EXECUTE_ALLOWED (no USAGE on their schema)."""
    a, _b, _missions = pair
    functions = catalog(
        admin_conn,
        "select format('%I.%I', n.nspname, p.proname), "
        "coalesce(array_agg(format_type(t.oid, null) order by a.ord) "
        "         filter (where t.oid is not null), '{}') "
        "from pg_proc p join pg_namespace n on n.oid = p.pronamespace "
        "left join lateral unnest(p.proargtypes::oid[]) with ordinality a(typ, ord) on true "
        "left join pg_type t on t.oid = a.typ "
        f"where p.prokind = 'f' and n.nspname not in {SYSTEM_SCHEMAS} "
        "and n.nspname not in ('api', 'auth', 'public') "
        "and not exists (select from pg_depend d where d.classid = 'pg_proc'::regclass "
        "                and d.objid = p.oid and d.deptype = 'e') "
        "group by n.nspname, p.proname, p.oid order by 1",
    )
    names = {f for f, _args in functions}
    assert {"dashboard.refresh_all", "dashboard.entitlements", "dashboard.quick_actions"} <= names
    callable_ = []
    for name, args in functions:
        call = f"select {name}({', '.join(f'null::{t}' for t in args)})"
        try:
            student.run(call, claims={"sub": a})
            callable_.append(name)
        except psycopg2.errors.InsufficientPrivilege:
            pass
    assert callable_ == []


@pytest.mark.parametrize(
    "statement",
    [
        "set role dashboard_owner",
        "set role dashboard_api",
        "set role postgres",
        "set role dashboard_worker",
        "set role dashboard_dba",
        "set role dashboard_analyst",
        "set local role dashboard_owner",
        "set session authorization postgres",
        "set session authorization dashboard_owner",
    ],
)
def test_set_role_escalation_fails(student, pair, statement):
    a, _b, _missions = pair
    with pytest.raises(psycopg2.errors.InsufficientPrivilege):
        student.run(statement, claims={"sub": a})


def test_authenticator_itself_reads_nothing(connect_as, admin_conn, pair):
    a, _b, _missions = pair
    assert catalog(
        admin_conn,
        "select rolinherit, rolsuper, rolcreaterole, rolbypassrls from pg_roles "
        "where rolname = 'authenticator'",
    ) == [(False, False, False, False)]
    # without SET ROLE (the pool's idle state, or after a student runs RESET ROLE): every api
    # view is denied, with or without claims
    conn = connect_as("authenticator")
    for view in API_VIEWS:
        with conn.cursor() as cur, pytest.raises(psycopg2.errors.InsufficientPrivilege):
            cur.execute(f"select 1 from {view} limit 1")
    session = Student(conn)
    for view in API_VIEWS:
        with pytest.raises(psycopg2.errors.InsufficientPrivilege):
            session.run(f"select 1 from {view} limit 1", role=None, claims={"sub": a})
    # a student who resets the role falls back to authenticator: still nothing
    with pytest.raises(psycopg2.errors.InsufficientPrivilege):
        session.run("reset role; select 1 from api.dashboard", claims={"sub": a})
    with pytest.raises(psycopg2.errors.InsufficientPrivilege):
        session.run("select * from api.report_action('habit_logged')", role=None, claims={"sub": a})


SERVING_TABLES = [
    "serving.student_dashboard_cache",
    "serving.student_curriculum",
    "serving.student_module_progress",
    "serving.student_mission_progress",
]


@pytest.mark.parametrize("table", SERVING_TABLES)
def test_the_api_views_owner_reads_only_the_callers_rows_even_directly(admin_conn, pair, table):
    """dashboard_api reads the serving tables with its own rights (the api views are owned by
    it): its policies alone must hold it to the caller's rows, whatever it asks for."""
    a, b, _missions = pair
    with admin_conn.cursor() as cur:
        admin_conn.autocommit = False
        try:
            cur.execute("set local role dashboard_api")
            cur.execute(
                "select set_config('request.jwt.claims', %s, true)", (json.dumps({"sub": a}),)
            )
            cur.execute(f"select count(*), count(*) filter (where user_id = %s) from {table}", (a,))
            total, own = cur.fetchone()
            assert total == own >= 1
            cur.execute(f"select count(*) from {table} where user_id = %s", (b,))
            assert cur.fetchone()[0] == 0
            # and it writes nothing, not even the caller's own rows
            for write in (
                f"delete from {table} where user_id = %s",
                f"update {table} set user_id = user_id where user_id = %s",
            ):
                cur.execute("savepoint w")
                with pytest.raises(psycopg2.errors.InsufficientPrivilege):
                    cur.execute(write, (a,))
                cur.execute("rollback to savepoint w")
        finally:
            admin_conn.rollback()
            admin_conn.autocommit = True


# --------------------------------------------------------------------------------------------
# writes a student may cause
# --------------------------------------------------------------------------------------------


def test_report_action_queues_for_the_caller_only(student, admin_conn):
    a, b = str(uuid.uuid4()), str(uuid.uuid4())

    def queued(sid):
        return catalog(
            admin_conn,
            "select id, priority::text, reason, status from ops.dashboard_update_queue "
            "where user_id = %s order by id",
            (sid,),
        )

    try:
        ((queue_id, priority, created),) = student.run(
            "select * from api.report_action('mission_submitted')", claims={"sub": a}
        )
        assert (priority, created) == ("urgent", True)
        assert queued(a) == [(queue_id, "urgent", "mission_submitted", "pending")]
        assert queued(b) == []
        # a lower-priority event while pending: same entry, priority kept
        assert student.run(
            "select * from api.report_action('profile_updated')", claims={"sub": a}
        ) == [(queue_id, "urgent", False)]
        assert queued(a) == [(queue_id, "urgent", "mission_submitted", "pending")]

        with pytest.raises(psycopg2.Error) as raised:
            student.run("select * from api.report_action('drop_tables')", claims={"sub": a})
        assert raised.value.pgcode == "22023"
        assert queued(a) == [(queue_id, "urgent", "mission_submitted", "pending")]
        # the queue itself stays out of reach
        with pytest.raises(psycopg2.errors.InsufficientPrivilege):
            student.run(
                "insert into ops.dashboard_update_queue (user_id, reason) values (%s, 'x')",
                (b,),
                claims={"sub": a},
            )
        with pytest.raises(psycopg2.errors.InsufficientPrivilege):
            student.run("update api.action_priorities set priority = 'urgent'", claims={"sub": a})
    finally:
        with admin_conn.cursor() as cur:
            cur.execute("delete from ops.dashboard_update_queue where user_id in (%s, %s)", (a, b))


# Regression: api.mission_stages() used to run with the caller's rights and name a function in
# schema dashboard, where students have no USAGE.
def test_api_mission_stages_is_callable_by_a_student(student, pair):
    a, _b, _missions = pair
    assert student.run("select api.mission_stages()", claims={"sub": a}) == [
        (
            [
                "not_started",
                "in_progress",
                "pending",
                "in_review",
                "approved",
                "failed",
                "changes_requested",
            ],
        )
    ]


# --------------------------------------------------------------------------------------------
# catalog sweep
# --------------------------------------------------------------------------------------------

RELATION_PRIVILEGES = f"""
select format('%%I.%%I', n.nspname, c.relname), n.nspname, c.relkind::text,
       case when c.relkind = 'S'
            then has_sequence_privilege(%(role)s, c.oid, 'USAGE, SELECT, UPDATE')
            else has_table_privilege(%(role)s, c.oid,
                   'SELECT, INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER')
                 or has_any_column_privilege(%(role)s, c.oid, 'SELECT, INSERT, UPDATE, REFERENCES')
       end as any_privilege,
       c.relkind <> 'S' and (
         has_table_privilege(%(role)s, c.oid, 'INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER')
         or has_any_column_privilege(%(role)s, c.oid, 'INSERT, UPDATE, REFERENCES')) as writes
  from pg_class c join pg_namespace n on n.oid = c.relnamespace
 where c.relkind in ('r', 'p', 'v', 'm', 'f', 'S')
   and n.nspname not in {SYSTEM_SCHEMAS} and n.nspname not like 'pg_temp%%'
   and not exists (select from pg_depend d where d.classid = 'pg_class'::regclass
                   and d.objid = c.oid and d.deptype = 'e')
"""

FUNCTION_PRIVILEGES = f"""
select p.oid::regprocedure::text, n.nspname
  from pg_proc p join pg_namespace n on n.oid = p.pronamespace
 where n.nspname not in {SYSTEM_SCHEMAS}
   and not exists (select from pg_depend d where d.classid = 'pg_proc'::regclass
                   and d.objid = p.oid and d.deptype = 'e')
   and has_function_privilege(%(role)s, p.oid, 'EXECUTE')
"""


@pytest.mark.parametrize("role", ["authenticated", "anon"])
def test_catalog_sweep_the_api_roles_reach_only_the_api(admin_conn, role):
    relations = catalog(admin_conn, RELATION_PRIVILEGES, {"role": role})
    assert len(relations) >= 60
    outside = sorted(name for name, schema, _k, any_, _w in relations if any_ and schema != "api")
    assert outside == []
    writable = sorted(name for name, _s, _k, _a, writes in relations if writes)
    assert writable == []
    if role == "authenticated":
        readable = {name for name, schema, _k, any_, _w in relations if any_}
        assert set(API_VIEWS) <= readable

    functions = catalog(admin_conn, FUNCTION_PRIVILEGES, {"role": role})
    allowed = AUTHENTICATED_EXECUTE_ALLOWED if role == "authenticated" else set()
    outside = sorted(
        sig for sig, schema in functions if schema not in ("api", "auth") and sig not in allowed
    )
    assert outside == []

    schemas = catalog(
        admin_conn,
        "select nspname, has_schema_privilege(%(role)s, oid, 'USAGE'), "
        "has_schema_privilege(%(role)s, oid, 'CREATE') from pg_namespace "
        f"where nspname not in {SYSTEM_SCHEMAS} and nspname not like 'pg_t%%'",
        {"role": role},
    )
    assert {s for s, usage, _c in schemas if usage} == {"api", "auth"}
    assert [s for s, _u, create in schemas if create] == []
    assert catalog(
        admin_conn,
        "select has_database_privilege(%(role)s, current_database(), 'CREATE'), "
        "has_database_privilege(%(role)s, current_database(), 'TEMPORARY')",
        {"role": role},
    ) == [(False, False)]


# Regression: PUBLIC kept USAGE on schema public, where the extensions lived, so students could
# read pg_stat_statements (every student's query shapes) and call the postgres_fdw functions.
def test_extension_objects_are_out_of_reach(student, admin_conn, pair):
    a, _b, _missions = pair
    reachable = catalog(
        admin_conn,
        "select p.oid::regprocedure::text from pg_proc p "
        "join pg_depend d on d.classid = 'pg_proc'::regclass and d.objid = p.oid "
        "and d.deptype = 'e' "
        "where has_function_privilege('authenticated', p.oid, 'EXECUTE') "
        "and has_schema_privilege('authenticated', p.pronamespace, 'USAGE') "
        f"and p.pronamespace::regnamespace::text not in {SYSTEM_SCHEMAS} "
        "union all "
        "select c.oid::regclass::text from pg_class c "
        "join pg_depend d on d.classid = 'pg_class'::regclass and d.objid = c.oid "
        "and d.deptype = 'e' "
        "where has_table_privilege('authenticated', c.oid, 'SELECT') "
        "and has_schema_privilege('authenticated', c.relnamespace, 'USAGE') "
        f"and c.relnamespace::regnamespace::text not in {SYSTEM_SCHEMAS}",
    )
    assert reachable == []
    (schema,) = catalog(
        admin_conn,
        "select extnamespace::regnamespace::text from pg_extension "
        "where extname = 'pg_stat_statements'",
    )[0]
    with pytest.raises(psycopg2.errors.InsufficientPrivilege):
        student.run(f"select count(*) from {schema}.pg_stat_statements", claims={"sub": a})


def test_security_definer_functions_pin_their_search_path(admin_conn):
    rows = catalog(
        admin_conn,
        "select p.oid::regprocedure::text, p.proconfig from pg_proc p "
        "join pg_namespace n on n.oid = p.pronamespace "
        f"where p.prosecdef and n.nspname not in {SYSTEM_SCHEMAS} order by 1",
    )
    names = {sig for sig, _config in rows}
    assert "dashboard.refresh_all(boolean)" in names
    assert "api.report_action(text)" in names
    bad = {}
    for sig, config in rows:
        paths = [c.split("=", 1)[1] for c in config or [] if c.startswith("search_path=")]
        if len(paths) != 1:
            bad[sig] = "no pinned search_path"
            continue
        schemas = [s.strip().strip('"') for s in paths[0].split(",")]
        if "public" in schemas or "$user" in schemas:
            bad[sig] = f"writable or user schema in {paths[0]}"
        elif schemas[-1] != "pg_temp":
            bad[sig] = f"pg_temp is not last in {paths[0]} (an unlisted pg_temp is searched first)"
    assert bad == {}


def test_serving_policies_use_a_once_per_statement_auth_uid(admin_conn):
    policies = catalog(
        admin_conn,
        "select tablename, policyname, roles::text[], cmd, qual, with_check from pg_policies "
        "where schemaname = 'serving' order by 1, 2",
    )
    student_tables = {
        t
        for (t,) in catalog(
            admin_conn,
            "select c.relname::text from pg_class c join pg_attribute a on a.attrelid = c.oid "
            "where c.relnamespace = 'serving'::regnamespace and c.relkind = 'r' "
            "and a.attname = 'user_id'",
        )
    }
    assert {
        "student_dashboard_cache",
        "student_mission_progress",
        "student_curriculum",
        "student_module_progress",
    } <= student_tables
    covered = set()
    for table, name, roles, cmd, qual, with_check in policies:
        for expr in (qual, with_check):
            if expr and "auth.uid()" in expr:
                assert "( SELECT auth.uid() AS uid)" in expr, (table, name, expr)
                assert expr.count("auth.uid()") == expr.count("( SELECT auth.uid() AS uid)")
        reader_roles = {"authenticated", "anon", "dashboard_api", "public"} & set(roles)
        if table in student_tables and reader_roles:
            # the roles students read as: select only, own rows only
            assert cmd == "SELECT", (table, name)
            assert qual == "(user_id = ( SELECT auth.uid() AS uid))", (table, name)
            covered.add(table)
        elif reader_roles:
            # tables without student rows (the tier configuration): never the student roles
            assert reader_roles == {"dashboard_api"}, (table, name, roles)
            assert cmd == "SELECT", (table, name)
    assert covered == student_tables


RLS_FLAGS = (
    "select c.relname::text, c.relrowsecurity, c.relforcerowsecurity from pg_class c "
    "where c.relnamespace = 'serving'::regnamespace and c.relkind in ('r', 'p') {} order by 1"
)


def test_rls_is_enabled_and_forced_on_every_serving_table_with_student_rows(admin_conn):
    rows = catalog(
        admin_conn,
        RLS_FLAGS.format(
            "and exists (select from pg_attribute a where a.attrelid = c.oid "
            "and a.attname = 'user_id' and not a.attisdropped)"
        ),
    )
    assert len(rows) >= 3
    assert [r for r in rows if r[1:] != (True, True)] == []


def test_rls_is_enabled_and_forced_on_every_serving_table(admin_conn):
    rows = catalog(admin_conn, RLS_FLAGS.format(""))
    assert len(rows) >= 5
    assert [r for r in rows if r[1:] != (True, True)] == []


# --------------------------------------------------------------------------------------------
# analysts
# --------------------------------------------------------------------------------------------


def matviews(admin_conn):
    return [
        r[0]
        for r in catalog(
            admin_conn,
            "select format('%I.%I', schemaname, matviewname) from pg_matviews "
            "where schemaname = 'dashboard' order by 1",
        )
    ]


def test_analysts_read_the_materialized_views(connect_as, admin_conn):
    views = matviews(admin_conn)
    assert "dashboard.mv_identity" in views
    conn = connect_as("dashboard_analyst")
    # and the view joining them, one row per student
    for view in views + ["dashboard.v_student_dashboard"]:
        with conn.cursor() as cur:
            cur.execute(f"select count(*) from {view}")
            assert cur.fetchone()[0] >= 0
    # the curriculum's module rows, which the materialized views do not hold, from the live view
    with conn.cursor() as cur:
        cur.execute("select count(distinct user_id) from dashboard.v_module_progress")
        assert cur.fetchone()[0] > 0


def test_analysts_read_the_pseudonymous_analytics_views(connect_as, admin_conn):
    views = catalog(
        admin_conn,
        "select format('%I.%I', n.nspname, c.relname), "
        "array_agg(a.attname::text order by a.attnum) from pg_class c "
        "join pg_namespace n on n.oid = c.relnamespace "
        "join pg_attribute a on a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped "
        "where n.nspname = 'analytics' and c.relkind in ('v', 'm') group by 1 order by 1",
    )
    conn = connect_as("dashboard_analyst")
    for view, columns in views:
        assert not {"name", "email", "user_id", "student_id", "id"} & set(columns), view
        with conn.cursor() as cur:
            cur.execute(f"select count(*) from {view}")
            assert cur.fetchone()[0] >= 0


def test_analysts_read_no_student_level_serving_staging_or_foreign_rows(connect_as, admin_conn):
    relations = [
        r[0]
        for r in catalog(
            admin_conn,
            "select format('%I.%I', n.nspname, c.relname) from pg_class c "
            "join pg_namespace n on n.oid = c.relnamespace "
            "where c.relkind in ('r', 'p', 'v', 'm', 'f') "
            "and (n.nspname in ('serving', 'staging') or n.nspname like 'fdw\\_%') "
            "and c.relname <> 'sources' order by 1",
        )
    ]
    assert "serving.student_dashboard_cache" in relations
    assert "staging.identity_students" in relations
    assert "fdw_identity.students" in relations
    conn = connect_as("dashboard_analyst")
    readable = []
    for relation in relations:
        try:
            with conn.cursor() as cur:
                cur.execute(f"select 1 from {relation} limit 1")
            readable.append(relation)
        except psycopg2.errors.InsufficientPrivilege:
            pass
    assert readable == []


# --------------------------------------------------------------------------------------------
# pooled connection
# --------------------------------------------------------------------------------------------


def test_a_pooled_connection_leaks_nothing_between_requests(connect_as, pair):
    a, b, _missions = pair
    conn = connect_as("authenticator")
    conn.autocommit = False
    for sid in (a, b, a, b):
        with conn.cursor() as cur:
            cur.execute("set local role authenticated")
            cur.execute(
                "select set_config('request.jwt.claims', %s, true)", (json.dumps({"sub": sid}),)
            )
            cur.execute("select user_id::text, current_user from api.dashboard")
            assert cur.fetchall() == [(sid, "authenticated")]
            cur.execute("select distinct user_id::text from api.missions")
            assert cur.fetchall() == [(sid,)]
        conn.commit()
        with conn.cursor() as cur:
            cur.execute("select current_user, current_setting('request.jwt.claims', true)")
            assert cur.fetchone() == ("authenticator", "")
        conn.commit()
    # a request that fails half-way leaks nothing either
    with conn.cursor() as cur:
        cur.execute("set local role authenticated")
        cur.execute("select set_config('request.jwt.claims', %s, true)", (json.dumps({"sub": a}),))
        with pytest.raises(psycopg2.errors.DivisionByZero):
            cur.execute("select 1 / 0 from api.dashboard")
    conn.rollback()
    with conn.cursor() as cur:
        cur.execute("select current_user, current_setting('request.jwt.claims', true)")
        assert cur.fetchone() == ("authenticator", "")
    conn.commit()
