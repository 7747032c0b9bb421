"""The incremental refresh cycle against the real database: staging loads record which students
they changed (staging.student_changes), the kept habit histories (dashboard.habit_history) are
derived again for those students only and rolled forward when a local day starts, readers walk
the stored units when the stored figures are not for today, the mission rows are merged for the
changed students only (everyone when the mission catalogue changed), and recompute_student
derives one student's histories.

Upstream rows are changed through the stand-ins (upstream_conn), then staging is loaded and the
cycle run as dashboard_owner, as the product does. The session's sandbox is shared with the other
test modules: only rows of students picked here are changed upstream, and what is changed in the
dashboard (the clock setting, stored figures, a served row) is put back.
"""

from __future__ import annotations

import random
import re

import pytest

# habit_history's columns, in order (dashboard.v_habit_history has the same)
HISTORY_COLUMNS = (
    "habit_id, user_id, weekly, units, statuses, as_of, "
    "current_streak, longest_streak, at_risk, completed_week"
)


# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------


def rows(conn, sql, params=()):
    with conn.cursor() as cur:
        cur.execute(sql, params)
        return cur.fetchall()


def one(conn, sql, params=()):
    with conn.cursor() as cur:
        cur.execute(sql, params)
        return cur.fetchone()


def scalar(conn, sql, params=()):
    return one(conn, sql, params)[0]


def refresh_all(owner_conn, force: bool = False) -> dict:
    (result,) = one(owner_conn, "select dashboard.refresh_all(%s)", (force,))
    assert "skipped" not in result, result
    return result


def db_now(conn):
    """The database server's clock (staging.student_changes.changed_at is stamped by it)."""
    return one(conn, "select clock_timestamp()")[0]


def changes_since(conn, since) -> set[tuple[str, str]]:
    """{(staging_table, student)} recorded in staging.student_changes after `since`."""
    return set(
        rows(
            conn,
            "select staging_table, user_id::text from staging.student_changes "
            "where changed_at > %s",
            (since,),
        )
    )


def history_diff(conn, users: list[str] | None = None) -> list[tuple]:
    """Rows of dashboard.habit_history and dashboard.v_habit_history that the other lacks (all
    columns compared), tagged 'stored only' / 'live only'; [] when they are equal."""
    where = "" if users is None else "where user_id = any(%(users)s::uuid[])"
    sql = (
        f"select 'stored only', * from (select {HISTORY_COLUMNS} from dashboard.habit_history {where} "
        f"except select {HISTORY_COLUMNS} from dashboard.v_habit_history {where}) a "
        "union all "
        f"select 'live only', * from (select {HISTORY_COLUMNS} from dashboard.v_habit_history {where} "
        f"except select {HISTORY_COLUMNS} from dashboard.habit_history {where}) b "
        "order by 2, 1"
    )
    return rows(conn, sql, {"users": users})


def history_of(conn, users: list[str]) -> dict[str, tuple]:
    """habit_id -> (xmin, the row's columns) of these students' stored histories."""
    return {
        r[0]: (r[1], r[2:])
        for r in rows(
            conn,
            f"select habit_id::text, xmin::text, {HISTORY_COLUMNS} from dashboard.habit_history "
            "where user_id = any(%s::uuid[])",
            (users,),
        )
    }


def daily_habits(conn, with_mission_rows: bool = False) -> list[tuple[str, str]]:
    """(student, habit) of live active daily habits with live logs, one per student, of live
    students, in a stable order; with_mission_rows keeps the students with served mission rows
    (a subsequence: its n-th is at least the n-th of the whole list)."""
    return rows(
        conn,
        """
        select distinct on (h.student_id) h.student_id::text, h.id::text
          from staging.coaching_habits h
          join dashboard.v_identity i on i.user_id = h.student_id
         where h.deleted_at is null and h.active and h.frequency = 'daily'
           and exists (select from staging.coaching_habit_logs l
                        where l.habit_id = h.id and l.deleted_at is null)
           and (not %s or exists (select from serving.student_mission_progress p
                                   where p.user_id = h.student_id))
         order by h.student_id, h.id
        """,
        (with_mission_rows,),
    )


def local_today(conn, student: str):
    return one(
        conn,
        "select (now() at time zone dashboard.effective_timezone(timezone))::date "
        "from staging.identity_students where id = %s",
        (student,),
    )[0]


def winning_log(coaching, habit: str, before=None) -> tuple[str, str]:
    """(id, status) of the log that decides the habit's latest day (before `before` if given):
    the one logged last, as dashboard.v_habit_days resolves them."""
    return one(
        coaching,
        "select id::text, status from habit_logs "
        "where habit_id = %s and deleted_at is null and (%s::date is null or log_date < %s::date) "
        "order by log_date desc, logged_at desc, "
        "case status when 'completed' then 0 when 'skipped' then 1 else 2 end limit 1",
        (habit, before, before),
    )


def flip(coaching, log_id: str, status: str) -> str:
    new = "missed" if status == "completed" else "completed"
    with coaching.cursor() as cur:
        cur.execute("update habit_logs set status = %s where id = %s", (new, log_id))
        assert cur.rowcount == 1
    return new


def add_log_today(owner_conn, coaching, student: str, habit: str) -> str:
    """A new log for the student's local today, logged now (so it decides the day), with a status
    other than the day's current one. Returns its status."""
    today = local_today(owner_conn, student)
    current = one(
        owner_conn,
        "select status from dashboard.v_habit_days where habit_id = %s and log_date = %s",
        (habit, today),
    )
    status = "missed" if current and current[0] == "completed" else "completed"
    with coaching.cursor() as cur:
        cur.execute(
            "insert into habit_logs (id, habit_id, student_id, log_date, status, logged_at) "
            "values (gen_random_uuid(), %s, %s, %s, %s, now())",
            (habit, student, today, status),
        )
    return status


def merges(conn, table: str, after: int) -> list[tuple]:
    """(outcome, rows_changed) of the merges of a serving table logged after refresh_log id `after`."""
    return rows(
        conn,
        "select outcome, rows_changed from ops.refresh_log where id > %s and kind = 'cache' "
        "and target = %s order by id",
        (after, table),
    )


def last_log_id(conn) -> int:
    return one(conn, "select coalesce(max(id), 0) from ops.refresh_log")[0]


def derive_log(conn, after: int) -> tuple:
    """(outcome, rows_changed, error) of the one derive step logged after refresh_log id `after`."""
    found = rows(
        conn,
        "select outcome, rows_changed, error from ops.refresh_log "
        "where id > %s and kind = 'derive' and target = 'dashboard.habit_history' order by id",
        (after,),
    )
    assert len(found) == 1, found
    return found[0]


