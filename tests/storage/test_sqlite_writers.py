"""Many units of work at once on one SQLite file (people's updates processed concurrently): each
reads, then writes, in its own session. A deferred transaction would fail here with "database is
locked" (SQLITE_BUSY_SNAPSHOT: its snapshot went stale while it read); every session beginning
IMMEDIATE, none does. Readers (`write=False`) meanwhile read without waiting for the writers."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from sqlalchemy import func
from sqlmodel import select

from storage import campaigns
from storage.db import Database
from storage.models import Suppression

NOW = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)


async def test_a_hundred_read_then_write_units_at_once_all_commit(migrated_sqlite_url):
    db = Database(migrated_sqlite_url)

    async def writer(n: int) -> bool:
        async with db.session() as session:
            if await campaigns.is_suppressed(session, f"person{n}@example.org"):
                return False
            await asyncio.sleep(0)  # let the others begin in between
            return await campaigns.suppress(session, f"person{n}@example.org", "declined", NOW)

    async def reader() -> int:
        async with db.session(write=False) as session:
            return int(await session.scalar(select(func.count()).select_from(Suppression)) or 0)

    results = await asyncio.gather(*(writer(n) for n in range(100)), *(reader() for _ in range(20)))
    async with db.session(write=False) as session:
        rows = await session.scalar(select(func.count()).select_from(Suppression))
    await db.close()
    assert results[:100] == [True] * 100
    assert all(0 <= seen <= 100 for seen in results[100:])
    assert rows == 100
