"""FDW staging: loads exactly the upstream rows; a later cycle moves only what changed."""

from __future__ import annotations

import psycopg2
import pytest

SOURCES_SQL = "select staging_table, service, foreign_table from staging.sources order by 1"


def key_digest(cur, relation: str, keys: str) -> tuple[int, str]:
    cur.execute(
        f"select count(*), md5(string_agg(({keys})::text, ',' order by ({keys})::text)) "
        f"from {relation}"
    )
    return cur.fetchone()


def live_filter(cur, relation: str) -> str:
    cur.execute(
        "select 1 from pg_attribute where attrelid = %s::regclass and attname = 'deleted_at'",
        (relation,),
    )
    return " where deleted_at is null" if cur.fetchone() else ""


def primary_key(cur, staging_table: str) -> str:
    cur.execute(
        """
        select string_agg(a.attname, ', ' order by k.ord)
          from pg_index i
          cross join lateral unnest(i.indkey) with ordinality k(attnum, ord)
          join pg_attribute a on a.attrelid = i.indrelid and a.attnum = k.attnum
         where i.indrelid = %s::regclass and i.indisprimary
        """,
        (f"staging.{staging_table}",),
    )
    return cur.fetchone()[0]


def test_full_load_copies_exactly_the_live_upstream_rows(owner_conn):
    with owner_conn.cursor() as cur:
        cur.execute("select dashboard.load_staging(true)")
        cur.execute(SOURCES_SQL)
        for staging_table, service, foreign_table in cur.fetchall():
            keys = primary_key(cur, staging_table)
            remote = f"fdw_{service}.{foreign_table}"
            upstream = key_digest(
                cur, f"(select * from {remote}{live_filter(cur, remote)}) u", keys
            )
            local = key_digest(cur, f"staging.{staging_table}", keys)
            assert local == upstream, staging_table
            assert upstream[0] > 0, f"{staging_table} has no seeded rows"


def test_second_cycle_moves_only_the_change_and_deletes(owner_conn, upstream_conn):
    coaching = upstream_conn("coaching")
    with coaching.cursor() as up:
        up.execute(
            "select id, student_id from habit_logs where deleted_at is null order by id limit 2"
        )
        (changed_id, _), (deleted_id, _) = up.fetchall()
        up.execute(
            "update habit_logs set status = 'skipped' where id = %s and status <> 'skipped'",
            (changed_id,),
        )
        if up.rowcount == 0:
            up.execute("update habit_logs set status = 'completed' where id = %s", (changed_id,))
        up.execute("update habit_logs set deleted_at = now() where id = %s", (deleted_id,))
    with owner_conn.cursor() as cur:
        cur.execute("select dashboard.load_staging()")
        cur.execute("select staging_table, last_rows from staging.sources order by 1")
        moved = {t: n for t, n in cur.fetchall() if n}
        assert moved == {"coaching_habit_logs": 2}
        cur.execute("select status from staging.coaching_habit_logs where id = %s", (changed_id,))
        (status,) = cur.fetchone()
        with coaching.cursor() as up:
            up.execute("select status from habit_logs where id = %s", (changed_id,))
            assert status == up.fetchone()[0]
        cur.execute("select count(*) from staging.coaching_habit_logs where id = %s", (deleted_id,))
        assert cur.fetchone()[0] == 0
        # A quiet cycle changes nothing at all.
        cur.execute("select dashboard.load_staging()")
        assert cur.fetchone()[0] == 0


def test_hard_delete_upstream_is_reconciled_by_a_full_load(owner_conn, upstream_conn):
    talent = upstream_conn("talentscope")
    with talent.cursor() as up:
        up.execute(
            "delete from skill_scores where (student_id, skill) = "
            "(select student_id, skill from skill_scores order by 1, 2 limit 1) "
            "returning student_id, skill"
        )
        gone = up.fetchone()
    with owner_conn.cursor() as cur:
        cur.execute("select dashboard.load_staging()")
        cur.execute(
            "select count(*) from staging.talentscope_skill_scores "
            "where student_id = %s and skill = %s",
            gone,
        )
        assert cur.fetchone()[0] == 1, "an incremental load cannot see a hard delete"
        cur.execute("select dashboard.load_staging_table('talentscope_skill_scores', true)")
        assert cur.fetchone()[0] == 1
        cur.execute(
            "select count(*) from staging.talentscope_skill_scores "
            "where student_id = %s and skill = %s",
            gone,
        )
        assert cur.fetchone()[0] == 0