def incremental(note: str) -> dict[str, int]:
    """The counts an incremental derive step logs: students derived whole, rows patched, rolled."""
    m = re.fullmatch(r"(\d+) students derived whole, (\d+) rows patched, (\d+) rolled", note or "")
    assert m, f"not an incremental derive: {note!r}"
    return dict(zip(("whole", "patched", "rolled"), map(int, m.groups()), strict=True))


@pytest.fixture
def coaching(upstream_conn):
    return upstream_conn("coaching")


@pytest.fixture
def missions(upstream_conn):
    return upstream_conn("missions")


@pytest.fixture
def derived(owner_conn):
    """A baseline: staging caught up and every habit history derived from the logs (the cycle's
    derive step, forced)."""
    with owner_conn.cursor() as cur:
        cur.execute("select dashboard.load_staging()")
        cur.execute("select dashboard.run_cycle_step('derive:dashboard.habit_history', true)")
        assert cur.fetchone()[0] != "failed"
    return owner_conn


@pytest.fixture
def settled(owner_conn):
    """A forced cycle (every habit history derived, every mission row merged), then the change
    log emptied: that cycle consumed everything it held, and what earlier test modules changed
    in the last minutes would otherwise still count (the incremental steps re-read 2 minutes
    back) and could reach "a fifth of the students changed", which turns them into full passes."""
    refresh_all(owner_conn, force=True)
    with owner_conn.cursor() as cur:
        cur.execute("delete from staging.student_changes")
        cur.execute("delete from staging.habit_day_changes")
        cur.execute("delete from staging.submission_changes")
    return owner_conn


# --------------------------------------------------------------------------------------------
# 1. Capture: staging loads record the students whose rows they changed
# --------------------------------------------------------------------------------------------


def test_incremental_loads_record_exactly_the_changed_students(owner_conn, coaching, missions):
    with owner_conn.cursor() as cur:
        cur.execute("select dashboard.load_staging()")  # catch up with earlier tests' changes
    (changed, changed_habit), (deleted, deleted_habit) = daily_habits(owner_conn)[:2]

    # one student's habit log changes upstream: exactly that student is recorded
    since = db_now(owner_conn)
    log_id, status = winning_log(coaching, changed_habit)
    flip(coaching, log_id, status)
    (moved,) = one(owner_conn, "select dashboard.load_staging()")
    assert moved == 1
    assert changes_since(owner_conn, since) == {("coaching_habit_logs", changed)}

    # a soft delete upstream removes the staging row and records its student
    since = db_now(owner_conn)
    gone, _ = winning_log(coaching, deleted_habit)
    with coaching.cursor() as cur:
        cur.execute("update habit_logs set deleted_at = now() where id = %s", (gone,))
    (moved,) = one(owner_conn, "select dashboard.load_staging()")
    assert moved == 1
    assert (
        scalar(
            owner_conn, "select count(*) from staging.coaching_habit_logs where id = %s", (gone,)
        )
        == 0
    )
    assert changes_since(owner_conn, since) == {("coaching_habit_logs", deleted)}

    # a quiet load (it re-reads the rows above through its overlap) records nothing
    since = db_now(owner_conn)
    assert one(owner_conn, "select dashboard.load_staging()")[0] == 0
    assert changes_since(owner_conn, since) == set()

    # a catalogue (no student column) changes: loaded, nothing recorded
    mission_id, title = one(
        missions,
        "select id::text, title from missions where deleted_at is null order by code limit 1",
    )
    since = db_now(owner_conn)
    try:
        with missions.cursor() as cur:
            cur.execute(
                "update missions set title = title || ' (renamed)' where id = %s", (mission_id,)
            )
        assert one(owner_conn, "select dashboard.load_staging()")[0] == 1
        staged = "select title from staging.missions_missions where id = %s"
        assert scalar(owner_conn, staged, (mission_id,)) == f"{title} (renamed)"
    finally:
        with missions.cursor() as cur:
            cur.execute("update missions set title = %s where id = %s", (title, mission_id))
    assert one(owner_conn, "select dashboard.load_staging()")[0] == 1
    assert changes_since(owner_conn, since) == set()


def test_a_per_student_load_records_the_student_when_it_changes_a_row(owner_conn, coaching):
    with owner_conn.cursor() as cur:
        cur.execute("select dashboard.load_staging()")
    student, habit = daily_habits(owner_conn)[2]
    log_id, status = winning_log(coaching, habit)
    new_status = flip(coaching, log_id, status)

    since = db_now(owner_conn)
    (moved,) = one(owner_conn, "select dashboard.load_student_staging(%s)", (student,))
    assert moved == 1
    staged = "select status from staging.coaching_habit_logs where id = %s"
    assert scalar(owner_conn, staged, (log_id,)) == new_status
    assert changes_since(owner_conn, since) == {("coaching_habit_logs", student)}

    # nothing changed: nothing recorded
    since = db_now(owner_conn)
    assert one(owner_conn, "select dashboard.load_student_staging(%s)", (student,))[0] == 0
    assert changes_since(owner_conn, since) == set()


# --------------------------------------------------------------------------------------------
# 2. Habit histories: the cycle keeps them equal to the live computation
# --------------------------------------------------------------------------------------------


def test_after_a_cycle_habit_history_equals_the_live_computation(owner_conn):
    """Not forced: whatever the session did before (here: the fixture's initial bulk load, then
    a cycle), a plain cycle leaves every stored history equal to the one computed from the logs."""
    refresh_all(owner_conn)
    diff = history_diff(owner_conn)
    stored_only = sorted(r[1] for r in diff if r[0] == "stored only")
    live_only = sorted(r[1] for r in diff if r[0] == "live only")
    assert not stored_only and not live_only, (
        f"{len(stored_only)} stored rows differ from the logs, {len(live_only)} histories computed "
        f"from the logs are missing or differ in dashboard.habit_history (of "
        f"{one(owner_conn, 'select count(*) from dashboard.v_habit_history')[0]}; "
        f"stored: {one(owner_conn, 'select count(*) from dashboard.habit_history')[0]}), "
        f"e.g. habits {live_only[:3] or stored_only[:3]}"
    )


def test_a_cycle_derives_everything_when_habit_history_is_empty(settled):
    """The state after the schema's first apply followed by a bulk load (which records no
    student changes): the documented rule is "everything when forced or empty"."""
    owner_conn = settled
    try:
        with owner_conn.cursor() as cur:
            cur.execute("delete from dashboard.habit_history")
        mark = last_log_id(owner_conn)
        refresh_all(owner_conn)
        assert derive_log(owner_conn, mark)[0] == "ok"
        (stored,) = one(owner_conn, "select count(*) from dashboard.habit_history")
        (live,) = one(owner_conn, "select count(*) from dashboard.v_habit_history")
        assert stored == live > 0, "an empty habit_history is derived in full by the next cycle"
        assert history_diff(owner_conn) == []
    finally:
        with owner_conn.cursor() as cur:
            cur.execute("select dashboard.run_cycle_step('derive:dashboard.habit_history', true)")
            cur.execute("select dashboard.refresh_all()")  # the cache follows the histories


