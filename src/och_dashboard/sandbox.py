"""A throwaway copy of the whole stack on a running server: a uniquely named dashboard database
and its eight upstream stand-ins (same unique prefix), upgraded from sql/. Used by the tests,
`make lint` and the benchmarks, so none of them touches a running demo's databases.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import secrets

import psycopg2

from och_dashboard import sqlfiles, upstream
from och_dashboard.config import UPSTREAMS, Settings


@dataclasses.dataclass
class Sandbox:
    settings: Settings
    prefix: str

    @classmethod
    def create(cls, base: Settings | None = None, label: str = "t") -> Sandbox:
        base = base or Settings.from_env()
        prefix = f"och_{label}_{os.getpid()}_{secrets.token_hex(3)}_"
        dashboard_dsn = base.admin_dsn(prefix + "dashboard")
        settings = dataclasses.replace(
            Settings.from_env(database_url=dashboard_dsn),
            upstream_db_prefix=prefix,
            jwt_secret=base.jwt_secret or secrets.token_urlsafe(32),
            rq_queue_prefix=prefix.rstrip("_"),
        )
        box = cls(settings, prefix)
        upstream.create_stand_ins(settings, log=lambda _: None)
        upstream.ensure_database(settings, settings.dashboard_dbname)
        return box

    def upgrade(self, **kwargs) -> sqlfiles.UpgradeReport:
        return sqlfiles.upgrade(self.settings, log=lambda _: None, **kwargs)

    def seed(self, students: int, seed_value: int = 1, now=None) -> dict[str, int]:
        return upstream.seed(self.settings, students, seed_value, now)

    def connect(self, user: str | None = None, dbname: str | None = None):
        """A connection to the dashboard database (or an upstream), as `user` if given."""
        dsn = self.settings.admin_dsn(dbname or self.settings.dashboard_dbname)
        kwargs = {"user": user} if user else {}
        return psycopg2.connect(dsn, **kwargs)

    @staticmethod
    def reap_orphans(base: Settings | None = None) -> list[str]:
        """Drop the databases of sandboxes whose process is gone (a killed test run)."""
        base = base or Settings.from_env()
        admin = psycopg2.connect(base.admin_dsn("postgres"))
        admin.autocommit = True
        dropped = []
        with contextlib.closing(admin), admin.cursor() as cur:
            cur.execute(
                r"select datname, (regexp_match(datname, '^och_[a-z0-9]+_(\d+)_[0-9a-f]{6}_'))[1]::int "
                r"from pg_database where datname ~ '^och_[a-z0-9]+_\d+_[0-9a-f]{6}_'"
            )
            for name, pid in cur.fetchall():
                if not os.path.exists(f"/proc/{pid}"):
                    cur.execute(f'drop database if exists "{name}" with (force)')
                    dropped.append(name)
        return dropped

    def destroy(self) -> None:
        admin = psycopg2.connect(self.settings.admin_dsn("postgres"))
        admin.autocommit = True
        with contextlib.closing(admin), admin.cursor() as cur:
            for name in [self.settings.dashboard_dbname] + [
                self.settings.upstream_dbname(s) for s in UPSTREAMS
            ]:
                cur.execute(f'drop database if exists "{name}" with (force)')
