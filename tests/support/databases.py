"""Test databases from a migrated template: Alembic runs once per test session and backend, and
each test gets a copy (a file copy on SQLite, `CREATE DATABASE ... TEMPLATE` on PostgreSQL), which
takes milliseconds where migrating took seconds. tests/storage/test_storage.py still migrates from
empty on both backends, and checks that the result is exactly the models."""

from __future__ import annotations

import functools
import queue
import shutil
import threading
import uuid
from collections.abc import Callable
from pathlib import Path

import psycopg

from storage.migrate import upgrade


def sqlite_url_at(path: Path) -> str:
    return f"sqlite+aiosqlite:///{path}"


def migrate_sqlite_template(path: Path) -> Path:
    """Migrate a new SQLite file at `path` to head, leaving it whole in one file to copy."""
    upgrade(sqlite_url_at(path))
    # The last connection's close checkpoints the WAL into the main file and removes it; a copy
    # of the main file alone is then the whole database.
    assert not path.with_name(path.name + "-wal").exists(), "the template kept a WAL file"
    return path


def copy_sqlite_template(template: Path, target: Path) -> str:
    """Put a copy of the migrated template at `target` (which must not exist); return its URL."""
    target.parent.mkdir(parents=True, exist_ok=True)
    assert not target.exists(), f"{target} already exists"
    shutil.copyfile(template, target)
    return sqlite_url_at(target)


def unique_database_name(kind: str) -> str:
    return f"veileder_{kind}_{uuid.uuid4().hex[:12]}"


def postgres_url_of(server: str, name: str) -> str:
    """The SQLAlchemy URL of database `name` on the server whose libpq URL is `server`."""
    base = server.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://", 1)
    return f"{base}/{name}"


def create_postgres_database(admin: psycopg.Connection, name: str, template: str | None) -> None:
    if template is None:
        admin.execute(f'CREATE DATABASE "{name}"')
    else:
        admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')


def drop_postgres_database(server: str, name: str) -> None:
    with psycopg.connect(server, autocommit=True) as admin:
        _drop(admin, name)


def _drop(admin: psycopg.Connection, name: str) -> None:
    admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


class PostgresCopies:
    """Uniquely named copies of one template database, made ahead and dropped afterwards by a
    thread of their own, so that no test waits for either: `CREATE DATABASE` is an fsync-bound
    copy of several megabytes (50 ms on a quiet machine, 400 ms on a busy one). Each test still
    gets a database no other test has used, and every one is dropped by `close()` at the latest.
    """

    def __init__(self, server: str, template: str, *, ahead: int = 2) -> None:
        self.server = server
        self.template = template
        self._ready: queue.Queue[str | BaseException] = queue.Queue()
        self._work: queue.Queue[Callable[[psycopg.Connection], None] | None] = queue.Queue()
        self._errors: list[BaseException] = []
        self._thread = threading.Thread(target=self._run, name="postgres-copies", daemon=True)
        self._thread.start()
        for _ in range(ahead):
            self._work.put(self._create)

    def take(self) -> str:
        """The name of a new copy of the template; the caller hands it back with `give_back`."""
        self._work.put(self._create)  # the one after next
        made = self._ready.get(timeout=120)
        if isinstance(made, BaseException):
            raise made
        return made

    def give_back(self, name: str) -> None:
        """Drop the database (soon, in the thread), closing whatever connections are left."""
        self._work.put(functools.partial(_drop, name=name))

    def close(self) -> None:
        """Drop every copy, used or not; raise what went wrong in the thread."""
        self._work.put(None)
        self._thread.join()
        while not self._ready.empty():
            made = self._ready.get()
            if isinstance(made, str):
                drop_postgres_database(self.server, made)
        if self._errors:
            raise self._errors[0]

    def _create(self, admin: psycopg.Connection) -> None:
        name = unique_database_name("test")
        try:
            create_postgres_database(admin, name, self.template)
        except Exception as exc:  # the test that takes it fails with this
            self._ready.put(exc)
        else:
            self._ready.put(name)

    def _run(self) -> None:
        with psycopg.connect(self.server, autocommit=True) as admin:
            while (job := self._work.get()) is not None:
                try:
                    job(admin)
                except Exception as exc:
                    self._errors.append(exc)