def test_a_cycle_derives_the_changed_students_again_and_leaves_the_others(settled, coaching):
    owner_conn = settled
    assert history_diff(owner_conn) == []
    (s1, h1), (s2, h2) = daily_habits(owner_conn)[3:5]
    (untouched,) = one(
        owner_conn,
        "select hh.user_id::text from dashboard.habit_history hh "
        "join staging.identity_students i on i.id = hh.user_id "
        "where hh.user_id <> all(%s::uuid[]) "
        "and (now() at time zone dashboard.effective_timezone(i.timezone))::date = hh.as_of "
        "and not exists (select from staging.student_changes c where c.user_id = hh.user_id) "
        "order by 1 limit 1",
        ([s1, s2],),
    )
    before = history_of(owner_conn, [s1, s2, untouched])

    # s1: its latest day flipped; s2: a new log for today and a soft-deleted earlier day
    log_id, status = winning_log(coaching, h1)
    flip(coaching, log_id, status)
    today = local_today(owner_conn, s2)
    gone, _ = winning_log(coaching, h2, before=today)
    add_log_today(owner_conn, coaching, s2, h2)
    with coaching.cursor() as cur:
        cur.execute("update habit_logs set deleted_at = now() where id = %s", (gone,))

    mark = last_log_id(owner_conn)
    refresh_all(owner_conn)
    outcome, _, note = derive_log(owner_conn, mark)
    assert outcome == "ok" and incremental(note)["patched"] >= 2, "the derive step patched"

    assert history_diff(owner_conn) == []
    after = history_of(owner_conn, [s1, s2, untouched])
    for habit in (h1, h2):
        assert after[habit][1] != before[habit][1], f"habit {habit}'s history did not change"
        assert after[habit][0] != before[habit][0]
    kept = {h: v for h, v in before.items() if v[1][1] == untouched}
    assert kept, "the untouched student has habits"
    assert {h: after[h] for h in kept} == kept, (
        f"untouched student {untouched}'s histories were rewritten (xmin or content changed)"
    )


def habits_with_logs(conn, frequency: str, n: int) -> list[tuple[str, str]]:
    """(student, habit) of n live active habits of this frequency with stored histories and
    live logs, each of another student, in a stable order."""
    return rows(
        conn,
        """
        select distinct on (hh.user_id) hh.user_id::text, hh.habit_id::text
          from dashboard.habit_history hh
          join staging.coaching_habits h on h.id = hh.habit_id
         where h.frequency = %s and h.active and cardinality(hh.units) > 3
         order by hh.user_id, hh.habit_id
         limit %s
        """,
        (frequency, n),
    )


def mutate_logs(coaching, rng: random.Random, student: str, habit: str) -> str:
    """One random change to a habit's logs upstream, of the kinds a student or a service makes;
    returns what it did."""
    logs = rows(
        coaching,
        "select id::text, log_date, status from habit_logs "
        "where habit_id = %s and deleted_at is null order by log_date, id",
        (habit,),
    )
    log_id, day, status = rng.choice(logs)
    other = rng.choice(["completed", "skipped", "missed"])
    kind = rng.choice(["flip", "later_log", "new_day", "delete", "move", "earlier_log"])
    with coaching.cursor() as cur:
        if kind == "flip":
            cur.execute("update habit_logs set status = %s where id = %s", (other, log_id))
        elif kind in ("later_log", "earlier_log"):
            # a second log for the day: logged after every other one (it wins) or long before
            when = "now()" if kind == "later_log" else "timestamptz '2000-01-01'"
            cur.execute(
                "insert into habit_logs (id, habit_id, student_id, log_date, status, logged_at) "
                f"values (gen_random_uuid(), %s, %s, %s, %s, {when})",
                (habit, student, day, other),
            )
        elif kind == "new_day":
            cur.execute(
                "insert into habit_logs (id, habit_id, student_id, log_date, status, logged_at) "
                "values (gen_random_uuid(), %s, %s, %s::date - %s, %s, now())",
                (habit, student, logs[0][1], rng.randint(1, 9), other),
            )
        elif kind == "delete":
            cur.execute("update habit_logs set deleted_at = now() where id = %s", (log_id,))
        else:  # the log moved to another day (a correction)
            cur.execute(
                "update habit_logs set log_date = log_date + %s where id = %s",
                (rng.choice([-3, -1, 1, 2]), log_id),
            )
    return kind


def test_patched_histories_equal_a_derivation_from_every_log(settled, coaching):
    """Random changes to the logs of daily and weekly habits (status flips, a second log for a
    day logged later or earlier, new days, soft deletes, logs moved to another day), three
    rounds: the derive step patches only the changed days (no student derived whole), and every
    stored history equals dashboard.v_habit_history computed from all the logs."""
    owner_conn = settled
    rng = random.Random(20261201)
    picked = habits_with_logs(owner_conn, "daily", 6) + habits_with_logs(owner_conn, "weekly", 4)
    assert len({s for s, _ in picked}) >= 8, "daily and weekly habits of several students"
    users = [s for s, _ in picked]
    done = set()
    for _round in range(3):
        for student, habit in picked:
            for _ in range(rng.randint(1, 3)):
                done.add(mutate_logs(coaching, rng, student, habit))
        mark = last_log_id(owner_conn)
        with owner_conn.cursor() as cur:
            cur.execute("select dashboard.load_staging()")
            cur.execute("select dashboard.run_cycle_step('derive:dashboard.habit_history')")
            assert cur.fetchone()[0] != "failed"
        counts = incremental(derive_log(owner_conn, mark)[2])
        assert counts["whole"] == 0 and counts["patched"] >= 1, counts
        assert history_diff(owner_conn, users) == []
    assert done == {"flip", "later_log", "new_day", "delete", "move", "earlier_log"}
    assert history_diff(owner_conn) == []


