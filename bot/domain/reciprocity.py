"""The reciprocity meter: Norway may send students abroad only if it hosts in return, so each
season has a target of incoming students to host per exchange type (`SeasonTarget`).

"Hosted" is the places filled (offers accepted) in slots starting in that season, past months
included: a student hosted in May still counts in December. "Where the gap is" looks ahead only,
from today's month to the end of the season: months with places still open (filling them closes
the gap) and months with no place at all (a place to add). A met target has no gap and no months.

Pure: `storage.targets` finds the targets and places, `bot.services.reciprocity` puts them
together, the digest and /slots render them (as the digest's fill bars: `text_bar`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date

from bot.domain.bars import fill_percent, text_bar
from bot.domain.season import FIRST_MONTH, season_of

Month = tuple[int, int]  # (year, month)


@dataclass(frozen=True)
class Places:
    """One slot's share of a season: when it starts, its places and how many are filled."""

    start: date
    places: int
    filled: int

    @property
    def hosted(self) -> int:
        return min(max(self.filled, 0), max(self.places, 0))

    @property
    def open(self) -> int:
        return max(self.places, 0) - self.hosted


@dataclass(frozen=True)
class Meter:
    """One exchange type's "hosted X of Y needed" for one season, and where its gap is."""

    season: int
    exchange_type: str
    needed: int
    hosted: int
    open_places: int = 0  # places still open ahead in the season (only with a gap)
    open_months: tuple[Month, ...] = ()  # months ahead with open places (only with a gap)
    empty_months: tuple[Month, ...] = ()  # months ahead with no place at all (only with a gap)

    @property
    def gap(self) -> int:
        return max(self.needed - self.hosted, 0)

    @property
    def met(self) -> bool:
        return self.gap == 0

    @property
    def percent(self) -> int:
        return fill_percent(self.hosted, self.needed)

    @property
    def bar(self) -> str:
        return text_bar(self.hosted, self.needed)


def season_calendar(season: int) -> tuple[Month, ...]:
    """The twelve (year, month) of a season, April first."""
    return tuple(
        (season + (m - 1) // 12, (m - 1) % 12 + 1) for m in range(FIRST_MONTH, FIRST_MONTH + 12)
    )


def meter(
    season: int, exchange_type: str, needed: int, places: Iterable[Places], today: date
) -> Meter:
    """The meter from the slots of that type (any season: those of others are left out)."""
    mine = [p for p in places if season_of(p.start) == season]
    hosted = sum(p.hosted for p in mine)
    if hosted >= needed:
        return Meter(season, exchange_type, needed, hosted)
    this_month = (today.year, today.month)
    ahead = [m for m in season_calendar(season) if m >= this_month]
    with_places = {(p.start.year, p.start.month) for p in mine if p.places > 0}
    open_by_month: dict[Month, int] = {}
    for p in mine:
        if p.start >= today and p.open > 0:
            key = (p.start.year, p.start.month)
            open_by_month[key] = open_by_month.get(key, 0) + p.open
    return Meter(
        season,
        exchange_type,
        needed,
        hosted,
        open_places=sum(open_by_month.values()),
        open_months=tuple(m for m in ahead if m in open_by_month),
        empty_months=tuple(m for m in ahead if m not in with_places),
    )


def meters(
    targets: Sequence[tuple[int, str, int]],
    places: Mapping[str, Sequence[Places]],
    today: date,
) -> tuple[Meter, ...]:
    """A meter per (season, type, needed), in that order; `places` by exchange type."""
    return tuple(
        meter(season, kind, needed, places.get(kind, ()), today) for season, kind, needed in targets
    )


def season_label(season: int) -> str:
    """2027 -> "2027/28": a season runs April to March."""
    return f"{season}/{(season + 1) % 100:02d}"


def month_runs(months: Sequence[Month]) -> list[tuple[Month, Month]]:
    """Consecutive months as (first, last) runs, so twelve months read as one range."""
    runs: list[tuple[Month, Month]] = []
    for month in sorted(set(months)):
        if runs:
            first, last = runs[-1]
            following = (last[0] + 1, 1) if last[1] == 12 else (last[0], last[1] + 1)
            if month == following:
                runs[-1] = (first, month)
                continue
        runs.append((month, month))
    return runs
