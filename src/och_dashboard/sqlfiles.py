"""Applying the project's SQL (sql/manifest.txt) to a dashboard database.

The manifest names every file and the order; see its header for the three sections. The whole
upgrade runs in one transaction under an advisory lock, so it either applies completely or
leaves the database as it was, and two upgrades never interleave.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import psycopg2

from och_dashboard.config import UPSTREAMS, Settings

SQL_DIR = Path(__file__).resolve().parents[2] / "sql"
REBUILT_SCHEMAS = ("api", "analytics", "dashboard", "auth")
UPGRADE_LOCK = 7_420_001  # advisory lock key of `db upgrade`


class SqlFileError(RuntimeError):
    """A SQL file failed: names the file and the line, with the server's message."""


@dataclass
class Manifest:
    superuser: list[Path] = field(default_factory=list)
    migrations: list[Path] = field(default_factory=list)
    objects: list[Path] = field(default_factory=list)

    @classmethod
    def read(cls, sql_dir: Path = SQL_DIR) -> Manifest:
        manifest = cls()
        section = None
        for raw in (sql_dir / "manifest.txt").read_text().splitlines():
            line = raw.split("#", 1)[0].strip()
            if not line:
                continue
            if line.startswith("["):
                section = line.strip("[]")
                continue
            path = sql_dir / line
            if not path.is_file():
                raise SqlFileError(f"manifest.txt names {line}, which does not exist")
            getattr(manifest, section).append(path)
        return manifest

    def objects_checksum(self) -> str:
        """Changes when an object file or the set of migrations changes (both shape objects)."""
        digest = hashlib.sha256()
        for path in self.objects:
            digest.update(path.name.encode())
            digest.update(path.read_bytes())
        for path in self.migrations:
            digest.update(path.name.encode())
        return digest.hexdigest()


def _checksum(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def run_file(cur, path: Path) -> None:
    """Execute one file; on error, raise SqlFileError with the file and line of the failure."""
    text = path.read_text()
    try:
        cur.execute(text)
    except psycopg2.Error as exc:
        line = None
        position = getattr(exc.diag, "statement_position", None)
        if position:
            line = text[: int(position)].count("\n") + 1
        name = path.relative_to(SQL_DIR) if path.is_relative_to(SQL_DIR) else path.name
        where = f"{name}" + (f", line {line}" if line else "")
        message = (exc.diag.message_primary or str(exc)).strip()
        context = (exc.diag.context or "").strip()
        raise SqlFileError(f"{where}: {message}" + (f"\n{context}" if context else "")) from exc


@dataclass
class UpgradeReport:
    migrations_applied: list[str]
    objects_rebuilt: bool
    upstreams: dict[str, int]


def _run_as_owner(cur, path: Path) -> None:
    """Objects belong to dashboard_owner: create them under its role, whoever applies."""
    cur.execute("set role dashboard_owner")
    run_file(cur, path)
    cur.execute("reset role")


def upgrade(settings: Settings, *, populate: bool = True, log=print) -> UpgradeReport:
    """Bring the dashboard database to the state sql/ describes. Idempotent."""
    manifest = Manifest.read()
    conn = psycopg2.connect(settings.database_url)
    try:
        with conn, conn.cursor() as cur:
            cur.execute("select pg_advisory_xact_lock(%s)", (UPGRADE_LOCK,))
            for path in manifest.superuser:
                run_file(cur, path)
            upstreams = configure_upstreams(cur, settings)

            cur.execute("select version, checksum from meta.schema_migrations")
            applied = dict(cur.fetchall())
            newly = []
            for path in manifest.migrations:
                if path.name in applied:
                    if applied[path.name] != _checksum(path):
                        raise SqlFileError(
                            f"{path.name} changed after it was applied: add a new migration instead"
                        )
                    continue
                log(f"migration {path.name}")
                _run_as_owner(cur, path)
                cur.execute(
                    "insert into meta.schema_migrations (version, checksum) values (%s, %s)",
                    (path.name, _checksum(path)),
                )
                newly.append(path.name)

            checksum = manifest.objects_checksum()
            cur.execute("select checksum from meta.applied_objects")
            row = cur.fetchone()
            rebuild = row is None or row[0] != checksum
            if rebuild:
                log("rebuilding functions, views, policies and api")
                cur.execute("set role dashboard_owner")
                cur.execute("drop schema if exists " + ", ".join(REBUILT_SCHEMAS) + " cascade")
                cur.execute("reset role")
                for path in manifest.objects:
                    _run_as_owner(cur, path)
                cur.execute(
                    "insert into meta.applied_objects (checksum) values (%s) "
                    "on conflict (singleton) do update set checksum = excluded.checksum, "
                    "applied_at = now()",
                    (checksum,),
                )
            # Foreign tables are re-imported on every upgrade: regenerate the load statements
            # so a changed upstream column set reaches them.
            cur.execute("set role dashboard_owner")
            cur.execute("select dashboard.compile_staging_statements()")
            if rebuild and populate:
                cur.execute("select to_regproc('dashboard.populate_matviews') is not null")
                if cur.fetchone()[0]:
                    cur.execute("select dashboard.populate_matviews()")
            cur.execute("reset role")
        return UpgradeReport(newly, rebuild, upstreams)
    finally:
        conn.close()


def configure_upstreams(cur, settings: Settings) -> dict[str, int]:
    """Point each upstream's foreign server at its database and re-import its tables."""
    imported = {}
    for service in UPSTREAMS:
        cur.execute(
            "select meta.configure_upstream(%s, %s, %s, %s, %s, %s)",
            (
                service,
                settings.upstream_host,
                settings.upstream_port,
                settings.upstream_dbname(service),
                settings.upstream_user,
                settings.upstream_password or None,
            ),
        )
        imported[service] = cur.fetchone()[0]
    return imported