def test_a_timezone_change_derives_the_student_whole_and_a_login_does_not(settled, upstream_conn):
    owner_conn = settled
    identity = upstream_conn("identity")
    (moved, _), (logged_in, _) = habits_with_logs(owner_conn, "daily", 2)
    (zone,) = one(identity, "select timezone from students where id = %s", (moved,))
    with identity.cursor() as cur:
        cur.execute(
            "update students set timezone = %s where id = %s",
            ("Pacific/Kiritimati" if zone != "Pacific/Kiritimati" else "Pacific/Pago_Pago", moved),
        )
        cur.execute("update students set last_login_at = now() where id = %s", (logged_in,))
    try:
        mark = last_log_id(owner_conn)
        with owner_conn.cursor() as cur:
            cur.execute("select dashboard.load_staging()")
            cur.execute("select dashboard.run_cycle_step('derive:dashboard.habit_history')")
        assert incremental(derive_log(owner_conn, mark)[2])["whole"] == 1
        assert history_diff(owner_conn, [moved, logged_in]) == []
    finally:
        with identity.cursor() as cur:
            cur.execute("update students set timezone = %s where id = %s", (zone, moved))
        with owner_conn.cursor() as cur:
            cur.execute("select dashboard.load_staging()")
            cur.execute("select dashboard.run_cycle_step('derive:dashboard.habit_history')")


# --------------------------------------------------------------------------------------------
# 3. Roll-forward when a local day starts
# --------------------------------------------------------------------------------------------


def test_roll_walks_every_history_to_the_new_local_day(derived):
    owner_conn = derived
    before = {
        r[0]: r[1:]
        for r in rows(
            owner_conn,
            "select habit_id::text, as_of, current_streak, longest_streak, at_risk, completed_week "
            "from dashboard.habit_history",
        )
    }
    assert before
    try:
        with owner_conn.cursor() as cur:
            cur.execute(
                "select set_config('dashboard.clock', (now() + interval '1 day')::text, false)"
            )
            cur.execute("select dashboard.roll_habit_history()")
            assert cur.fetchone()[0] == len(before), "every history was one local day behind"
        # as_of is each student's local today under the frozen clock: a day after the old one
        stale = rows(
            owner_conn,
            "select hh.habit_id::text, hh.as_of from dashboard.habit_history hh "
            "join staging.identity_students i on i.id = hh.user_id "
            "where hh.as_of <> (dashboard.clock() at time zone "
            "dashboard.effective_timezone(i.timezone))::date",
        )
        assert stale == []
        after = {
            r[0]: r[1:]
            for r in rows(
                owner_conn,
                "select habit_id::text, as_of, current_streak, longest_streak, at_risk, "
                "completed_week from dashboard.habit_history",
            )
        }
        assert after.keys() == before.keys()
        assert all((after[h][0] - before[h][0]).days == 1 for h in before)
        assert any(after[h][1:] != before[h][1:] for h in before), (
            "a day later some streaks or at-risk flags must differ (else this proves nothing)"
        )
        # the walked figures are the ones computed from the logs under the same clock
        assert history_diff(owner_conn) == []
    finally:
        with owner_conn.cursor() as cur:
            cur.execute("select set_config('dashboard.clock', '', false)")
            cur.execute("select dashboard.roll_habit_history()")  # back to the real today
    assert one(owner_conn, "select current_setting('dashboard.clock', true)")[0] == ""
    assert history_diff(owner_conn) == []


# --------------------------------------------------------------------------------------------
# 4. Readers use the stored figures only when they are for today
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("frequency", ["daily", "weekly"])
def test_habit_streaks_use_stored_figures_only_when_they_are_for_today(derived, frequency):
    owner_conn = derived
    habit, user, live = one(
        owner_conn,
        "select hh.habit_id::text, hh.user_id::text, "
        "row(v.current_streak, v.longest_streak, v.at_risk, v.completed_week)::text "
        "from dashboard.habit_history hh "
        "join dashboard.v_habit_history v using (habit_id) "
        "join staging.coaching_habits h on h.id = hh.habit_id "
        "join dashboard.v_identity i on i.user_id = hh.user_id "
        "where h.frequency = %s and h.deleted_at is null and cardinality(hh.units) > 0 "
        "order by hh.current_streak desc, 1 limit 1",
        (frequency,),
    )
    streaks = (
        "select row(current_streak, longest_streak, at_risk, completed_week)::text "
        "from dashboard.v_habit_streaks where habit_id = %s"
    )
    assert one(owner_conn, streaks, (habit,))[0] == live
    owner_conn.autocommit = False
    try:
        with owner_conn.cursor() as cur:
            # wrong figures stored for today: read as stored (the walk is skipped)
            cur.execute(
                "update dashboard.habit_history set current_streak = current_streak + 100, "
                "longest_streak = longest_streak + 100, at_risk = not at_risk, "
                "completed_week = completed_week + 5 where habit_id = %s",
                (habit,),
            )
            cur.execute(
                "select row(current_streak, longest_streak, at_risk, completed_week)::text "
                "from dashboard.habit_history where habit_id = %s",
                (habit,),
            )
            stored = cur.fetchone()[0]
            cur.execute(streaks, (habit,))
            assert cur.fetchone()[0] == stored != live
            # the same wrong figures stored as of an old day: walked now from the units
            cur.execute(
                "update dashboard.habit_history set as_of = date '2000-01-03' where habit_id = %s",
                (habit,),
            )
            cur.execute(streaks, (habit,))
            assert cur.fetchone()[0] == live, f"habit {habit} of {user}"
    finally:
        owner_conn.rollback()
        owner_conn.autocommit = True
    assert history_diff(owner_conn, [user]) == []


# --------------------------------------------------------------------------------------------
# 5. Mission rows: merged for the changed students, for everyone when the catalogue changed
# --------------------------------------------------------------------------------------------


def mission_rows(conn) -> dict[tuple[str, str], tuple]:
    return {
        (r[0], r[1]): r[2:]
        for r in rows(
            conn,
            "select user_id::text, mission_id::text, xmin::text, refreshed_at, ai_score, title "
            "from serving.student_mission_progress",
        )
    }


def test_a_submission_change_merges_only_that_students_mission_row(settled, missions):
    owner_conn = settled
    student, mission, other, other_mission = one(
        owner_conn,
        "select a.user_id::text, a.mission_id::text, b.user_id::text, b.mission_id::text "
        "from serving.student_mission_progress a, serving.student_mission_progress b "
        "where a.user_id <> b.user_id order by a.user_id desc, a.mission_id, b.user_id, "
        "b.mission_id limit 1",
    )
    before = mission_rows(owner_conn)
    (score,) = one(
        missions,
        "update submissions set ai_score = coalesce(ai_score, 50) + 0.01 "
        "where student_id = %s and mission_id = %s returning ai_score",
        (student, mission),
    )
    # a probe: another student's served row made to differ from its source; an incremental
    # merge does not look at it (a merge of everyone would put it back)
    with owner_conn.cursor() as cur:
        cur.execute(
            "update serving.student_mission_progress set ai_feedback = 'probe' "
            "where user_id = %s and mission_id = %s",
            (other, other_mission),
        )
    try:
        mark = last_log_id(owner_conn)
        refresh_all(owner_conn)
        after = mission_rows(owner_conn)
        assert after[(student, mission)][2] == score
        assert after[(student, mission)][1] > before[(student, mission)][1]
        rewritten = {
            k for k in before if k != (other, other_mission) and after[k][0] != before[k][0]
        }
        assert rewritten == {(student, mission)}
        unchanged = [k for k in before if k[0] != student and after[k][1] != before[k][1]]
        assert unchanged == [], "other students' rows kept their refreshed_at"
        feedback = scalar(
            owner_conn,
            "select ai_feedback from serving.student_mission_progress "
            "where user_id = %s and mission_id = %s",
            (other, other_mission),
        )
        assert feedback == "probe", "the merge only looked at the changed student"
        assert merges(owner_conn, "serving.student_mission_progress", mark) == [("ok", 1)]
    finally:
        with owner_conn.cursor() as cur:
            cur.execute("select dashboard.merge_missions_one(%s)", (other,))
    probes = "select count(*) from serving.student_mission_progress where ai_feedback = 'probe'"
    assert scalar(owner_conn, probes) == 0


