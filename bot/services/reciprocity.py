"""The reciprocity meter for a coordinator, and setting a season's target.

Targets are national: Norway's exchange agreements balance students sent against students
hosted across the whole country, not per city. So:
- only a national coordinator of an exchange type may set its target in chat (the command line
  is for whoever runs the bot, and may set any);
- every coordinator sees the national meter for the exchange types of their scopes, local ones
  included: it shows counts only, nothing about a person, and a local officer filling a place in
  their city is how the national gap closes;
- with no target for their types, a national coordinator gets a one-line hint to set one, a
  local coordinator nothing.

The meter covers the seasons with a target from the current one (`season_of(today)`) on.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Final

from sqlalchemy.ext.asyncio import AsyncSession

from bot.domain import reference
from bot.domain.reciprocity import Meter, meters
from bot.domain.season import season_of
from storage import targets as store
from storage.coordinators import NATIONAL
from storage.models import Coordinator

CLI: Final = "cli"  # `set_by` of a target set from the command line
MAX_NEEDED: Final = 10_000


@dataclass(frozen=True)
class Reciprocity:
    """What a coordinator's digest and /slots open with."""

    meters: tuple[Meter, ...] = ()
    hint_season: int | None = None  # a national coordinator without a target: set one for this


def types_of(scopes: Sequence[Coordinator]) -> list[str]:
    held = {scope.exchange_type for scope in scopes}
    return [kind for kind in reference.EXCHANGE_TYPES if kind in held]


def may_set(scopes: Sequence[Coordinator], exchange_type: str) -> bool:
    """Only a national coordinator of that exchange type sets its (national) target."""
    return any(s.city == NATIONAL and s.exchange_type == exchange_type for s in scopes)


async def national_meters(
    session: AsyncSession, today: date, exchange_types: Sequence[str]
) -> tuple[Meter, ...]:
    found = await store.targets(
        session, from_season=season_of(today), exchange_types=exchange_types
    )
    if not found:
        return ()
    seasons = {t.season for t in found}
    places = await store.places(session, seasons, {t.exchange_type for t in found})
    return meters([(t.season, t.exchange_type, t.needed) for t in found], places, today)


async def for_scopes(
    session: AsyncSession, scopes: Sequence[Coordinator], today: date
) -> Reciprocity:
    """The meters of the exchange types these scopes hold (national numbers), or the hint."""
    found = await national_meters(session, today, types_of(scopes))
    if found:
        return Reciprocity(meters=found)
    national = any(scope.city == NATIONAL for scope in scopes)
    return Reciprocity(hint_season=season_of(today) if national else None)


async def set_targets(
    session: AsyncSession, season: int, needed: dict[str, int], by: str, now: datetime
) -> None:
    """Set each exchange type's target for the season (0 removes it)."""
    for kind, count in needed.items():
        await store.set_target(session, season, kind, count, by, now)
