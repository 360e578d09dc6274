"""Digest emails for coordinators: when one is due, what it says, and sending the due ones.

A coordinator gets a digest daily or weekly (`Coordinator.digest_frequency`, chosen with
/digest in the bot; weekly by default). A period is a local date ("2026-11-24") or an ISO week
("2026-W48", weeks start on Monday) in `settings.timezone`. A period's digest is due from
`settings.digest_time` (07:30) local time on its first day to the end of the period, until a
`DigestRun` row exists for it: a missed minute, a restart or a stopped process catches up later
in the same period, and the unique (coordinator, period) constraint makes a second digest for one
period impossible, even from two processes at once. Moments are compared in UTC, so the days when
Norway changes clocks (2026-03-29, 2026-10-25) are days like any other.

One digest per person: a person may hold several scopes (one `Coordinator` row each, the same
email); their digest covers all of them, in the language of their oldest row, daily if any of
their rows says daily. Its run is recorded for every one of their rows, so removing or adding a
scope mid-period never repeats it. The email's idempotency key names the oldest row:
`digest:<coordinator id>:<period>`.

What a digest reports (`Digest`), for the person's scopes:
- new supervisors: registered since the previous digest (the latest run of an earlier period;
  without one, since the previous period's start) whose city and exchange types fall in scope;
- tasks awaiting approval (all submitted tasks, oldest first);
- the places to fill by start month (open slots starting today or later) with a fill-rate bar;
- places at risk: still with an open place on or after 14 days before their reply-by date;
- offers sent and answered (accepted, declined, expired) since the previous digest;
- emails that failed for good since the previous digest, the address masked (k***@uio.no).

Switching frequency starts the new kind of period at once: a person who switches from daily to
weekly on a Wednesday gets the week's digest at the next minute (reporting since their last
daily one), then on Mondays. Daily means every day, weekends included.

Only coordinators who bound their Telegram account with the invitation's link (which proves the
address reached them) get a digest: an address typed wrong in `coordinators add` is never sent
a digest. An address on the suppression list gets none either; coordinators' addresses are never
put there by a bounce (`bot.mail.sender`), so only `python -m bot suppressions` history can.

An empty digest - no new supervisors, no tasks awaiting, no open place, no offer activity and no
failures - is not sent; its run is recorded (`empty`) so it is not evaluated again that period.
`python -m bot digest preview` (`bot.cli.digest`) writes what a coordinator would get now.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from email.message import EmailMessage
from typing import Final
from zoneinfo import ZoneInfo

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core import emails, i18n
from bot.core.settings import Settings
from bot.domain import reference
from bot.domain.season import reply_by
from bot.services.coordinators import city_name, scope_label
from storage import digests as store
from storage import repository
from storage.db import Database
from storage.models import Coordinator, OutboxEmail, OutboxStatus, Slot

log = logging.getLogger(__name__)

DAILY: Final = "daily"
WEEKLY: Final = "weekly"
FREQUENCIES: Final = (DAILY, WEEKLY)
KIND: Final = "digest"
RISK_AHEAD: Final = timedelta(days=14)  # "at risk": still open this close to the reply-by date
BAR_CELLS: Final = 10
FULL: Final = "█"
EMPTY: Final = "░"
MAX_REASON: Final = 200
MAX_LINES: Final = 25  # per list in an email; "... and 3 more" after that


# ---- periods and due logic (pure) --------------------------------------------------------------


def parse_time(value: str) -> time:
    """ "07:30" -> 07:30; raises ValueError for anything else."""
    match = re.fullmatch(r"([0-9]{1,2}):([0-9]{2})", value.strip())
    if match is None:  # ASCII digits only: "²".isdigit() is true, and int() refuses it
        raise ValueError(f"expected HH:MM, not {value!r}")
    return time(int(match.group(1)), int(match.group(2)))


def frequency_of(rows: Sequence[Coordinator]) -> str:
    """A person's frequency: daily if any of their scopes says so (weekly is only the default)."""
    return DAILY if any(row.digest_frequency == DAILY for row in rows) else WEEKLY