def test_a_submission_gone_upstream_takes_only_its_mission_row(settled, missions):
    owner_conn = settled
    student, mission = one(
        owner_conn,
        "select user_id::text, mission_id::text from serving.student_mission_progress "
        "order by user_id, mission_id offset 7 limit 1",
    )
    before = mission_rows(owner_conn)
    with missions.cursor() as cur:
        cur.execute(
            "update submissions set deleted_at = now() where student_id = %s and mission_id = %s "
            "returning id",
            (student, mission),
        )
        (submission,) = cur.fetchone()
    try:
        mark = last_log_id(owner_conn)
        refresh_all(owner_conn)
        after = mission_rows(owner_conn)
        assert set(before) - set(after) == {(student, mission)}
        assert {k for k in after if after[k][0] != before[k][0]} == set()
        assert merges(owner_conn, "serving.student_mission_progress", mark) == [("ok", 1)]
    finally:
        with missions.cursor() as cur:
            cur.execute("update submissions set deleted_at = null where id = %s", (submission,))
        refresh_all(owner_conn)
    assert (student, mission) in mission_rows(owner_conn), "back when it is back upstream"


def test_a_catalogue_change_merges_every_students_rows(settled, missions):
    """No student's submission changed (the change log is empty): only a merge of every
    student's rows brings the new title to all of them."""
    owner_conn = settled
    mission, title, students = one(
        owner_conn,
        "select mission_id::text, min(title), count(*) from serving.student_mission_progress "
        "group by 1 order by 3 desc, 1 limit 1",
    )
    assert students > 1
    renamed = f"{title} (v2)"
    try:
        with missions.cursor() as cur:
            cur.execute("update missions set title = %s where id = %s", (renamed, mission))
        refresh_all(owner_conn)
        titles = rows(
            owner_conn,
            "select title, count(*) from serving.student_mission_progress where mission_id = %s "
            "group by 1",
            (mission,),
        )
        assert titles == [(renamed, students)]
    finally:
        with missions.cursor() as cur:
            cur.execute("update missions set title = %s where id = %s", (title, mission))
        refresh_all(owner_conn)
    assert rows(
        owner_conn,
        "select title, count(*) from serving.student_mission_progress where mission_id = %s "
        "group by 1",
        (mission,),
    ) == [(title, students)]


# --------------------------------------------------------------------------------------------
# 6. recompute_student derives the student's habit histories
# --------------------------------------------------------------------------------------------


def test_recompute_student_derives_the_students_habit_history(derived, coaching):
    owner_conn = derived
    (student, habit) = one(
        owner_conn,
        "select h.student_id::text, min(h.id::text) from staging.coaching_habits h "
        "join dashboard.v_identity i on i.user_id = h.student_id "
        "where h.deleted_at is null and h.active and h.frequency = 'daily' "
        "group by 1 having count(*) = 1 order by 1 desc limit 1",
    )
    expected_streak = (
        "select coalesce(max(v.current_streak), 0) from dashboard.v_habit_history v "
        "join staging.coaching_habits h on h.id = v.habit_id "
        "where v.user_id = %s and h.active and h.frequency = 'daily'"
    )
    (streak_before,) = one(owner_conn, expected_streak, (student,))
    add_log_today(owner_conn, coaching, student, habit)
    (moved,) = one(owner_conn, "select dashboard.load_student_staging(%s)", (student,))
    assert moved == 1
    assert history_diff(owner_conn, [student]) != [], "the stored history is behind the logs"

    (result,) = one(owner_conn, "select dashboard.recompute_student(%s)", (student,))
    assert result["found"] is True

    assert history_diff(owner_conn, [student]) == []
    (streak,) = one(owner_conn, expected_streak, (student,))
    assert streak != streak_before, "today's new log changed the student's streak"
    (live,) = one(
        owner_conn,
        "select current_streak from dashboard.v_student_dashboard_live where user_id = %s",
        (student,),
    )
    (cached,) = one(
        owner_conn,
        "select current_streak from serving.student_dashboard_cache where user_id = %s",
        (student,),
    )
    assert cached == live == streak


# --------------------------------------------------------------------------------------------
# 7. The derive step: in full when forced, incremental otherwise
# --------------------------------------------------------------------------------------------


def test_the_derive_step_is_full_when_forced_and_incremental_otherwise(owner_conn, coaching):
    mark = last_log_id(owner_conn)
    refresh_all(owner_conn, force=True)
    assert derive_log(owner_conn, mark)[::2] == ("ok", "full")
    assert history_diff(owner_conn) == []
    with owner_conn.cursor() as cur:  # consumed by the full pass (see the fixture `settled`)
        cur.execute("delete from staging.student_changes")
        cur.execute("delete from staging.habit_day_changes")
    (histories,) = one(owner_conn, "select count(*) from dashboard.habit_history")

    student, habit = daily_habits(owner_conn)[5]
    # a probe: a stored history of a student no load changed, made wrong (still as of today);
    # only a full derive looks at it again
    probe, probe_user = one(
        owner_conn,
        "select habit_id::text, user_id::text from dashboard.habit_history hh "
        "where user_id <> %s and not exists "
        "(select from staging.student_changes c where c.user_id = hh.user_id) "
        "order by current_streak desc, 1 limit 1",
        (student,),
    )
    try:
        with owner_conn.cursor() as cur:
            cur.execute(
                "update dashboard.habit_history set current_streak = current_streak + 100 "
                "where habit_id = %s",
                (probe,),
            )
        log_id, status = winning_log(coaching, habit)
        flip(coaching, log_id, status)

        mark = last_log_id(owner_conn)
        refresh_all(owner_conn)
        outcome, written, note = derive_log(owner_conn, mark)
        assert outcome == "ok" and incremental(note)["whole"] == 0
        assert 1 <= written < histories, "the changed student's history, not everyone's"
        diff = history_diff(owner_conn)
        assert {(r[0], r[1]) for r in diff} == {("stored only", probe), ("live only", probe)}, (
            "the changed student was derived again; the probe was not looked at"
        )

        mark = last_log_id(owner_conn)
        refresh_all(owner_conn, force=True)
        assert derive_log(owner_conn, mark)[::2] == ("ok", "full")
        assert history_diff(owner_conn) == [], "a forced cycle derives every history again"
    finally:
        with owner_conn.cursor() as cur:
            cur.execute("select dashboard.derive_habit_history(array[%s]::uuid[])", (probe_user,))


