"""Backups of the whole database, and restoring one: `python -m bot backup` and `restore`.

A backup is one file, readable by its owner only (it holds everything the bot stores about
people), written under a temporary name and renamed into place, so a backup that failed never
replaces a good one of the same name.

SQLite: the online backup API (`sqlite3.Connection.backup`) copies every page in one step, inside
one read transaction: with the write-ahead log the bot keeps writing meanwhile, and the copy is
the database as it was when the step began (stepwise copying would start over on every write
and might never finish under a busy bot). The copy is switched to a rollback journal, so the
backup is one self-contained file that opens read-only without `-wal` or `-shm` files.

PostgreSQL: `pg_dump --format=custom` (one consistent snapshot, while the services run), which
`pg_restore` reads. Restoring replaces the database's tables in one transaction: the tables,
sequences and types of the current schema are dropped and the backup's created, by `psql
--single-transaction` fed the SQL that `pg_restore` makes of the backup, so a failure half-way
leaves the database as it was. (`pg_restore --clean` alone would leave a table that a newer
migration added, and the next migration would then fail on it.) The SQL is made in full before
psql starts, so a damaged file is refused before anything is dropped. Ownership and grants are
not restored (`--no-owner --no-privileges`): the database user of the new deployment owns what
it restores. The client tools must be the server's major version or newer.

Restore refuses a target that holds rows, unless forced (see `rows_held`); a migrated but empty
database, as a fresh deployment's entrypoint leaves it, is fine to restore into.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection, make_url

from storage.db import Database, private_sqlite_file

SQLITE_MAGIC = b"SQLite format 3\x00"
PG_DUMP_MAGIC = b"PGDMP"
VERSION_TABLE = "alembic_version"
CLIENT_TOOLS = (
    "install the PostgreSQL client tools (postgresql-client, the server's major version or newer)"
)

# Drops what migrations create in the current schema, before the backup's SQL creates it again.
_DROP_SCHEMA_OBJECTS = """
DO $$
DECLARE item record;
BEGIN
  FOR item IN SELECT tablename FROM pg_tables WHERE schemaname = current_schema() LOOP
    EXECUTE format('DROP TABLE IF EXISTS %I CASCADE', item.tablename);
  END LOOP;
  FOR item IN SELECT sequencename FROM pg_sequences WHERE schemaname = current_schema() LOOP
    EXECUTE format('DROP SEQUENCE IF EXISTS %I CASCADE', item.sequencename);
  END LOOP;
  FOR item IN SELECT viewname FROM pg_views WHERE schemaname = current_schema() LOOP
    EXECUTE format('DROP VIEW IF EXISTS %I CASCADE', item.viewname);
  END LOOP;
  FOR item IN SELECT t.typname FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
              WHERE n.nspname = current_schema() AND t.typtype = 'e' LOOP
    EXECUTE format('DROP TYPE IF EXISTS %I CASCADE', item.typname);
  END LOOP;