def first_day(day: date, frequency: str) -> date:
    """The first day of the period `day` is in: the day itself, or the Monday of its week."""
    return day if frequency == DAILY else day - timedelta(days=day.weekday())


def period_key(day: date, frequency: str) -> str:
    """ "2026-11-24" (daily) or "2026-W48" (weekly, ISO week) for the period `day` is in."""
    if frequency == DAILY:
        return day.isoformat()
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"


def local_day(now: datetime, tz: ZoneInfo) -> date:
    return now.astimezone(tz).date()


def due_moment(day: date, frequency: str, at: time, tz: ZoneInfo) -> datetime:
    """When the digest of the period `day` is in becomes due, in UTC (`at` local, first day).

    A wall-clock time that does not exist that day (skipped by the spring change) counts as
    the same time before the change, i.e. an hour later; one that occurs twice, the first one.
    """
    local = datetime.combine(first_day(day, frequency), at, tzinfo=tz)
    return local.astimezone(UTC)


def due_period(
    now: datetime, frequency: str, at: time, tz: ZoneInfo, done: Collection[str]
) -> str | None:
    """The period whose digest is due at `now`, or None: the current period, once its start
    moment has passed and no run of it is in `done`."""
    day = local_day(now, tz)
    key = period_key(day, frequency)
    if key in done or now < due_moment(day, frequency, at, tz):
        return None
    return key


def previous_start(now: datetime, frequency: str, at: time, tz: ZoneInfo) -> datetime:
    """The due moment of the period before the current one (the default start of a report)."""
    start = first_day(local_day(now, tz), frequency)
    before = start - timedelta(days=1 if frequency == DAILY else 7)
    return due_moment(before, frequency, at, tz)


def idempotency_key(coordinator_id: int, period: str) -> str:
    return f"digest:{coordinator_id}:{period}"


# ---- contents (pure data) ----------------------------------------------------------------------


def mask_email(address: str) -> str:
    """ "kari.nordmann@uio.no" -> "k***@uio.no" (enough to recognise, not to copy)."""
    local, at, domain = address.strip().rpartition("@")
    if not at:
        return (address[:1] + "***") if address else "***"
    return f"{local[:1]}***@{domain}"