def first_mission_rows(conn, students: list[str]) -> list[tuple[str, str]]:
    """(student, mission) of each student's first served mission row."""
    return rows(
        conn,
        "select distinct on (user_id) user_id::text, mission_id::text "
        "from serving.student_mission_progress where user_id = any(%s::uuid[]) "
        "order by user_id, mission_id",
        (students,),
    )


def touch_submission(missions, pair: tuple[str, str]) -> None:
    """Change one submission upstream (its AI score by a hundredth)."""
    with missions.cursor() as cur:
        cur.execute(
            "update submissions set ai_score = coalesce(ai_score, 50) + 0.01 "
            "where student_id = %s and mission_id = %s",
            pair,
        )
        assert cur.rowcount == 1


def make_wrong(owner_conn, habit: str, mission_row: tuple[str, str]) -> None:
    """Probes: a habit's kept history and a served mission row made to differ from their sources
    (a pass that reads their changes again repairs them)."""
    with owner_conn.cursor() as cur:
        cur.execute(
            "update dashboard.habit_history set current_streak = current_streak + 100 "
            "where habit_id = %s",
            (habit,),
        )
        cur.execute(
            "update serving.student_mission_progress set ai_feedback = 'probe' "
            "where user_id = %s and mission_id = %s",
            mission_row,
        )


def cycle_reads_only(owner_conn, coaching, missions, habit: str, mission_row: tuple[str, str]):
    """A change of a habit's log and of a submission upstream, then a cycle: it patches that
    one habit and merges that one mission row, and reads nothing else."""
    log_id, status = winning_log(coaching, habit)
    flip(coaching, log_id, status)
    touch_submission(missions, mission_row)
    mark = last_log_id(owner_conn)
    refresh_all(owner_conn)
    outcome, _, note = derive_log(owner_conn, mark)
    assert outcome == "ok" and incremental(note)["patched"] == 1, note
    assert merges(owner_conn, "serving.student_mission_progress", mark) == [("ok", 1)]


def test_a_cycle_skips_what_its_previous_cycle_loaded_and_reads_other_writers_late_changes(
    settled, coaching, missions
):
    """The change logs are read from 30 s before the previous pass (a per-student load can commit
    changes stamped earlier); what the previous cycle's own transaction loaded is not read again.
    Probes: rows of the first cycle's changes made wrong after it; a re-read would repair them."""
    owner_conn = settled
    (s1, h1), (s2, h2), (s3, _) = daily_habits(owner_conn, with_mission_rows=True)[6:9]
    (m1, m2) = first_mission_rows(owner_conn, [s1, s3])

    def probes() -> tuple:
        return one(
            owner_conn,
            "select (select current_streak from dashboard.habit_history where habit_id = %s), "
            "(select ai_feedback from serving.student_mission_progress "
            " where user_id = %s and mission_id = %s)",
            (h1, *m1),
        )

    h1_log, status = winning_log(coaching, h1)
    flip(coaching, h1_log, status)
    touch_submission(missions, m1)
    refresh_all(owner_conn)  # loads and consumes both changes
    make_wrong(owner_conn, h1, m1)
    probed = probes()
    try:
        # the next cycle, well within 30 s: other changes of the same kinds, so both steps run
        cycle_reads_only(owner_conn, coaching, missions, h2, m2)
        assert probes() == probed, "the cycle read again what the previous cycle had loaded"
        assert history_diff(owner_conn, [s2]) == []

        # another writer's change (a per-student load) committed after that pass read, stamped
        # 10 s before it: the next pass reads it
        (log_date,) = one(coaching, "select log_date from habit_logs where id = %s", (h1_log,))
        with owner_conn.cursor() as cur:
            cur.execute(
                "insert into staging.habit_day_changes (habit_id, log_date, changed_at) "
                "select %s, %s, inputs_marker - interval '10 seconds' from ops.refresh_state "
                "where target = 'dashboard.habit_history'",
                (h1, log_date),
            )
        mark = last_log_id(owner_conn)
        refresh_all(owner_conn)
        assert incremental(derive_log(owner_conn, mark)[2])["patched"] == 1
        assert history_diff(owner_conn, [s1]) == [], "the late change was read"
    finally:
        with owner_conn.cursor() as cur:
            cur.execute("select dashboard.derive_habit_history(array[%s]::uuid[])", (s1,))
            cur.execute("select dashboard.merge_missions_one(%s)", (m1[0],))
    assert history_diff(owner_conn, [s1, s2]) == []


def test_what_another_transaction_committed_before_a_pass_read_is_not_read_again(
    settled, coaching, missions
):
    """A change row whose writer had committed when the previous pass read was seen by it, however
    close to that pass its stamp: a staging load run on its own just before a cycle (as
    `och-dashboard staging load` does), and a bulk load's "everything" row. Judged by the stamp
    alone, the cycle after, within 30 s, patched the habit again and took every mission row.
    Probes: rows made wrong after the first cycle; a re-read would repair them."""
    owner_conn = settled
    (s1, h1), (s2, h2) = daily_habits(owner_conn, with_mission_rows=True)[10:12]
    (m1, m2) = first_mission_rows(owner_conn, [s1, s2])

    log_id, status = winning_log(coaching, h1)
    flip(coaching, log_id, status)
    touch_submission(missions, m1)
    with owner_conn.cursor() as cur:
        # a probe the marker's full pass repairs (m2's submission did not change)
        cur.execute(
            "update serving.student_mission_progress set ai_feedback = 'probe' "
            "where user_id = %s and mission_id = %s",
            m2,
        )
        cur.execute("select dashboard.load_staging()")  # its own transaction, committed
        # what a bulk load of the submissions records: "everything changed" (a row of nulls)
        cur.execute(
            "insert into staging.submission_changes (student_id, mission_id) values (null, null)"
        )
    mark = last_log_id(owner_conn)
    refresh_all(owner_conn)
    assert incremental(derive_log(owner_conn, mark)[2])["patched"] == 1
    # the marker's full pass: the touched row and the probe
    assert merges(owner_conn, "serving.student_mission_progress", mark) == [("ok", 2)]
    make_wrong(owner_conn, h1, m1)
    try:
        cycle_reads_only(owner_conn, coaching, missions, h2, m2)
        assert (
            scalar(
                owner_conn,
                "select ai_feedback from serving.student_mission_progress "
                "where user_id = %s and mission_id = %s",
                m1,
            )
            == "probe"
        ), "the mission rows took a full pass again"
        assert history_diff(owner_conn, [s1]) != [], "the habit was patched again"
        assert history_diff(owner_conn, [s2]) == []
    finally:
        with owner_conn.cursor() as cur:
            cur.execute("select dashboard.derive_habit_history(array[%s]::uuid[])", (s1,))
            cur.execute("select dashboard.merge_missions_one(%s)", (m1[0],))
    assert history_diff(owner_conn, [s1, s2]) == []


