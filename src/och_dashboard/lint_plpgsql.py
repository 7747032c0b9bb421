"""`make lint`: every PL/pgSQL function of the project, checked by plpgsql_check in a sandbox."""

from __future__ import annotations

import sys

from och_dashboard.sandbox import Sandbox

SCHEMAS = ("auth", "dashboard", "api", "analytics", "meta")


def main() -> int:
    box = Sandbox.create(label="lint")
    try:
        box.upgrade(populate=False)
        with box.connect() as conn, conn.cursor() as cur:
            cur.execute("select 1 from pg_extension where extname = 'plpgsql_check'")
            if not cur.fetchone():
                print("plpgsql_check is not installed: skipped", file=sys.stderr)
                return 0
            cur.execute(
                """
                select p.oid::regprocedure::text, c.lineno, c.level, c.message
                  from pg_proc p
                  join pg_namespace n on n.oid = p.pronamespace
                  join pg_language l on l.oid = p.prolang
                  cross join lateral extensions.plpgsql_check_function_tb(p.oid, fatal_errors => false) c
                 where l.lanname = 'plpgsql' and n.nspname = any(%s)
                   and p.prorettype <> 'trigger'::regtype
                """,
                (list(SCHEMAS),),
            )
            problems = cur.fetchall()
            cur.execute(
                "select count(*) from pg_proc p join pg_namespace n on n.oid = p.pronamespace "
                "join pg_language l on l.oid = p.prolang "
                "where l.lanname = 'plpgsql' and n.nspname = any(%s)",
                (list(SCHEMAS),),
            )
            checked = cur.fetchone()[0]
        errors = [p for p in problems if p[2] == "error"]
        for p in problems:
            print(f"{p[0]}: line {p[1]}: {p[2]}: {p[3]}", file=sys.stderr)
        print(
            f"plpgsql_check: {checked} functions, {len(errors)} errors, "
            f"{len(problems) - len(errors)} warnings"
        )
        return 1 if errors else 0
    finally:
        box.destroy()


if __name__ == "__main__":
    sys.exit(main())
