"""`och-dashboard db upgrade`: ordered, idempotent, transactional, and errors name file and line."""

from __future__ import annotations

import pytest

from och_dashboard import sqlfiles
from och_dashboard.sandbox import Sandbox

CATALOG_FINGERPRINT = """
select md5(string_agg(item, ',' order by item)) from (
  select 'rel:' || n.nspname || '.' || c.relname || ':' || c.relkind::text || ':' || c.relrowsecurity::text
         || ':' || coalesce(array_to_string(c.relacl, ' '), '') as item
    from pg_class c join pg_namespace n on n.oid = c.relnamespace
   where n.nspname not in ('pg_catalog', 'information_schema', 'pg_toast')
  union all
  select 'col:' || attrelid::regclass::text || '.' || attname || ':' || atttypid::regtype::text
    from pg_attribute a join pg_class c on c.oid = a.attrelid
    join pg_namespace n on n.oid = c.relnamespace
   where attnum > 0 and not attisdropped
     and n.nspname not in ('pg_catalog', 'information_schema', 'pg_toast')
  union all
  select 'fn:' || p.oid::regprocedure::text || ':' || md5(p.prosrc) || ':'
         || coalesce(array_to_string(p.proacl, ' '), '')
    from pg_proc p join pg_namespace n on n.oid = p.pronamespace
   where n.nspname not in ('pg_catalog', 'information_schema')
  union all
  select 'pol:' || schemaname || '.' || tablename || '.' || policyname || ':' || coalesce(qual, '')
    from pg_policies
) t
"""


def fingerprint(conn) -> str:
    with conn.cursor() as cur:
        cur.execute(CATALOG_FINGERPRINT)
        return cur.fetchone()[0]


def test_second_upgrade_changes_nothing(sandbox, admin_conn):
    before = fingerprint(admin_conn)
    report = sandbox.upgrade()
    assert report.migrations_applied == []
    assert report.objects_rebuilt is False
    assert fingerprint(admin_conn) == before


def test_every_migration_is_recorded_once(admin_conn):
    manifest = sqlfiles.Manifest.read()
    with admin_conn.cursor() as cur:
        cur.execute("select version from meta.schema_migrations order by version")
        assert [r[0] for r in cur.fetchall()] == [p.name for p in manifest.migrations]


def test_objects_are_owned_by_the_owner_role(admin_conn):
    with admin_conn.cursor() as cur:
        cur.execute(
            """
            select n.nspname || '.' || c.relname, pg_get_userbyid(c.relowner)
              from pg_class c join pg_namespace n on n.oid = c.relnamespace
             where n.nspname in ('staging', 'serving', 'ops', 'dashboard', 'auth', 'analytics')
               and c.relkind in ('r', 'v', 'm', 'f', 'p')
               and pg_get_userbyid(c.relowner) <> 'dashboard_owner'
            """
        )
        assert cur.fetchall() == []


def test_database_exposes_api_schema_to_postgrest_tooling(admin_conn):
    with admin_conn.cursor() as cur:
        cur.execute(
            "select s.setconfig from pg_db_role_setting s join pg_database d on d.oid = s.setdatabase "
            "where d.datname = current_database() and s.setrole = 0"
        )
        assert "pgrst.db_schemas=api" in cur.fetchone()[0]


def test_execute_is_not_granted_to_public(admin_conn):
    with admin_conn.cursor() as cur:
        cur.execute(
            """
            select p.oid::regprocedure::text
              from pg_proc p join pg_namespace n on n.oid = p.pronamespace
             where n.nspname in ('dashboard', 'api', 'analytics', 'meta')
               and has_function_privilege('public', p.oid, 'execute')
            """
        )
        assert cur.fetchall() == []


def test_a_failing_file_names_file_and_line(tmp_path, admin_conn):
    bad = tmp_path / "broken.sql"
    bad.write_text("select 1;\n\nselect nonsense_column from pg_class;\n")
    with admin_conn.cursor() as cur, pytest.raises(sqlfiles.SqlFileError) as err:
        run_in_rolled_back_tx(cur, bad)
    assert "broken.sql, line 3" in str(err.value)
    assert "nonsense_column" in str(err.value)


def run_in_rolled_back_tx(cur, path):
    cur.execute("begin")
    try:
        sqlfiles.run_file(cur, path)
    finally:
        cur.execute("rollback")


def test_failed_upgrade_leaves_database_unchanged(sandbox, admin_conn, monkeypatch, tmp_path):
    """The upgrade is one transaction: a failing object file rolls back everything before it."""
    before = fingerprint(admin_conn)
    manifest = sqlfiles.Manifest.read()
    broken = tmp_path / "zz_broken.sql"
    broken.write_text(
        "create view dashboard.will_not_stay as select 1;\nselect * from missing_table;\n"
    )
    manifest.objects.append(broken)
    monkeypatch.setattr(sqlfiles.Manifest, "read", classmethod(lambda cls, *a: manifest))
    with pytest.raises(sqlfiles.SqlFileError, match="zz_broken.sql, line 2"):
        sandbox.upgrade()
    assert fingerprint(admin_conn) == before


def test_fresh_database_upgrades_twice_cleanly():
    """From nothing: stand-ins, upgrade, upgrade again (nothing to do)."""
    box = Sandbox.create(label="fresh")
    try:
        first = box.upgrade()
        assert first.migrations_applied and first.objects_rebuilt
        assert set(first.upstreams) == {
            "identity",
            "profiler",
            "coaching",
            "curriculum",
            "missions",
            "portfolio",
            "talentscope",
            "subscriptions",
        }
        assert all(n > 0 for n in first.upstreams.values())
        second = box.upgrade()
        assert second.migrations_applied == [] and not second.objects_rebuilt
    finally:
        box.destroy()