# --------------------------------------------------------------------------------------------
# The curriculum rows and the module rows: merged for the students (the curriculum summary) and
# the (student, module) pairs (the module rows) that changed, for everyone when the catalogue
# did, left alone otherwise
# --------------------------------------------------------------------------------------------


def curriculum_probe(owner_conn, student: str):
    """Make a served curriculum row differ from its source: a merge that looks at the student
    puts it back, one that does not leaves it."""
    with owner_conn.cursor() as cur:
        cur.execute(
            "update serving.student_curriculum set track_name = 'probe' where user_id = %s",
            (student,),
        )


def probe_left(owner_conn, student: str) -> bool:
    return (
        scalar(
            owner_conn,
            "select track_name from serving.student_curriculum where user_id = %s",
            (student,),
        )
        == "probe"
    )


def module_rows(conn, student: str | None = None) -> dict[tuple[str, str], tuple]:
    """(user, module) -> (xmin, track, position, title, progress, status) of the served rows."""
    return {
        (u, m): rest
        for u, m, *rest in rows(
            conn,
            "select user_id::text, module_id::text, xmin::text, track_code, position, title, "
            "progress_pct, status from serving.student_module_progress "
            "where %(s)s::uuid is null or user_id = %(s)s::uuid",
            {"s": student},
        )
    }


def live_module_rows(conn, student: str) -> dict[tuple[str, str], tuple]:
    return {
        (u, m): tuple(rest)
        for u, m, *rest in rows(
            conn,
            "select user_id::text, module_id::text, track_code, position, title, progress_pct, "
            "status from dashboard.v_module_progress where user_id = %s",
            (student,),
        )
    }


def served_equals_live(conn, student: str) -> bool:
    served = {k: tuple(v[1:]) for k, v in module_rows(conn, student).items()}
    return served == live_module_rows(conn, student)


def test_a_module_progress_change_writes_that_module_row_and_the_students_curriculum_row(
    settled, upstream_conn
):
    owner_conn = settled
    curriculum = upstream_conn("curriculum")
    student, module, pct = one(
        curriculum,
        "select p.student_id::text, p.module_id::text, p.progress_pct from module_progress p "
        "where p.status = 'in_progress' and p.progress_pct < 90 order by p.student_id limit 1",
    )
    other = scalar(
        owner_conn,
        "select user_id::text from serving.student_curriculum where user_id <> %s "
        "order by user_id desc limit 1",
        (student,),
    )
    before = dict(
        rows(owner_conn, "select user_id::text, xmin::text from serving.student_curriculum")
    )
    modules_before = module_rows(owner_conn)
    curriculum_probe(owner_conn, other)
    try:
        mark = last_log_id(owner_conn)
        with curriculum.cursor() as cur:
            cur.execute(
                "update module_progress set progress_pct = progress_pct + 5 "
                "where student_id = %s and module_id = %s",
                (student, module),
            )
        refresh_all(owner_conn)
        assert merges(owner_conn, "serving.student_curriculum", mark) == [("ok", 1)]
        assert merges(owner_conn, "serving.student_module_progress", mark) == [("ok", 1)]
        modules_after = module_rows(owner_conn)
        assert float(modules_after[(student, module)][4]) == float(pct) + 5
        # one module row written: the other 39 of the student's and everyone else's are untouched
        assert {k for k in modules_before if modules_after[k][0] != modules_before[k][0]} == {
            (student, module)
        }
        after = dict(
            rows(owner_conn, "select user_id::text, xmin::text from serving.student_curriculum")
        )
        assert {s for s in before if after[s] != before[s]} == {student, other}
        assert probe_left(owner_conn, other), "the merge only looked at the changed student"
        # the dashboard's curriculum summary follows (mv_curriculum_progress, then the cache)
        (completion,) = one(
            owner_conn,
            "select c.completion_pct = k.completion_pct from serving.student_dashboard_cache c "
            "join serving.student_curriculum k using (user_id) where user_id = %s",
            (student,),
        )
        assert completion
        # nothing changed since: the next cycle does not look at either
        mark = last_log_id(owner_conn)
        refresh_all(owner_conn)
        assert merges(owner_conn, "serving.student_curriculum", mark) == [("skipped", 0)]
        assert merges(owner_conn, "serving.student_module_progress", mark) == [("skipped", 0)]
    finally:
        with owner_conn.cursor() as cur:
            cur.execute("select dashboard.merge_curriculum_one(%s)", (other,))
    assert not probe_left(owner_conn, other)


def test_a_change_refreshed_on_demand_reaches_the_materialized_summary_at_the_next_cycle(
    settled, upstream_conn
):
    """mv_curriculum_progress aggregates the merged module rows. A student's own refresh writes
    their module rows between cycles; the next cycle's module merge then writes nothing, yet the
    summary must be refreshed, or the cache merge would put the old completion back."""
    owner_conn = settled
    curriculum = upstream_conn("curriculum")
    student, module = one(
        curriculum,
        "select p.student_id::text, p.module_id::text from module_progress p "
        "where p.status = 'in_progress' and p.progress_pct < 90 order by p.student_id desc limit 1",
    )

    def completion(relation: str):
        return scalar(
            owner_conn,
            f"select completion_pct from {relation} where user_id = %s",  # noqa: S608 (fixed names)
            (student,),
        )

    before = completion("dashboard.mv_curriculum_progress")
    with curriculum.cursor() as cur:
        cur.execute(
            "update module_progress set progress_pct = progress_pct + 5 "
            "where student_id = %s and module_id = %s",
            (student, module),
        )
    with owner_conn.cursor() as cur:
        cur.execute("select dashboard.refresh_student(%s)", (student,))
    live = completion("dashboard.v_curriculum_summary")
    assert live != before
    assert completion("serving.student_dashboard_cache") == live
    assert completion("dashboard.mv_curriculum_progress") == before  # not refreshed yet
    mark = last_log_id(owner_conn)
    result = refresh_all(owner_conn)
    assert merges(owner_conn, "serving.student_module_progress", mark) == [("ok", 0)]
    assert result["matview:dashboard.mv_curriculum_progress"] == "ok"
    assert completion("dashboard.mv_curriculum_progress") == live
    assert completion("serving.student_dashboard_cache") == live
    assert completion("serving.student_curriculum") == live


