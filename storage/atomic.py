"""Writes that stay correct when two units of work race (different people's updates are
processed at once, beside the sweeps and other processes).

A read-then-write ("is the address suppressed? no: insert it") is correct only if nobody writes
in between. On SQLite nobody can: every session begins `BEGIN IMMEDIATE` (`storage.db`), so
units of work run one after the other. On PostgreSQL (READ COMMITTED) two transactions can read
the same state and both write, so each such write is one of:

- a conditional `UPDATE ... WHERE <the state it requires>`, whose row count says who won (the
  loser's UPDATE waits for the winner's row lock, then finds the condition false);
- an `INSERT ... ON CONFLICT DO NOTHING` against a unique constraint (`insert_new`);
- for a limit counted over rows ("4 codes an hour"), a transaction-scoped advisory lock on the
  thing counted (`lock`), taken before counting and held until the insert commits.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from sqlalchemy import Table, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession


async def insert_new(session: AsyncSession, table: Table, values: Mapping[str, Any]) -> bool:
    """Insert the row unless it would break a unique constraint. True when inserted."""
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    inserted = await session.execute(
        insert(table).values(**values).on_conflict_do_nothing().returning(*table.primary_key)
    )
    return inserted.first() is not None


async def lock(session: AsyncSession, *names: str) -> None:
    """Hold these names until the transaction ends (PostgreSQL advisory locks; on SQLite the
    transaction already holds the one write lock). Taken in sorted order: no deadlock."""
    if session.get_bind().dialect.name != "postgresql":
        return
    for name in sorted(set(names)):
        key = int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)
        await session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})
