"""The scheduler's lease row: one process at a time may sweep, on SQLite and PostgreSQL alike.

`hold` is one short transaction: take the row when it is free, expired or already ours, and
push its expiry forward. Both databases serialise the conditional UPDATE on the row (SQLite's
write lock, PostgreSQL's row lock with the condition re-checked after the wait), so two
processes can never both get it. No connection is held between calls: nothing stays "idle in
transaction", and a process that dies simply stops renewing.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import or_, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from storage.models import SchedulerLease


async def hold(
    session: AsyncSession, name: str, holder: str, now: datetime, ttl: timedelta
) -> bool:
    """Take or renew the lease `name` for `holder` until `now + ttl`. True when it is ours."""
    dialect = session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    await session.execute(
        insert(SchedulerLease)
        .values(name=name, holder="", expires_at=now)
        .on_conflict_do_nothing(index_elements=["name"])
    )
    result = await session.execute(
        update(SchedulerLease)
        .where(
            col(SchedulerLease.name) == name,
            or_(col(SchedulerLease.holder) == holder, col(SchedulerLease.expires_at) <= now),
        )
        .values(holder=holder, expires_at=now + ttl)
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(result, "rowcount", 0))


async def release(session: AsyncSession, name: str, holder: str, now: datetime) -> bool:
    """Let go of the lease at once (a clean stop), so a standby need not wait for it to expire."""
    result = await session.execute(
        update(SchedulerLease)
        .where(col(SchedulerLease.name) == name, col(SchedulerLease.holder) == holder)
        .values(expires_at=now)
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(result, "rowcount", 0))


async def current(session: AsyncSession, name: str) -> SchedulerLease | None:
    """The lease as it stands (for logs and tests)."""
    result = await session.execute(
        select(SchedulerLease)
        .where(col(SchedulerLease.name) == name)
        .execution_options(populate_existing=True)
    )
    return result.scalar_one_or_none()
