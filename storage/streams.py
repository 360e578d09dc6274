"""Reading many rows without stalling the event loop.

SQLAlchemy turns rows into objects on the event loop's thread. A result of 10,000 ORM objects
built in one go holds up every chat for a hundred milliseconds or more; read in parts of `PART`
rows, each part fetched with an await, other work runs in between. It is still one statement:
the parts come from one server-side cursor (PostgreSQL) or one SQLite cursor read in its thread.
"""

from __future__ import annotations

from typing import Final, TypeVar, TypeVarTuple

from sqlalchemy import Row, Select
from sqlalchemy.ext.asyncio import AsyncSession

PART: Final = 500

T = TypeVar("T")
Ts = TypeVarTuple("Ts")


async def scalars_in_parts(
    session: AsyncSession, statement: Select[T], part: int = PART
) -> list[T]:
    """The first column of every row (ORM objects for `select(Model)`), read part by part."""
    result = await session.stream_scalars(statement)
    found: list[T] = []
    async for chunk in result.partitions(part):
        found.extend(chunk)
    return found


async def rows_in_parts(
    session: AsyncSession, statement: Select[*Ts], part: int = PART
) -> list[Row[*Ts]]:
    """Every row, read part by part."""
    result = await session.stream(statement)
    found: list[Row[*Ts]] = []
    async for chunk in result.partitions(part):
        found.extend(chunk)
    return found
