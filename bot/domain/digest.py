"""What a coordinator's digest says, as data (`Digest`), and the small rules of its wording:
masked addresses, fill rates and their text bars (`bot.domain.bars`). Pure:
`bot.services.digests` fills it from the database and renders it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Final

from bot.domain.bars import fill_percent, text_bar
from bot.domain.reciprocity import Meter

RISK_AHEAD: Final = timedelta(days=14)  # "at risk": still open this close to the reply-by date


def mask_email(address: str) -> str:
    """ "kari.nordmann@uio.no" -> "k***@uio.no" (enough to recognise, not to copy)."""
    local, at, domain = address.strip().rpartition("@")
    if not at:
        return (address[:1] + "***") if address else "***"
    return f"{local[:1]}***@{domain}"


@dataclass(frozen=True)
class NewSupervisor:
    name: str
    title: str  # a title code, or what the person typed
    workplace: str
    city: str  # a city code, or what the person typed
    exchange_types: tuple[str, ...]
    verified: bool
    registered: date
    referred: bool = False  # came through a colleague's referral link


@dataclass(frozen=True)
class Referrer:
    """A supervisor whose referral link brought colleagues in this period (coordinators only)."""

    name: str
    count: int


@dataclass(frozen=True)
class AwaitingTask:
    title: str
    supervisor: str
    exchange_type: str
    city: str
    submitted: date
    title_en: str | None = None  # the English title for the exchange portal, once someone gave it


@dataclass(frozen=True)
class SlotLine:
    reference: str
    exchange_type: str
    city: str
    start: date
    weeks: int
    places: int
    filled: int
    reply_by: date
    at_risk: bool
    overdue: bool  # the reply-by date has passed with places still open
    taken: tuple[tuple[str, str], ...] = ()  # who took a place: (supervisor, task title)

    @property
    def open(self) -> int:
        return max(self.places - self.filled, 0)


@dataclass(frozen=True)
class MonthFill:
    year: int
    month: int
    slots: tuple[SlotLine, ...]

    @property
    def places(self) -> int:
        return sum(s.places for s in self.slots)

    @property
    def filled(self) -> int:
        return sum(min(s.filled, s.places) for s in self.slots)

    @property
    def percent(self) -> int:
        return fill_percent(self.filled, self.places)

    @property
    def bar(self) -> str:
        return text_bar(self.filled, self.places)


@dataclass(frozen=True)
class OfferCounts:
    sent: int = 0
    accepted: int = 0
    declined: int = 0
    expired: int = 0

    @property
    def any(self) -> bool:
        return bool(self.sent or self.accepted or self.declined or self.expired)


@dataclass(frozen=True)
class Failure:
    recipient: str  # masked
    kind: str
    reason: str
    day: date


@dataclass(frozen=True)
class Digest:
    """One person's digest for one period, as data: computed from the database, then rendered."""

    period: str
    frequency: str
    since: datetime  # UTC: what happened from here ...
    until: datetime  # ... to here is reported
    new_supervisors: tuple[NewSupervisor, ...] = ()
    awaiting: tuple[AwaitingTask, ...] = ()
    months: tuple[MonthFill, ...] = ()
    offers: OfferCounts = field(default_factory=OfferCounts)
    failures: tuple[Failure, ...] = ()
    meters: tuple[Meter, ...] = ()  # the reciprocity meter it opens with (never sent alone)
    meter_hint: int | None = None  # the season a national coordinator without a target is hinted
    referrers: tuple[Referrer, ...] = ()  # most colleagues first; not those since erased

    @property
    def referred(self) -> int:
        """New supervisors who came through a colleague's link (also one since erased)."""
        return sum(1 for p in self.new_supervisors if p.referred)

    @property
    def at_risk(self) -> tuple[SlotLine, ...]:
        return tuple(s for m in self.months for s in m.slots if s.at_risk)

    @property
    def open_places(self) -> int:
        return sum(s.open for m in self.months for s in m.slots)

    @property
    def empty(self) -> bool:
        """Nothing new and nothing to do: not sent."""
        return not (
            self.new_supervisors
            or self.awaiting
            or self.open_places
            or self.offers.any
            or self.failures
        )


def referrers(names: Sequence[str]) -> tuple[Referrer, ...]:
    """One line per referrer (by name, as shown) from one name per referred supervisor."""
    counts: dict[str, int] = {}
    for name in names:
        counts[name] = counts.get(name, 0) + 1
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    return tuple(Referrer(name, count) for name, count in ranked)


def by_month(lines: Sequence[SlotLine]) -> tuple[MonthFill, ...]:
    months: dict[tuple[int, int], list[SlotLine]] = {}
    for line in sorted(lines, key=lambda s: (s.start, s.reference)):
        months.setdefault((line.start.year, line.start.month), []).append(line)
    return tuple(MonthFill(year, month, tuple(group)) for (year, month), group in months.items())


def mask_addresses(text: str) -> str:
    """Servers repeat the refused address in their reason: mask it like the recipient column."""
    return re.sub(
        r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}", lambda m: mask_email(m.group(0)), text
    )
