"""Engines and sessions.

One `Database` per process, opened in the application's `post_init` and closed in
`post_shutdown`. Each unit of work takes its own session (`async with db.session() as s`), and no
network call to Telegram or SMTP is ever awaited while a write transaction is open.
"""

from __future__ import annotations

import contextlib
import logging
import os
import stat
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets the sender read while a handler writes; busy_timeout waits instead of failing;
    # secure_delete overwrites erased rows so /delete leaves no trace in the file.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA secure_delete=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def create_engine(url: str) -> AsyncEngine:
    """`hide_parameters`: a failed statement's error (which reaches the log) must not carry the
    bound values, which are addresses, names and rendered emails."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            private_sqlite_file(Path(parsed.database))
        engine = create_async_engine(url, connect_args={"timeout": 10}, hide_parameters=True)
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
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

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """A unit of work: committed when the block ends, rolled back if it raises."""
        async with self._sessions() as session, session.begin():
            yield session

    async def compact_after_erase(self) -> None:
        """Push erased pages out of SQLite's write-ahead log so no copy of them remains."""
        if self.is_sqlite:
            async with self.engine.connect() as conn:
                await conn.execute(text("PRAGMA wal_checkpoint(TRUNCATE)"))

    async def close(self) -> None:
        await self.engine.dispose()