END $$;
"""


class BackupError(Exception):
    """Why a backup or restore did not happen, in one line for the operator."""


class ToolMissing(BackupError):
    """A PostgreSQL client program is not installed (or not on PATH)."""


class NotABackup(BackupError):
    """The file given to restore is not a backup this database can take."""


def is_postgresql(url: str) -> bool:
    return make_url(url).get_backend_name() == "postgresql"


def sqlite_path(url: str) -> Path:
    database = make_url(url).database
    if not database or database == ":memory:":
        raise BackupError("DATABASE_URL names no SQLite file to back up or restore")
    return Path(database)


# --- writing a backup ---------------------------------------------------------------------------


@contextlib.contextmanager
def _private_output(out: Path) -> Iterator[Path]:
    """A new owner-only file beside `out`, renamed to `out` if the block succeeds."""
    temporary = out.with_name(f".{out.name}.{os.getpid()}.{secrets.token_hex(4)}.partial")
    try:
        os.close(os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except OSError as exc:
        raise BackupError(f"cannot write {out}: {exc.strerror or exc}") from None
    try:
        yield temporary
        os.replace(temporary, out)
    finally:
        temporary.unlink(missing_ok=True)


def backup_sqlite(url: str, out: Path) -> None:
    database = sqlite_path(url)
    if not database.is_file():
        raise BackupError(f"there is no database at {database} (check VAR_DIR or DATABASE_URL)")
    with _private_output(out) as temporary:
        source = sqlite3.connect(database, timeout=10)
        target = sqlite3.connect(temporary)
        try:
            source.backup(target)  # every page in one step: one consistent snapshot
            target.execute("PRAGMA journal_mode=DELETE")
            (result,) = target.execute("PRAGMA quick_check").fetchone()
            if result != "ok":
                raise BackupError(f"the copy of {database} failed its check: {result}")
        except sqlite3.Error as exc:
            raise BackupError(f"cannot back up {database}: {exc}") from None
        finally:
            target.close()
            source.close()


def backup_postgresql(url: str, out: Path) -> None:
    pg_dump = _tool("pg_dump", "backup")
    conninfo, env = _libpq(url)
    with _private_output(out) as temporary, temporary.open("wb") as file:
        done = subprocess.run(
            [pg_dump, "--format=custom", f"--dbname={conninfo}"],
            stdout=file,
            stderr=subprocess.PIPE,
            env=env,
            check=False,
        )
        if done.returncode != 0:
            raise BackupError(f"pg_dump failed: {_reason(done.stderr, 'pg_dump')}")


# --- restoring ----------------------------------------------------------------------------------


def _rows_by_table(connection: Connection) -> dict[str, int]:
    found = {}
    for table in inspect(connection).get_table_names():
        if table != VERSION_TABLE:
            found[table] = connection.scalar(text(f'SELECT count(*) FROM "{table}"')) or 0
    return {table: rows for table, rows in found.items() if rows}


async def rows_held(url: str) -> dict[str, int]:
    """The tables of the database at `url` that hold rows, with their counts (the Alembic
    version row aside: a migrated, empty database holds nothing worth keeping)."""
    if not is_postgresql(url) and not sqlite_path(url).exists():
        return {}
    db = Database(url)
    try:
        async with db.engine.connect() as connection:
            return await connection.run_sync(_rows_by_table)
    finally:
        await db.close()


async def other_sessions(url: str) -> int:
    """How many other connections a PostgreSQL database has (a running bot or worker)."""
    db = Database(url)
    try:
        async with db.engine.connect() as connection:
            query = (
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
            return int(await connection.scalar(text(query)) or 0)
    finally:
        await db.close()


def _header(backup: Path) -> bytes:
    try:
        with backup.open("rb") as file:
            return file.read(len(SQLITE_MAGIC))
    except OSError as exc:
        raise NotABackup(f"cannot read {backup}: {exc.strerror or exc}") from None


def check_kind(backup: Path, url: str) -> None:
    """Refuse, before anything else is asked, a file that is no backup for this database."""
    header = _header(backup)
    if is_postgresql(url):
        if header == SQLITE_MAGIC:
            raise NotABackup(f"{backup} is a SQLite backup, but DATABASE_URL is PostgreSQL")
        if not header.startswith(PG_DUMP_MAGIC):
            raise NotABackup(
                f"{backup} is not a Veileder backup (not made by pg_dump --format=custom)"
            )
    else:
        if header.startswith(PG_DUMP_MAGIC):
            raise NotABackup(f"{backup} is a PostgreSQL backup, but DATABASE_URL is SQLite")
        if header != SQLITE_MAGIC:
            raise NotABackup(f"{backup} is not a Veileder backup (not a SQLite database)")


def restore_sqlite(backup: Path, url: str) -> None:
    check_kind(backup, url)
    database = sqlite_path(url)
    source = sqlite3.connect(f"{backup.resolve().as_uri()}?mode=ro", uri=True)
    try:
        tables = {row[0] for row in source.execute("SELECT name FROM sqlite_master")}
        if VERSION_TABLE not in tables:
            raise NotABackup(f"{backup} is not a Veileder backup (it has no {VERSION_TABLE})")
        (result,) = source.execute("PRAGMA quick_check").fetchone()
        if result != "ok":
            raise NotABackup(f"{backup} is damaged: {result}")
        private_sqlite_file(database)
        target = sqlite3.connect(database, timeout=10)
        try:
            source.backup(target)
        finally:
            target.close()
    except sqlite3.Error as exc:
        raise BackupError(f"cannot restore {backup} into {database}: {exc}") from None
    finally:
        source.close()


def restore_postgresql(backup: Path, url: str) -> None:
    check_kind(backup, url)
    pg_restore, psql = _tool("pg_restore", "restore"), _tool("psql", "restore")
    made = subprocess.run(
        [pg_restore, "--no-owner", "--no-privileges", "--file=-", str(backup)],
        capture_output=True,
        check=False,
    )
    if made.returncode != 0:
        raise NotABackup(f"pg_restore cannot read {backup}: {_reason(made.stderr, 'pg_restore')}")
    if f"TABLE public.{VERSION_TABLE}".encode() not in made.stdout:
        raise NotABackup(f"{backup} is not a Veileder backup (it has no {VERSION_TABLE})")
    conninfo, env = _libpq(url)
    command = [psql, "--no-psqlrc", "--quiet", "--single-transaction", "--set=ON_ERROR_STOP=1"]
    command += ["--output=/dev/null", f"--dbname={conninfo}"]
    command += ["--command", _DROP_SCHEMA_OBJECTS, "--file=-"]  # one transaction, in this order
    done = subprocess.run(
        command,
        input=made.stdout,
        capture_output=True,
        env=env,
        check=False,
    )
    if done.returncode != 0:
        raise BackupError(f"the restore was rolled back: {_reason(done.stderr, 'psql')}")


# --- the PostgreSQL client tools ----------------------------------------------------------------


def _tool(name: str, purpose: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise ToolMissing(f"{purpose} needs {name}, which is not on PATH: {CLIENT_TOOLS}")
    return found


def _libpq(url: str) -> tuple[str, dict[str, str]]:
    """The connection as a libpq URI for the client tools, with the password in the
    environment instead (a command line is visible to every user of the machine in `ps`)."""
    parsed = make_url(url)
    env = dict(os.environ)
    if parsed.password is not None:
        env["PGPASSWORD"] = str(parsed.password)
    plain = parsed.set(drivername="postgresql", password=None)
    return plain.render_as_string(hide_password=False), env


def _reason(stderr: bytes, tool: str) -> str:
    """The first line that says what went wrong, without the tool's own prefix."""
    lines = [line.strip() for line in stderr.decode(errors="replace").splitlines() if line.strip()]
    for line in lines:
        if "error" in line.lower() or "fatal" in line.lower():
            return line.removeprefix(f"{tool}: ").removeprefix("error: ")
    return lines[0] if lines else f"{tool} failed without a message"