def fill_percent(filled: int, places: int) -> int:
    """Filled share in whole percent, rounded down: 100 only when every place is filled."""
    if places <= 0:
        return 0
    return min(100, max(0, filled) * 100 // places)


def text_bar(filled: int, places: int, cells: int = BAR_CELLS) -> str:
    """ "█████░░░░░ 50%": the fill rate for a plain-text email."""
    full = 0 if places <= 0 else min(cells, max(0, filled) * cells // places)
    return f"{FULL * full}{EMPTY * (cells - full)} {fill_percent(filled, places)}%"


@dataclass(frozen=True)
class NewSupervisor:
    name: str
    title: str  # a title code, or what the person typed
    workplace: str
    city: str  # a city code, or what the person typed
    exchange_types: tuple[str, ...]
    verified: bool
    registered: date


@dataclass(frozen=True)
class AwaitingTask:
    title: str
    supervisor: str
    exchange_type: str
    city: str
    submitted: date


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


def slot_line(
    slot: Slot, today: date, margin_weeks: int, taken: Sequence[tuple[str, str]] = ()
) -> SlotLine:
    deadline = reply_by(slot.start_date, margin_weeks)
    open_places = slot.filled < slot.places
    return SlotLine(
        reference=slot.reference,
        exchange_type=slot.exchange_type,
        city=slot.city,
        start=slot.start_date,
        weeks=slot.weeks,
        places=slot.places,
        filled=slot.filled,
        reply_by=deadline,
        at_risk=open_places and today >= deadline - RISK_AHEAD,
        overdue=open_places and today > deadline,
        taken=tuple(taken),
    )


def by_month(lines: Sequence[SlotLine]) -> tuple[MonthFill, ...]:
    months: dict[tuple[int, int], list[SlotLine]] = {}
    for line in sorted(lines, key=lambda s: (s.start, s.reference)):
        months.setdefault((line.start.year, line.start.month), []).append(line)
    return tuple(MonthFill(year, month, tuple(group)) for (year, month), group in months.items())


def build(
    *,
    period: str,
    frequency: str,
    since: datetime,
    until: datetime,
    tz: ZoneInfo,
    margin_weeks: int,
    rows: store.DigestRows,
) -> Digest:
    """The digest from what the queries found (`storage.digests.rows`)."""
    today = local_day(until, tz)
    return Digest(
        period=period,
        frequency=frequency,
        since=since,
        until=until,
        new_supervisors=tuple(
            NewSupervisor(
                name=s.name,
                title=s.title,
                workplace=s.workplace,
                city=s.city,
                exchange_types=tuple(s.exchange_types),
                verified=s.email_verified_at is not None,
                registered=local_day(s.created_at, tz),
            )
            for s in rows.new_supervisors
        ),
        awaiting=tuple(
            AwaitingTask(
                title=task.title,
                supervisor=supervisor.name,
                exchange_type=task.exchange_type,
                city=task.city,
                submitted=local_day(task.submitted_at or task.updated_at, tz),
            )
            for task, supervisor in rows.awaiting
        ),
        months=by_month(
            [slot_line(s, today, margin_weeks, rows.taken.get(s.id or 0, ())) for s in rows.slots]
        ),
        offers=OfferCounts(**rows.offers),
        failures=tuple(
            Failure(
                recipient=mask_email(e.recipient),
                kind=e.kind,
                reason=_mask_addresses(" ".join((e.last_error or "").split()))[:MAX_REASON],
                day=local_day(e.next_attempt_at, tz),
            )
            for e in rows.failures
        ),
    )


# ---- rendering ---------------------------------------------------------------------------------


class Names:
    """How codes read in one language (for the templates; plain text, escaped by Jinja)."""

    def __init__(self, language: str) -> None:
        self.language = language

    def _t(self, message_id: str) -> str:
        return i18n.gettext(self.language, message_id)

    def city(self, code: str) -> str:
        return city_name(code, self.language) if reference.city(code) else code

    def type(self, code: str) -> str:
        return self._t(f"type.{code}") if code in reference.EXCHANGE_TYPES else code

    def types(self, codes: Sequence[str]) -> str:
        return ", ".join(self.type(c) for c in codes)

    def title(self, code: str) -> str:
        return self._t(f"title.{code}") if code in reference.TITLES else code

    def month(self, month: int, year: int) -> str:
        return f"{self._t(f'month.{month}')} {year}"


def render(
    digest: Digest,
    rows: Sequence[Coordinator],
    *,
    settings: Settings,
    now: datetime,
) -> tuple[str, EmailMessage]:
    """The digest email for the person holding `rows` (their scopes), in their language."""
    person = rows[0]
    language = person.language if person.language in i18n.SUPPORTED else i18n.DEFAULT
    tz = settings.tz
    since = digest.since.astimezone(tz)
    week = digest.period.partition("-W")[2]
    return emails.render(
        "digest",
        language=language,
        recipient=person.email,
        mail_from=settings.mail_from,
        idempotency_key=idempotency_key(person.id or 0, digest.period),
        now=now,
        reply_to=settings.reply_to,
        digest=digest,
        names=Names(language),
        scopes="; ".join(scope_label(row, language) for row in rows),
        since=since.strftime("%Y-%m-%d %H:%M"),
        today=local_day(now, tz).isoformat(),
        week=int(week) if week else 0,
        year=digest.period[:4],
        digest_time=settings.digest_time,
        max_lines=MAX_LINES,
    )


# ---- computing and sending (database) ----------------------------------------------------------


async def compute(
    session: AsyncSession,
    rows: Sequence[Coordinator],
    settings: Settings,
    now: datetime,
) -> Digest:
    """The digest the person holding `rows` would get now for the current period."""
    tz = settings.tz
    at = parse_time(settings.digest_time)
    frequency = frequency_of(rows)
    period = period_key(local_day(now, tz), frequency)
    ids = [row.id or 0 for row in rows]
    last = await store.last_run_before(session, ids, period)
    since = last if last is not None else previous_start(now, frequency, at, tz)
    found = await store.rows(session, rows, since=since, until=now, tz=tz)
    return build(
        period=period,
        frequency=frequency,
        since=since,
        until=now,
        tz=tz,
        margin_weeks=settings.coordinator_margin_weeks,
        rows=found,
    )


async def _send_one(
    db: Database, rows: Sequence[Coordinator], period: str, settings: Settings, now: datetime
) -> bool | None:
    """Claim the period for this person, then queue their digest or record it empty, in one
    transaction. True when queued, False when empty, None when another run claimed it first."""
    ids = [row.id or 0 for row in rows]
    try:
        async with db.session() as session:
            # The claim comes first: on SQLite it takes the write lock before anything is read,
            # on PostgreSQL a concurrent claim waits here and then fails on the unique key.
            await store.claim(session, ids, period, now)
            digest = await compute(session, rows, settings, now)
            if digest.empty:
                await store.mark_empty(session, ids, period)
                return False
            subject, message = render(digest, rows, settings=settings, now=now)
            key = idempotency_key(ids[0], period)
            queued = await repository.queue_email(
                session,
                OutboxEmail(
                    idempotency_key=key,
                    kind=KIND,
                    telegram_user_id=rows[0].telegram_user_id,
                    recipient=rows[0].email,
                    subject=subject,
                    message=message.as_string(),
                    status=OutboxStatus.PENDING,
                    next_attempt_at=now,
                    created_at=now,
                ),
            )
            return queued
    except IntegrityError:
        return None  # another process (or an earlier call) made this period's digest


async def due(
    db: Database, settings: Settings, now: datetime
) -> list[tuple[list[Coordinator], str]]:
    """Each person whose digest is due now, with the period it is for."""
    tz = settings.tz
    at = parse_time(settings.digest_time)
    async with db.session() as session:
        people = await store.people(session)
        blocked = await store.suppressed(session, {rows[0].email for rows in people})
        keys = {period_key(local_day(now, tz), frequency) for frequency in FREQUENCIES}
        done = await store.runs(session, keys)
    found = []
    for rows in people:
        if rows[0].email.lower() in blocked or not any(row.bound_at for row in rows):
            continue
        frequency = frequency_of(rows)
        made = {period for row in rows for period in done.get(row.id or 0, ())}
        period = due_period(now, frequency, at, tz, made)
        if period is not None:
            found.append((rows, period))
    return found


async def send_due_digests(db: Database, settings: Settings, now: datetime) -> int:
    """Queue every digest due at `now`; returns how many were queued (empty ones are recorded,
    not sent). Idempotent: call it every minute, after a restart, from two processes at once."""
    queued = 0
    for rows, period in await due(db, settings, now):
        try:
            outcome = await _send_one(db, rows, period, settings, now)
        except Exception:  # one person's broken digest must not hold back the others' digests
            log.exception("digest %s for coordinator %s failed", period, rows[0].id)
            continue
        if outcome:
            queued += 1
            log.info("digest %s queued for coordinator %s", period, rows[0].id)
    return queued


async def preview(
    db: Database, settings: Settings, email: str, now: datetime
) -> tuple[Digest, EmailMessage] | None:
    """What the person with this email would get for the current period now (even if empty);
    None when no coordinator has that email. Changes nothing."""
    async with db.session() as session:
        rows = await store.person(session, email)
        if not rows:
            return None
        digest = await compute(session, rows, settings, now)
    _, message = render(digest, rows, settings=settings, now=now)
    return digest, message


def _mask_addresses(text: str) -> str:
    """Servers repeat the refused address in their reason: mask it like the recipient column."""
    return re.sub(
        r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}", lambda m: mask_email(m.group(0)), text
    )
