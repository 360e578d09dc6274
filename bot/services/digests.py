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
  without one, since the previous period's start) whose city and exchange types fall in scope,
  with how many came through a colleague's referral link and whose link (per referrer): only
  coordinators ever see who referred whom (`bot.services.referrals`);
- tasks awaiting approval (all submitted tasks, oldest first);
- the places to fill by start month (open slots starting today or later) with a fill-rate bar
  over all of them, listing at most `MAX_LINES` slots a month (by start date) and then how many
  more, with a pointer to /slots and `python -m bot slots list`: a national digest at 100,000
  supervisors (10,000 slots) was a 1.5 MB email nobody reads to the end;
- places at risk: still with an open place on or after 14 days before their reply-by date;
- offers sent and answered (accepted, declined, expired) since the previous digest;
- emails that failed for good since the previous digest, the address masked (k***@uio.no).
It opens with the reciprocity meter of the person's exchange types ("hosted X of Y needed", see
`bot.services.reciprocity`), or for a national coordinator without a target a line saying how
to set one; the meter alone never makes a digest worth sending.

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

import asyncio
import logging
from collections.abc import Sequence
from datetime import date, datetime
from email.message import EmailMessage
from functools import partial
from typing import Final
from zoneinfo import ZoneInfo

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core import emails, i18n
from bot.core.settings import Settings
from bot.domain import reference
from bot.domain.digest import (
    RISK_AHEAD,
    AwaitingTask,
    Digest,
    Failure,
    NewSupervisor,
    OfferCounts,
    SlotLine,
    by_month,
    mask_addresses,
    mask_email,
    referrers,
)
from bot.domain.periods import (
    DAILY,
    FREQUENCIES,
    WEEKLY,
    due_period,
    local_day,
    parse_time,
    period_key,
    previous_start,
)
from bot.domain.reciprocity import season_label
from bot.domain.season import reply_by
from bot.services import reciprocity
from bot.services.coordinators import city_name, scope_label
from storage import digests as store
from storage import repository
from storage.db import Database
from storage.models import Coordinator, OutboxEmail, OutboxStatus, Slot

log = logging.getLogger(__name__)

KIND: Final = "digest"
MAX_REASON: Final = 200
MAX_LINES: Final = 25  # per list in an email; "... and 3 more" after that


# ---- periods -----------------------------------------------------------------------------------


def frequency_of(rows: Sequence[Coordinator]) -> str:
    """A person's frequency: daily if any of their scopes says so (weekly is only the default)."""
    return DAILY if any(row.digest_frequency == DAILY for row in rows) else WEEKLY


def idempotency_key(coordinator_id: int, period: str) -> str:
    return f"digest:{coordinator_id}:{period}"


# ---- contents ----------------------------------------------------------------------------------


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


def build(
    *,
    period: str,
    frequency: str,
    since: datetime,
    until: datetime,
    tz: ZoneInfo,
    margin_weeks: int,
    rows: store.DigestRows,
    meter: reciprocity.Reciprocity | None = None,
) -> Digest:
    """The digest from what the queries found (`storage.digests.rows`) and the meter."""
    meter = meter or reciprocity.Reciprocity()
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
                referred=s.referred,
            )
            for s in rows.new_supervisors
        ),
        referrers=referrers(
            [
                rows.referrers[s.referred_by]
                for s in rows.new_supervisors
                if s.referred_by is not None and s.referred_by in rows.referrers
            ]
        ),
        awaiting=tuple(
            AwaitingTask(
                title=task.title,
                supervisor=supervisor.name,
                exchange_type=task.exchange_type,
                city=task.city,
                submitted=local_day(task.submitted_at or task.updated_at, tz),
                title_en=task.title_en,
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
                reason=mask_addresses(" ".join((e.last_error or "").split()))[:MAX_REASON],
                day=local_day(e.next_attempt_at, tz),
            )
            for e in rows.failures
        ),
        meters=meter.meters,
        meter_hint=meter.hint_season,
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
        meter=reciprocity.sections(digest.meters, partial(i18n.plain, language)),
        meter_hint=None if digest.meter_hint is None else season_label(digest.meter_hint),
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
    meter = await reciprocity.for_scopes(session, rows, local_day(now, tz))
    # A national digest sorts thousands of slots into months: CPU work over rows already loaded
    # (no session), off the event loop.
    return await asyncio.to_thread(
        build,
        period=period,
        frequency=frequency,
        since=since,
        until=now,
        tz=tz,
        margin_weeks=settings.coordinator_margin_weeks,
        rows=found,
        meter=meter,
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
            subject, message = await asyncio.to_thread(
                render, digest, rows, settings=settings, now=now
            )
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
    _, message = await asyncio.to_thread(render, digest, rows, settings=settings, now=now)
    return digest, message
