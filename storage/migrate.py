"""Schema migrations, driven from code so an installed wheel can migrate without alembic.ini.

Every service migrates on start (`python -m bot run`, `worker`, the Docker entrypoint), so two
services started at once would otherwise both read "no schema yet" and both create the same
tables: one of them fails half-way. `upgrade` therefore runs under a lock that only another
migration takes, over a channel of its own so Alembic's transactions are untouched:

- PostgreSQL: a session-level advisory lock (`pg_advisory_lock`, scoped to this database) held
  on a separate connection while Alembic runs on its own;
- SQLite: an exclusive `flock` on a lock file beside the database (`veileder.db.migrate-lock`,
  owner-only, left in place: deleting a lock file races with the next process opening it).

The second process waits, then finds the schema at head and does nothing. A waiting process says
so once in the log, so an operator seeing a slow start knows why.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
from collections.abc import Iterator
from importlib.resources import as_file, files
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

# Any fixed 64-bit number, the same in every version: "veileder" in ASCII.
MIGRATION_LOCK_KEY = 0x7665696C65646572
_log = logging.getLogger("veileder.migrate")


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(files("storage") / "migrations"))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(url: str, revision: str = "head") -> None:
    """Bring the database at `url` to `revision`. Safe to run on every start, by every process
    at once: only one migrates at a time (see the module docstring)."""
    with migration_lock(url), as_file(files("storage") / "migrations"):
        command.upgrade(alembic_config(url), revision)


async def upgrade_async(url: str, revision: str = "head") -> None:
    # Alembic's env.py starts its own event loop, so it runs in a worker thread here.
    await asyncio.to_thread(upgrade, url, revision)


def revision(url: str, message: str) -> None:
    """Autogenerate a new migration from the models (developers only: `make migration`)."""
    command.revision(alembic_config(url), message=message, autogenerate=True)


@contextlib.contextmanager
def migration_lock(url: str) -> Iterator[None]:
    """Held while this process migrates; another process's `migration_lock` waits for it."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "postgresql":
        with _advisory_lock(url):
            yield
    elif parsed.database and parsed.database != ":memory:":
        with _file_lock(Path(parsed.database)):
            yield
    else:  # an in-memory database belongs to one connection: nobody to wait for
        yield


@contextlib.contextmanager
def _advisory_lock(url: str) -> Iterator[None]:
    # A plain (synchronous) psycopg engine over the same URL; autocommit, so the session-level
    # lock is not tied to a transaction and no connection sits "idle in transaction" meanwhile.
    engine = create_engine(url, poolclass=NullPool, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            key = {"key": MIGRATION_LOCK_KEY}
            if not connection.scalar(text("SELECT pg_try_advisory_lock(:key)"), key):
                _log.info("another process is migrating this database; waiting for it")
                connection.execute(text("SELECT pg_advisory_lock(:key)"), key)
            try:
                yield
            finally:
                connection.execute(text("SELECT pg_advisory_unlock(:key)"), key)
    finally:
        engine.dispose()


@contextlib.contextmanager
def _file_lock(database: Path) -> Iterator[None]:
    database.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(database.with_name(database.name + ".migrate-lock"), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            _log.info("another process is migrating this database; waiting for it")
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock
