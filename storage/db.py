"""Engines and sessions.

One `Database` per process, opened in the application's `post_init` and closed in
`post_shutdown`. Each unit of work takes its own session (`async with db.session() as s`), and no
network call to Telegram or SMTP is ever awaited while a write transaction is open.

On SQLite every session begins `BEGIN IMMEDIATE`: it takes the write lock at its start, waiting
up to `busy_timeout` for it. A deferred transaction that reads and then writes would instead try
to upgrade its read snapshot when it writes, and fail at once with SQLITE_BUSY_SNAPSHOT ("database
is locked") if anyone committed since: `busy_timeout` cannot retry that, because waiting cannot
make an old snapshot current. Immediate sessions queue for the one writer instead; they also make
each unit of work's reads and writes one serial step, so a read-then-write is never raced on
SQLite. Which sessions write is not guessed per call site: a session that does not write still
holds the lock only for its few milliseconds (no network call is awaited inside one). The only
exception is `db.session(write=False)`, for pure reads on a path every update takes (the inbox's
own reads, the "is this chat marked unreachable?" check): it begins deferred, reads a WAL
snapshot without waiting for the writer, and must never write (on PostgreSQL, where readers and
writers never block each other, the flag changes nothing).

Within one process the SQLite writers also take turns on an `asyncio.Lock` before `BEGIN
IMMEDIATE`: first come, first served, with no polling. SQLite's busy handler otherwise sleeps
in growing steps (up to 100 ms) between tries for the lock: 200 read-then-write units of work
started at once took about twice as long that way (measured on 2 cores). Other processes (a
worker, the CLI) still meet at the file's lock, through `busy_timeout`. A write session must
therefore never open another one inside it (it would wait for itself, and fail after
`BUSY_SECONDS`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import stat
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

_READ_ONLY = "veileder_read_only"
BUSY_SECONDS = 10  # how long a writer waits for SQLite's lock before it fails


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets the sender read while a handler writes; busy_timeout waits instead of failing;
    # secure_delete overwrites erased rows so /delete leaves no trace in the file.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={BUSY_SECONDS * 1000}")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA secure_delete=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()
    # The driver's own implicit BEGIN is off, so that `_begin` decides how each one starts.
    dbapi_connection.isolation_level = None


def _begin(conn: Connection) -> None:
    """`BEGIN IMMEDIATE`, unless the session was opened with `write=False` (see the module)."""
    options = conn.get_execution_options()
    if options.get("isolation_level") == "AUTOCOMMIT":
        return  # no transaction (a checkpoint)
    if options.get(_READ_ONLY):
        conn.exec_driver_sql("BEGIN")
    else:
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def create_engine(url: str) -> AsyncEngine:
    """`hide_parameters`: a failed statement's error (which reaches the log) must not carry the
    bound values, which are addresses, names and rendered emails."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            private_sqlite_file(Path(parsed.database))
        engine = create_async_engine(url, connect_args={"timeout": 10}, hide_parameters=True)
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        event.listen(engine.sync_engine, "begin", _begin)
        return engine
    return create_async_engine(url, pool_pre_ping=True, hide_parameters=True)


def private_sqlite_file(path: Path) -> None:
    """Create the database file readable by its owner only, before SQLite opens it.

    The file holds clinicians' names, addresses and phone numbers. SQLite creates a missing file
    with 0644 less the umask, but gives its `-wal` and `-shm` files the mode of the database file:
    so creating the (empty, hence valid) file ourselves with 0600 makes all three private, without
    changing the process-wide umask under other threads. A missing directory is created 0700; a
    file left group- or world-readable by an older version is made private (with its `-wal` and
    `-shm`), once, on the next start.
    """
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    for file in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        with contextlib.suppress(FileNotFoundError):
            mode = stat.S_IMODE(file.stat().st_mode)
            if mode & 0o077:
                try:
                    file.chmod(mode & 0o700)
                except PermissionError:  # someone else's file: SQLite will say what it can do
                    logging.getLogger("veileder").warning(
                        "%s is readable by others and not ours to change", file
                    )


class Database:
    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = create_engine(url)
        self._sessions = async_sessionmaker(self.engine, expire_on_commit=False)
        # SQLite's writers of this process take turns here, first come first served, instead
        # of polling for the file's lock in SQLite's busy handler (see the module).
        self._writer = asyncio.Lock() if self.is_sqlite else None

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    @asynccontextmanager
    async def session(self, *, write: bool = True) -> AsyncIterator[AsyncSession]:
        """A unit of work: committed when the block ends, rolled back if it raises.
        `write=False`: it only reads (SQLite then does not take the write lock, see above)."""
        if write and self._writer is not None:
            async with asyncio.timeout(BUSY_SECONDS):  # as long as SQLite's own busy_timeout
                await self._writer.acquire()
            try:
                async with self._sessions() as session, session.begin():
                    yield session
            finally:
                self._writer.release()
            return
        async with self._sessions() as session, session.begin():
            if not write:
                await session.connection(execution_options={_READ_ONLY: True})
            yield session

    async def compact_after_erase(self) -> None:
        """Push erased pages out of SQLite's write-ahead log so no copy of them remains."""
        if self.is_sqlite:
            async with self.engine.connect() as conn:
                autocommit = await conn.execution_options(isolation_level="AUTOCOMMIT")
                await autocommit.execute(text("PRAGMA wal_checkpoint(TRUNCATE)"))

    async def close(self) -> None:
        await self.engine.dispose()
