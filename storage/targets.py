"""Season targets (how many incoming students to host) and the places they are measured against:
data access only, every function takes the caller's session. See `bot.domain.reciprocity`.

Targets are national: one per season and exchange type. A target of 0 removes it (no meter).
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import date, datetime

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from bot.domain.reciprocity import Places
from storage.models import SeasonTarget, Slot, SlotStatus


async def set_target(
    session: AsyncSession, season: int, exchange_type: str, needed: int, by: str, now: datetime
) -> None:
    """Set (or, with 0, remove) the season's target for one exchange type."""
    if needed <= 0:
        await session.execute(
            delete(SeasonTarget).where(
                col(SeasonTarget.season) == season,
                col(SeasonTarget.exchange_type) == exchange_type,
            )
        )
        return
    row = (
        await session.execute(
            select(SeasonTarget).where(
                col(SeasonTarget.season) == season,
                col(SeasonTarget.exchange_type) == exchange_type,
            )
        )
    ).scalar_one_or_none()
    if row is None:
        row = SeasonTarget(season=season, exchange_type=exchange_type, needed=needed, set_by=by,
                           updated_at=now)  # fmt: skip
    row.needed, row.set_by, row.updated_at = needed, by, now
    session.add(row)
    await session.flush()


async def targets(
    session: AsyncSession, *, from_season: int, exchange_types: Collection[str] | None = None
) -> list[SeasonTarget]:
    """The targets of this season and later ones (of these types), by season then type."""
    query = select(SeasonTarget).where(col(SeasonTarget.season) >= from_season)
    if exchange_types is not None:
        query = query.where(col(SeasonTarget.exchange_type).in_(list(exchange_types)))
    result = await session.execute(
        query.order_by(col(SeasonTarget.season), col(SeasonTarget.exchange_type))
    )
    return list(result.scalars())


async def places(
    session: AsyncSession, seasons: Collection[int], exchange_types: Collection[str]
) -> dict[str, list[Places]]:
    """Every open (not cancelled) slot of these types starting in these seasons, nationwide,
    by exchange type: what the meter counts."""
    if not seasons or not exchange_types:
        return {}
    first, last = min(seasons), max(seasons)
    result = await session.execute(
        select(Slot).where(
            col(Slot.exchange_type).in_(list(exchange_types)),
            col(Slot.status) == SlotStatus.OPEN,
            col(Slot.start_date) >= date(first, 4, 1),
            col(Slot.start_date) < date(last + 1, 4, 1),
        )
    )
    found: dict[str, list[Places]] = {}
    for slot in result.scalars():
        found.setdefault(slot.exchange_type, []).append(
            Places(start=slot.start_date, places=slot.places, filled=slot.filled)
        )
    return found
