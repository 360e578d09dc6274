"""`python -m bot backup` and `restore`, as an operator runs them: a backup taken while the bot
writes, restored elsewhere, holds every update committed before the backup started (SQLite's
online backup API; pg_dump and psql on PostgreSQL); restore refuses to overwrite data without
`--force`, and a missing client tool or a wrong file is one line with exit code 2."""

from __future__ import annotations

import asyncio
import os
import shutil
import sqlite3
import stat
import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlmodel import col, select

from storage import inbox
from storage.db import Database
from storage.models import InboxUpdate

ROOT = Path(__file__).resolve().parents[2]
PG_TOOLS = ("pg_dump", "pg_restore", "psql")
pytestmark = pytest.mark.slow


@dataclass
class Bot:
    """Writes what the bot writes most often, an incoming update, one transaction each."""

    db: Database
    committed: int = 0  # every update up to this id is committed
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    busy: asyncio.Event = field(default_factory=asyncio.Event)  # 20 updates written

    async def write(self) -> None:
        while not self.stop.is_set():
            n = self.committed + 1
            async with self.db.session() as session:
                message = {"update_id": n, "message": {"text": f"answer {n}"}}
                await inbox.store(session, [inbox.Received(n, 1000 + n, message)], _now())
            self.committed = n
            if n == 20:
                self.busy.set()
            await asyncio.sleep(0)


def _now() -> datetime:
    return datetime.now(UTC)


async def _bot(workdir: Path, *args: str, **settings: str) -> tuple[int, str, str]:
    env = {"PATH": os.environ["PATH"], "HOME": str(workdir), "PYTHONPATH": str(ROOT), **settings}
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        *args,
        cwd=workdir,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, errors = await process.communicate()
    assert process.returncode is not None
    return process.returncode, out.decode(), errors.decode()


async def _updates(url: str) -> list[int]:
    db = Database(url)
    try:
        async with db.session() as session:
            found = await session.execute(
                select(InboxUpdate.update_id).order_by(col(InboxUpdate.update_id))
            )
            return list(found.scalars())
    finally:
        await db.close()


async def _round_trip(workdir: Path, source: str, target: dict[str, str]) -> Path:
    """Back up `source` while the bot writes to it; restore into `target`'s database; check it."""
    db = Database(source)
    bot = Bot(db)
    writing = asyncio.create_task(bot.write())
    try:
        await bot.busy.wait()  # the bot is busy before the backup starts
        before = bot.committed
        out = workdir / "backups" / "veileder.backup"
        out.parent.mkdir()
        code, said, errors = await _bot(workdir, "backup", "--out", str(out), DATABASE_URL=source)
        assert code == 0, errors
        assert said.strip() == f"backed up to {out}"
        assert bot.committed > before, "the bot went on writing while the backup ran"
    finally:
        bot.stop.set()
        await writing
        await db.close()
    assert stat.S_IMODE(out.stat().st_mode) == 0o600, "a backup holds personal data"
    assert [p.name for p in out.parent.iterdir()] == [out.name], "no partial file left"

    code, said, errors = await _bot(workdir, "restore", str(out), **target)
    assert code == 0, errors
    restored_url = (
        target.get("DATABASE_URL") or f"sqlite+aiosqlite:///{workdir / 'var/veileder.db'}"
    )
    restored = await _updates(restored_url)
    # One consistent moment: every update committed before the backup began, then a gap-free run
    # of those committed while it ran, and nothing the bot wrote after it.
    assert restored == list(range(1, len(restored) + 1))
    assert before <= len(restored) <= bot.committed
    return out