def test_per_student_load_pushes_the_student_filter_to_the_upstream(owner_conn):
    with owner_conn.cursor() as cur:
        cur.execute(
            "select per_student from dashboard.staging_statements "
            "where staging_table = 'missions_submissions'"
        )
        statement = cur.fetchone()[0]
        cur.execute("prepare one_student(uuid) as " + statement)
        cur.execute(
            "explain (verbose, costs off) execute one_student('00000000-0000-0000-0000-000000000001')"
        )
        plan = "\n".join(r[0] for r in cur.fetchall())
        cur.execute("deallocate one_student")
    assert "Remote SQL:" in plan
    assert "WHERE ((student_id = " in plan


def test_incremental_load_upserts_in_student_order(owner_conn):
    """The changed rows are written one student after another (their staging pages and index
    leaves in the order they lie), not in the upstream's updated_at order; catalogues, which
    have no student, are not sorted."""
    with owner_conn.cursor() as cur:
        for staging_table, sorted_by in (
            ("coaching_habit_logs", "src.student_id"),
            ("missions_submissions", "src.student_id"),
            ("missions_missions", None),
        ):
            cur.execute(
                "select incremental from dashboard.staging_statements where staging_table = %s",
                (staging_table,),
            )
            cur.execute("prepare incremental(timestamptz, timestamptz) as " + cur.fetchone()[0])
            cur.execute("explain (verbose, costs off) execute incremental(now(), now())")
            plan = "\n".join(r[0] for r in cur.fetchall())
            cur.execute("deallocate incremental")
            insert = plan[plan.index("Insert on") :]
            sort_keys = [ln.strip() for ln in insert.splitlines() if "Sort Key:" in ln]
            if sorted_by:
                assert sort_keys and sort_keys[0] == f"Sort Key: {sorted_by}", plan
            else:
                assert not sort_keys, plan


def row_versions(cur, ids: list) -> list[tuple]:
    """(id, ctid, xmin, xmax) of staging habit logs: a write moves ctid and xmin, a row lock
    (ON CONFLICT DO UPDATE takes one on every conflicting row) sets xmax."""
    cur.execute(
        "select id::text, ctid::text, xmin::text, xmax::text from staging.coaching_habit_logs "
        "where id = any(%s::uuid[]) order by id",
        (ids,),
    )
    return cur.fetchall()


def test_a_reread_row_that_did_not_change_is_neither_written_nor_locked(owner_conn, upstream_conn):
    """An incremental load re-reads what changed within the overlap before the previous load's
    start: a row staging already holds as it is must cost no lock and no write (a lock sets
    xmax, dirties the page and writes WAL: at 100,000 students the cycle after a large change
    re-read 97,000 habit logs)."""
    coaching = upstream_conn("coaching")
    with coaching.cursor() as up:
        up.execute(
            "select id::text from habit_logs where deleted_at is null order by id desc limit 1"
        )
        changed = up.fetchone()[0]
        up.execute(
            "update habit_logs set status = case status when 'completed' then 'skipped' "
            "else 'completed' end where id = %s",
            (changed,),
        )
    with owner_conn.cursor() as cur:
        cur.execute("select dashboard.load_staging()")
        (before,) = row_versions(cur, [changed])
        # the next load's bound is the previous start minus the overlap: it reads the row again
        cur.execute(
            "select count(*) from fdw_coaching.habit_logs where id = %s and updated_at > "
            "(select last_load_started_at - interval '2 minutes' from staging.sources "
            " where staging_table = 'coaching_habit_logs')",
            (changed,),
        )
        assert cur.fetchone()[0] == 1
        cur.execute("select dashboard.load_staging_table('coaching_habit_logs')")
        assert cur.fetchone()[0] == 0
        assert row_versions(cur, [changed]) == [before], "the re-read row was locked or written"


def test_a_per_student_load_neither_writes_nor_locks_the_rows_it_already_holds(
    owner_conn, upstream_conn
):
    """A cold start or a student's own refresh re-reads all of the student's rows: those staging
    holds as they are must cost no lock (through the random-uuid primary key, a page read each
    from a cold cache) and no write; a changed one is still written."""
    with upstream_conn("coaching").cursor() as up:
        up.execute(
            "select student_id::text, array_agg(id::text order by id) from habit_logs "
            "where deleted_at is null group by student_id order by count(*) desc limit 1"
        )
        student, ids = up.fetchone()
    with owner_conn.cursor() as cur:
        cur.execute("select dashboard.load_student_staging(%s)", (student,))
        before = row_versions(cur, ids)
        assert len(before) == len(ids) > 1
        cur.execute("select dashboard.load_student_staging(%s)", (student,))
        assert cur.fetchone()[0] == 0
        assert row_versions(cur, ids) == before, "an unchanged row was locked or written"

    with upstream_conn("coaching").cursor() as up:
        up.execute(
            "update habit_logs set status = case status when 'completed' then 'skipped' "
            "else 'completed' end where id = %s returning status",
            (ids[0],),
        )
        (new_status,) = up.fetchone()
    with owner_conn.cursor() as cur:
        cur.execute("select dashboard.load_student_staging(%s)", (student,))
        assert cur.fetchone()[0] == 1
        after = row_versions(cur, ids)
        assert after[1:] == before[1:]
        assert after[0][2] != before[0][2]  # the changed row's new version
        cur.execute("select status from staging.coaching_habit_logs where id = %s", (ids[0],))
        assert cur.fetchone()[0] == new_status