def test_a_progress_row_gone_upstream_serves_the_module_as_not_started(settled, upstream_conn):
    """module_progress has no deleted_at: a row deleted upstream leaves staging with a full
    load (or the student's own refresh), and the capture of that delete reaches the cycle."""
    owner_conn = settled
    curriculum = upstream_conn("curriculum")
    saved = one(
        curriculum,
        "select student_id::text, module_id::text, progress_pct, status, completed_at "
        "from module_progress where status = 'completed' order by student_id, module_id limit 1",
    )
    student, module = saved[:2]
    with curriculum.cursor() as cur:
        cur.execute(
            "delete from module_progress where student_id = %s and module_id = %s",
            (student, module),
        )
    try:
        with owner_conn.cursor() as cur:
            cur.execute("select dashboard.load_staging_table('curriculum_module_progress', true)")
        refresh_all(owner_conn)
        row = module_rows(owner_conn, student)[(student, module)]
        assert (float(row[4]), row[5]) == (0.0, "not_started")
        assert served_equals_live(owner_conn, student)
    finally:
        with curriculum.cursor() as cur:
            cur.execute(
                "insert into module_progress (student_id, module_id, progress_pct, status, "
                "completed_at) values (%s, %s, %s, %s, %s)",
                saved,
            )
        refresh_all(owner_conn)
    assert module_rows(owner_conn, student)[(student, module)][5] == "completed"


def test_a_track_change_replaces_the_students_module_rows_and_a_login_does_not_touch_them(
    settled, upstream_conn
):
    owner_conn = settled
    identity = upstream_conn("identity")
    student, track = one(
        owner_conn,
        "select user_id::text, track_code from serving.student_curriculum "
        "where track_code = 'SOC' order by user_id offset 2 limit 1",
    )
    other_track = scalar(
        owner_conn,
        "select code from staging.curriculum_tracks where code <> %s "
        "and exists (select from staging.curriculum_modules m where m.track_code = code "
        "and m.deleted_at is null) order by code limit 1",
        (track,),
    )
    before = module_rows(owner_conn, student)
    try:
        # a login changes identity but not the track: the module rows are not even compared
        mark = last_log_id(owner_conn)
        with identity.cursor() as cur:
            cur.execute("update students set last_login_at = now() where id = %s", (student,))
        refresh_all(owner_conn)
        assert module_rows(owner_conn, student) == before
        assert merges(owner_conn, "serving.student_module_progress", mark) == [("ok", 0)]
        with identity.cursor() as cur:
            cur.execute("update students set track_code = %s where id = %s", (other_track, student))
        refresh_all(owner_conn)
        after = module_rows(owner_conn, student)
        assert after and {v[1] for v in after.values()} == {other_track}
        assert served_equals_live(owner_conn, student)
        assert (
            scalar(
                owner_conn,
                "select track_code from serving.student_curriculum where user_id = %s",
                (student,),
            )
            == other_track
        )
    finally:
        with identity.cursor() as cur:
            cur.execute("update students set track_code = %s where id = %s", (track, student))
        refresh_all(owner_conn)
    assert {v[1] for v in module_rows(owner_conn, student).values()} == {track}
    assert served_equals_live(owner_conn, student)


def test_a_module_renamed_in_the_catalogue_reaches_every_students_module_rows(
    settled, upstream_conn
):
    """No student's own progress changed: only a merge of everyone brings the new title to all
    of them (and puts a probe back)."""
    owner_conn = settled
    curriculum = upstream_conn("curriculum")
    module, title, students = one(
        owner_conn,
        "select module_id::text, min(title), count(*) from serving.student_module_progress "
        "group by 1 order by 3 desc, 1 limit 1",
    )
    assert students > 1
    other = scalar(
        owner_conn,
        "select user_id::text from serving.student_curriculum order by user_id limit 1",
    )
    probe_student, probe_module = one(
        owner_conn,
        "select user_id::text, module_id::text from serving.student_module_progress "
        "where module_id <> %s order by user_id limit 1",
        (module,),
    )
    renamed = f"{title} (v2)"
    titled = (
        "select title, count(*) from serving.student_module_progress where module_id = %s "
        "group by 1"
    )
    curriculum_probe(owner_conn, other)
    with owner_conn.cursor() as cur:
        cur.execute(
            "update serving.student_module_progress set title = 'probe' "
            "where user_id = %s and module_id = %s",
            (probe_student, probe_module),
        )
    try:
        mark = last_log_id(owner_conn)
        with curriculum.cursor() as cur:
            cur.execute("update modules set title = %s where id = %s", (renamed, module))
        refresh_all(owner_conn)
        assert rows(owner_conn, titled, (module,)) == [(renamed, students)]
        assert not probe_left(owner_conn, other), "every student's curriculum row was looked at"
        assert module_rows(owner_conn, probe_student)[(probe_student, probe_module)][3] != "probe"
        assert merges(owner_conn, "serving.student_curriculum", mark)[0][0] == "ok"
        assert merges(owner_conn, "serving.student_module_progress", mark)[0][0] == "ok"
    finally:
        with curriculum.cursor() as cur:
            cur.execute("update modules set title = %s where id = %s", (title, module))
        refresh_all(owner_conn)
    assert rows(owner_conn, titled, (module,)) == [(title, students)]


def test_a_student_gone_upstream_loses_the_curriculum_and_module_rows(settled, upstream_conn):
    owner_conn = settled
    identity = upstream_conn("identity")
    student = scalar(
        owner_conn,
        "select user_id::text from serving.student_module_progress group by user_id "
        "order by user_id offset 3 limit 1",
    )
    count = "select count(*) from serving.student_curriculum where user_id = %s"
    modules = "select count(*) from serving.student_module_progress where user_id = %s"
    served = scalar(owner_conn, modules, (student,))
    assert served > 0
    with identity.cursor() as cur:
        cur.execute("update students set deleted_at = now() where id = %s", (student,))
    try:
        refresh_all(owner_conn)
        assert scalar(owner_conn, count, (student,)) == 0
        assert scalar(owner_conn, modules, (student,)) == 0
    finally:
        with identity.cursor() as cur:
            cur.execute("update students set deleted_at = null where id = %s", (student,))
        refresh_all(owner_conn)
    assert scalar(owner_conn, count, (student,)) == 1
    assert scalar(owner_conn, modules, (student,)) == served