async def test_a_sqlite_backup_taken_while_the_bot_writes_restores_every_row(
    tmp_path, migrated_sqlite_url
):
    restored_var = tmp_path / "elsewhere" / "var"
    backup = await _round_trip(tmp_path, migrated_sqlite_url, {"VAR_DIR": str(restored_var)})
    assert stat.S_IMODE((restored_var / "veileder.db").stat().st_mode) == 0o600
    assert stat.S_IMODE(restored_var.stat().st_mode) == 0o700
    # The backup is one self-contained file: it opens without a write-ahead log beside it.
    copy = sqlite3.connect(f"{backup.as_uri()}?mode=ro", uri=True)
    try:
        assert copy.execute("PRAGMA journal_mode").fetchone() == ("delete",)
    finally:
        copy.close()

    # Restoring again over what is now data is refused, by name, unless forced.
    code, _, errors = await _bot(tmp_path, "restore", str(backup), VAR_DIR=str(restored_var))
    assert code == 2
    held = len(await _updates_at(restored_var))
    assert errors.splitlines() == [
        f"veileder: the database holds data (inbox_update ({held}));"
        " restore replaces all of it: make a backup of it first, then run restore again with"
        " --force"
    ]
    code, _, errors = await _bot(
        tmp_path, "restore", "--force", str(backup), VAR_DIR=str(restored_var)
    )
    assert code == 0, errors


async def _updates_at(var: Path) -> list[int]:
    return await _updates(f"sqlite+aiosqlite:///{var / 'veileder.db'}")


@pytest.mark.postgres
@pytest.mark.skipif(
    any(shutil.which(tool) is None for tool in PG_TOOLS),
    reason=f"needs the PostgreSQL client tools ({', '.join(PG_TOOLS)}) on PATH",
)
async def test_a_postgresql_backup_taken_while_the_bot_writes_restores_every_row(
    tmp_path, migrated_postgres_url, postgres_url
):
    backup = await _round_trip(tmp_path, migrated_postgres_url, {"DATABASE_URL": postgres_url})
    code, _, errors = await _bot(tmp_path, "restore", str(backup), DATABASE_URL=postgres_url)
    assert code == 2 and "the database holds data (inbox_update (" in errors
    # Forced over data, the restore replaces the tables: the same rows, not twice as many.
    count = len(await _updates(postgres_url))
    code, _, errors = await _bot(
        tmp_path, "restore", "--force", str(backup), DATABASE_URL=postgres_url
    )
    assert code == 0, errors
    assert await _updates(postgres_url) == list(range(1, count + 1))


async def test_without_pg_dump_a_backup_is_one_line_saying_what_to_install(tmp_path):
    empty = tmp_path / "bin"
    empty.mkdir()
    env = {"PATH": str(empty), "DATABASE_URL": "postgresql+psycopg://veileder@db.invalid/veileder"}
    code, _, errors = await _bot(tmp_path, "backup", "--out", str(tmp_path / "b"), **env)
    assert code == 2
    assert errors.splitlines() == [
        "veileder: backup needs pg_dump, which is not on PATH: install the PostgreSQL client"
        " tools (postgresql-client, the server's major version or newer)"
    ]
    assert not (tmp_path / "b").exists()


async def test_a_file_that_is_no_backup_for_this_database_is_refused_before_anything_else(
    tmp_path, migrated_sqlite_url
):
    not_a_backup = tmp_path / "notes.txt"
    not_a_backup.write_text("shopping list\n")
    pg_dump = tmp_path / "postgres.backup"
    pg_dump.write_bytes(b"PGDMP\x01\x0e\x00" + bytes(100))
    env = {"DATABASE_URL": migrated_sqlite_url}
    code, _, errors = await _bot(tmp_path, "restore", str(not_a_backup), **env)
    assert (code, errors.splitlines()) == (
        2,
        [f"veileder: {not_a_backup} is not a Veileder backup (not a SQLite database)"],
    )
    code, _, errors = await _bot(tmp_path, "restore", "--force", str(pg_dump), **env)
    assert (code, errors.splitlines()) == (
        2,
        [f"veileder: {pg_dump} is a PostgreSQL backup, but DATABASE_URL is SQLite"],
    )


@pytest.mark.postgres
@pytest.mark.skipif(shutil.which("pg_dump") is None, reason="needs pg_dump on PATH")
async def test_pg_dumps_own_reason_is_the_one_line_when_it_fails(tmp_path, postgres_url):
    missing = postgres_url.rsplit("/", 1)[0] + "/veileder_no_such_database"
    out = tmp_path / "b.backup"
    code, _, errors = await _bot(tmp_path, "backup", "--out", str(out), DATABASE_URL=missing)
    assert code == 1
    (line,) = errors.splitlines()
    assert line.startswith("veileder: pg_dump failed: ")
    assert 'database "veileder_no_such_database" does not exist' in line
    assert list(tmp_path.iterdir()) == [], "no partial backup left"