def test_an_incremental_load_analyzes_a_table_whose_statistics_say_empty(owner_conn, admin_conn):
    """The incremental statement's probe of unchanged rows is planned from the statistics: a
    table analyzed while empty and filled since would be scanned whole for every row read, so
    the load analyzes it first."""
    with admin_conn.cursor() as cur:
        cur.execute(
            "update pg_class set reltuples = 0, relpages = 0 "
            "where oid = 'staging.coaching_habit_logs'::regclass"
        )
    with owner_conn.cursor() as cur:
        cur.execute("select dashboard.load_staging_table('coaching_habit_logs')")
        cur.execute(
            "select reltuples from pg_class where oid = 'staging.coaching_habit_logs'::regclass"
        )
        assert cur.fetchone()[0] > 0


def test_per_student_load_brings_a_new_upstream_row(owner_conn, upstream_conn, students):
    student = students["professional7"][0]
    with upstream_conn("coaching").cursor() as up:
        up.execute(
            "insert into reflections (id, student_id, body) values (gen_random_uuid(), %s, 'new') "
            "returning id",
            (student,),
        )
        new_id = up.fetchone()[0]
    with owner_conn.cursor() as cur:
        cur.execute("select dashboard.load_student_staging(%s)", (student,))
        assert cur.fetchone()[0] >= 1
        cur.execute(
            "select student_id::text from staging.coaching_reflections where id = %s", (new_id,)
        )
        assert cur.fetchone()[0] == student


def test_a_per_student_load_takes_all_of_an_upstreams_tables_or_none(
    owner_conn, upstream_conn, students
):
    """An upstream whose second table fails keeps the student's last good rows in all of its
    tables (its first table's change is rolled back with it); the other upstreams load."""
    student = students["professional7"][3]
    with upstream_conn("coaching").cursor() as up:
        up.execute(
            "update goals set title = 'Held back' where id = "
            "(select id from goals where student_id = %s and deleted_at is null limit 1) returning id",
            (student,),
        )
        (goal,) = up.fetchone()
    with upstream_conn("profiler").cursor() as up:
        up.execute(
            "update future_you_profiles set persona_name = 'Loaded Anyway' where student_id = %s",
            (student,),
        )
    coaching = upstream_conn("coaching")
    with coaching.cursor() as up:
        up.execute("alter table habit_logs rename to habit_logs_away")
    try:
        with owner_conn.cursor() as cur:
            cur.execute("select dashboard.load_student_staging(%s)", (student,))
            assert cur.fetchone()[0] >= 1
            cur.execute("select title from staging.coaching_goals where id = %s", (goal,))
            assert cur.fetchone()[0] != "Held back"
            cur.execute(
                "select persona_name from staging.profiler_future_you_profiles "
                "where student_id = %s",
                (student,),
            )
            assert cur.fetchone()[0] == "Loaded Anyway"
    finally:
        with coaching.cursor() as up:
            up.execute("alter table habit_logs_away rename to habit_logs")
    with owner_conn.cursor() as cur:
        cur.execute("select dashboard.load_student_staging(%s)", (student,))
        cur.execute("select title from staging.coaching_goals where id = %s", (goal,))
        assert cur.fetchone()[0] == "Held back"


@pytest.mark.parametrize(
    "role, relations",
    [
        (
            "authenticator",
            ["fdw_coaching.habit_logs", "staging.coaching_habit_logs", "staging.sources"],
        ),
        # analysts see the load status (staging.sources) but no student-level upstream rows
        ("dashboard_analyst", ["fdw_coaching.habit_logs", "staging.coaching_habit_logs"]),
    ],
)
def test_foreign_and_staging_tables_are_not_readable_by_api_or_analysts(
    connect_as, role, relations
):
    conn = connect_as(role)
    for relation in relations:
        with conn.cursor() as cur, pytest.raises(psycopg2.errors.InsufficientPrivilege):
            cur.execute(f"select * from {relation} limit 1")
