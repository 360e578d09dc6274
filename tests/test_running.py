"""Running it on a server: what a service leaves on disk is private, and services started at
once migrate one after the other (issue 11, "Running it").

Each story runs `python -m bot` as a subprocess with the umask a login shell has (022), as a
service manager or a person starting it would.
"""

from __future__ import annotations

import os
import sqlite3
import stat
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest
from alembic.script import ScriptDirectory

from storage import inbox
from storage.db import Database
from storage.migrate import alembic_config
from tests.support.databases import sqlite_url_at

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow


def _env(**settings: str) -> dict[str, str]:
    return {"PATH": os.environ["PATH"], "PYTHONPATH": str(ROOT), **settings}


def _start(workdir: Path, *args: str, **settings: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "bot", *args],
        cwd=workdir,
        env=_env(HOME=str(workdir), **settings),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        umask=0o022,
    )


def _finish(process: subprocess.Popen[str]) -> tuple[int, str]:
    _, errors = process.communicate(timeout=180)
    return process.returncode, errors


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _head() -> str:
    head = ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()
    assert head is not None
    return head


async def test_var_the_database_and_the_key_are_readable_by_their_owner_only(tmp_path):
    code, errors = _finish(_start(tmp_path, "slots", "list"))  # migrates, makes the key
    assert code == 0, errors
    var = tmp_path / "var"
    assert _mode(var) == 0o700
    assert _mode(var / "veileder.db") == 0o600
    assert _mode(var / "secret_key") == 0o600
    # While a process has the database open, its write-ahead log and shared memory exist too:
    # SQLite gives them the database file's mode, whatever the umask.
    umask = os.umask(0o022)
    db = Database(sqlite_url_at(var / "veileder.db"))
    try:
        async with db.session() as session:
            await inbox.store(session, [inbox.Received(1, 7, {"text": "hei"})], datetime.now(UTC))
        wal, shm = var / "veileder.db-wal", var / "veileder.db-shm"
        assert wal.exists() and shm.exists()
        assert (_mode(wal), _mode(shm)) == (0o600, 0o600)
    finally:
        await db.close()
        os.umask(umask)


def test_a_database_file_left_readable_by_others_is_made_private_on_the_next_start(tmp_path):
    var = tmp_path / "var"
    var.mkdir(mode=0o755)
    sqlite3.connect(var / "veileder.db").close()
    (var / "veileder.db").chmod(0o644)
    code, errors = _finish(_start(tmp_path, "migrate"))
    assert code == 0, errors
    assert _mode(var / "veileder.db") == 0o600


def _two_migrations_at_once(workdir: Path, **settings: str) -> None:
    racers = [_start(workdir, "migrate", **settings) for _ in range(2)]
    results = [_finish(racer) for racer in racers]
    assert [code for code, _ in results] == [0, 0], [errors for _, errors in results]


def test_two_services_migrating_a_new_sqlite_file_at_once_both_start(tmp_path):
    _two_migrations_at_once(tmp_path)
    database = sqlite3.connect(tmp_path / "var" / "veileder.db")
    try:
        versions = database.execute("SELECT version_num FROM alembic_version").fetchall()
    finally:
        database.close()
    assert versions == [(_head(),)]


@pytest.mark.postgres
def test_two_services_migrating_a_new_postgresql_database_at_once_both_start(
    tmp_path, postgres_url
):
    _two_migrations_at_once(tmp_path, DATABASE_URL=postgres_url)
    libpq = postgres_url.replace("postgresql+psycopg://", "postgresql://", 1)
    with psycopg.connect(libpq) as connection:
        versions = connection.execute("SELECT version_num FROM alembic_version").fetchall()
    assert versions == [(_head(),)]
