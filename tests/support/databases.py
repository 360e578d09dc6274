"""Test databases from a migrated template: Alembic runs once per test session and backend, and
each test gets a copy (a file copy on SQLite, `CREATE DATABASE ... TEMPLATE` on PostgreSQL), which
takes milliseconds where migrating took seconds. tests/test_storage.py still migrates from empty
on both backends, and checks that the result is exactly the models."""

from __future__ import annotations

import shutil
import uuid
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
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
