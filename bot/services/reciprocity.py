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

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from itertools import groupby
from typing import Final

from markupsafe import Markup
from sqlalchemy.ext.asyncio import AsyncSession

from bot.domain import reference
from bot.domain.reciprocity import Meter, Month, meters, month_runs, season_label
from bot.domain.season import season_of
from storage import targets as store
from storage.coordinators import NATIONAL
from storage.models import Coordinator

Say = Callable[..., str]  # a catalog lookup: `Translator` (chat) or `i18n.plain` (email, terminal)
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


# ---- how it reads (chat, email, terminal) -------------------------------------------------------


@dataclass(frozen=True)
class Row:
    """One exchange type's meter as text: the headline, the fill bar and where the gap is."""

    headline: str  # "Clinical: hosted 4 of 10 needed"
    percent: int
    bar: str  # "████░░░░░░ 40%"
    detail: str  # "6 more to host · 2 open places in Sep 2027–Oct 2027 · no places yet in ..."


@dataclass(frozen=True)
class Section:
    season: str  # "2027/28"
    rows: tuple[Row, ...]


def _months(months: Sequence[Month], say: Say) -> Markup:
    def name(month: Month) -> Markup:
        return Markup(say("meter.month", month=Markup(say(f"month.{month[1]}")), year=month[0]))

    return Markup(
        ", ".join(
            name(first)
            if first == last
            else say("meter.months_range", first=name(first), last=name(last))
            for first, last in month_runs(months)
        )
    )


def row(meter: Meter, say: Say) -> Row:
    kind = Markup(say(f"type.{meter.exchange_type}"))
    headline = say("meter.line", type=kind, hosted=meter.hosted, needed=meter.needed)
    if meter.met:
        detail = say("meter.met")
    else:
        parts = [say("meter.gap", gap=meter.gap)]
        if meter.open_months:
            parts.append(
                say(
                    "meter.open_months",
                    open=meter.open_places,
                    months=_months(meter.open_months, say),
                )
            )
        if meter.empty_months:
            parts.append(say("meter.empty_months", months=_months(meter.empty_months, say)))
        detail = " · ".join(parts)
    return Row(headline, meter.percent, meter.bar, detail)


def sections(found: Sequence[Meter], say: Say) -> list[Section]:
    """The meters by season, in order, as text in the language of `say`."""
    return [
        Section(season_label(season), tuple(row(m, say) for m in group))
        for season, group in groupby(found, key=lambda m: m.season)
    ]


def chat_text(reciprocity: Reciprocity, say: Say) -> str | None:
    """What /slots opens with: the meters with text bars, the hint, or nothing."""
    if reciprocity.hint_season is not None:
        season = reciprocity.hint_season
        return say("coord.meter.hint", season=season_label(season), year=season)
    if not reciprocity.meters:
        return None
    blocks = []
    for section in sections(reciprocity.meters, say):
        lines = [say("coord.meter.heading", season=section.season)]
        lines += [f"{r.headline}\n{r.bar}\n{r.detail}" for r in section.rows]
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


def terminal_lines(found: Sequence[Meter], say: Say) -> list[str]:
    """The meters for the terminal: a line per season, three per exchange type."""
    lines = []
    for section in sections(found, say):
        lines.append(say("email.digest.meter.heading", season=section.season))
        lines += [f"  {r.headline}\n  {r.bar}\n  {r.detail}" for r in section.rows]
    return lines
