"""The reminder policy: which offer emails are due for one supervisor, now. Pure: no I/O.

Rules (the numbers are settings):
- a proposed offer reaches the supervisor by email too, unless the address is unverified;
- a follow-up after `followup_days` (7) without an answer, at most `followups_per_offer` (2) per
  offer, and only before the reply-by date;
- at most `emails_per_day` (1) offer email a local day and `emails_per_week` (2) in any rolling
  seven days: what falls due beyond that waits and is bundled into the next allowed email (one
  email lists every offer that is due, keyed per supervisor and local day);
- emails (and chat nudges) only in working hours, default 08:00-20:00 local, Monday-Friday;
- everything stops at once when the slot is filled or cancelled, the offer answered, or the
  supervisor paused, unsubscribed or erased (an erased supervisor has no offers at all).

A slot still open two weeks before its reply-by date is "at risk" for the coordinators.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Final
from zoneinfo import ZoneInfo

AT_RISK_BEFORE: Final = timedelta(weeks=2)
_DAYS: Final = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass(frozen=True)
class Policy:
    tz: ZoneInfo
    start: time = time(8, 0)
    end: time = time(20, 0)
    days: frozenset[int] = frozenset(range(5))  # Monday = 0
    per_day: int = 1
    per_week: int = 2
    followup_after: timedelta = timedelta(days=7)
    followups: int = 2

    def working(self, now: datetime) -> bool:
        local = now.astimezone(self.tz)
        return local.weekday() in self.days and self.start <= local.time() < self.end

    def today(self, now: datetime) -> date:
        return now.astimezone(self.tz).date()


def parse_hours(text: str) -> tuple[time, time]:
    """`08:00-20:00` -> (start, end); ValueError unless the start is before the end."""
    first, sep, last = text.partition("-")
    start, end = time.fromisoformat(first.strip()), time.fromisoformat(last.strip())
    if not sep or start >= end:
        raise ValueError(f"not a range of hours: {text!r}")
    return start, end


def parse_days(text: str) -> frozenset[int]:
    """`mon-fri` or `mon,wed,fri` -> weekday numbers (Monday = 0)."""
    days: set[int] = set()
    for part in text.lower().replace(" ", "").split(","):
        first, _, last = part.partition("-")
        a = _DAYS.index(first)
        b = _DAYS.index(last) if last else a
        days.update(range(a, b + 1))
    return frozenset(days)


@dataclass(frozen=True)
class OfferState:
    """What the policy needs to know about one offer."""

    offer_id: int
    answered: bool  # accepted, declined, expired, withdrawn or cancelled
    slot_open: bool  # open and not yet full
    reply_by: date
    emailed_at: tuple[datetime, ...] = ()  # every offer email that spoke about this offer


@dataclass(frozen=True)
class Person:
    verified: bool
    unsubscribed: bool
    paused: bool
    emails_sent: tuple[datetime, ...] = ()  # offer emails to this supervisor (any offer)


@dataclass
class Plan:
    """One email to send now, listing these offers (first time or follow-up)."""

    first: list[int] = field(default_factory=list)
    followups: list[int] = field(default_factory=list)

    @property
    def offers(self) -> list[int]:
        return [*self.first, *self.followups]

    def __bool__(self) -> bool:
        return bool(self.first or self.followups)


def live(offer: OfferState, today: date) -> bool:
    return not offer.answered and offer.slot_open and today <= offer.reply_by


def due(offer: OfferState, policy: Policy, now: datetime) -> str | None:
    """ "first", "followup" or None for one offer, ignoring the caps."""
    today = policy.today(now)
    if not live(offer, today):
        return None
    if not offer.emailed_at:
        return "first"
    if len(offer.emailed_at) - 1 >= policy.followups or today >= offer.reply_by:
        return None  # enough follow-ups, or none left to send before the reply-by date
    if now - max(offer.emailed_at) >= policy.followup_after:
        return "followup"
    return None


def allowed(person: Person, policy: Policy, now: datetime) -> bool:
    """Whether this supervisor may get an offer email at all right now (caps and hours)."""
    if not person.verified or person.unsubscribed or person.paused or not policy.working(now):
        return False
    today = policy.today(now)
    today_count = sum(1 for sent in person.emails_sent if policy.today(sent) == today)
    week_count = sum(1 for sent in person.emails_sent if now - sent < timedelta(days=7))
    return today_count < policy.per_day and week_count < policy.per_week


def plan(person: Person, offers: list[OfferState], policy: Policy, now: datetime) -> Plan:
    result = Plan()
    if not allowed(person, policy, now):
        return result
    for offer in sorted(offers, key=lambda o: o.offer_id):
        match due(offer, policy, now):
            case "first":
                result.first.append(offer.offer_id)
            case "followup":
                result.followups.append(offer.offer_id)
    return result


def at_risk(reply_by: date, open_places: int, today: date) -> bool:
    """Coordinators' warning: places still open two weeks before the reply-by date (or later)."""
    return open_places > 0 and today >= reply_by - AT_RISK_BEFORE


def next_working_start(policy: Policy, now: datetime) -> datetime | None:
    """When the next working hours begin (None when no day is a working day)."""
    local = now.astimezone(policy.tz)
    for ahead in range(8):
        day = local.date() + timedelta(days=ahead)
        start = datetime.combine(day, policy.start, tzinfo=policy.tz)
        if day.weekday() in policy.days and start > now:
            return start
    return None


def held_until(
    person: Person, offers: list[OfferState], policy: Policy, now: datetime
) -> datetime | None:
    """Outside working hours: when the email the hours alone hold back goes out (the start of
    the next working hours, if it is due then), so the demo can say so instead of staying
    silent. None in working hours, or when nothing would go out then either."""
    if policy.working(now):
        return None
    start = next_working_start(policy, now)
    return start if start is not None and plan(person, offers, policy, start) else None
