"""Emails about offers: the offer (and its follow-ups, bundled), the confirmation with a calendar
file when a place is accepted, and the thank-you with a confirmation of supervision afterwards.

Each is queued in the outbox inside the transaction of the change that causes it. Every email
says why the person receives it, has the responsible coordinator as Reply-To, and a one-tap
unsubscribe. An unverified, unsubscribed or suppressed address gets none of them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from email.message import EmailMessage
from typing import Any

from icalendar import Calendar, Event
from sqlalchemy.ext.asyncio import AsyncSession

from bot import emails, links, reference, reminders, unsubscribe
from bot.i18n import Translator
from bot.services import Services
from storage import coordinators, reminders_repo, repository
from storage.models import Offer, OfferEmail, OutboxEmail, Slot, Supervisor, Task


@dataclass(frozen=True)
class OfferLine:
    """One offer as an email lists it."""

    reference: str
    kind: str
    weeks: int
    start: str
    end: str
    city: str
    field: str
    task: str
    reply_by: str
    link: str
    followup: bool


def _end(slot: Slot) -> date:
    return slot.start_date + timedelta(weeks=slot.weeks) - timedelta(days=1)


def _day(day: date, language: str) -> str:
    return day.strftime("%d.%m.%Y") if language == "nb" else day.strftime("%d %b %Y")


def offer_line(
    svc: Services, offer: Offer, slot: Slot, task: Task, supervisor: Supervisor, followup: bool
) -> OfferLine:
    tr = Translator(supervisor.language)
    city = reference.city(slot.city)
    known = reference.field(slot.field_preference or "")
    payload = links.offer_payload(svc.secret, offer.id or 0, supervisor.telegram_user_id)
    return OfferLine(
        reference=slot.reference,
        kind=tr(f"type.{slot.exchange_type}"),
        weeks=slot.weeks,
        start=_day(slot.start_date, supervisor.language),
        end=_day(_end(slot), supervisor.language),
        city=city.name(supervisor.language) if city else slot.city,
        field=known.name(supervisor.language) if known else tr("offer.any_field"),
        task=task.title,
        reply_by=_day(offer.reply_by, supervisor.language),
        link=svc.deep_link(payload),
        followup=followup,
    )


async def reply_to(session: AsyncSession, svc: Services, slot: Slot) -> str | None:
    """The coordinators responsible for the slot (or the configured fallback)."""
    found = await coordinators.coordinators_for(session, slot.exchange_type, slot.city)
    return found[0].email if found else svc.settings.reply_to


def may_email(supervisor: Supervisor, suppressed: bool) -> bool:
    return (
        supervisor.email_verified_at is not None
        and not supervisor.unsubscribed_at
        and not suppressed
    )


async def queue_reminders(
    session: AsyncSession, svc: Services, supervisor: Supervisor, now: datetime
) -> reminders.Plan:
    """Queue today's offer email for one supervisor if the policy says one is due.

    Returns what was queued (empty when nothing): its follow-ups get a chat nudge after commit.
    """
    policy = reminders.Policy.from_settings(svc.settings)
    state = await reminders_repo.state_of(session, supervisor, now, svc.settings.tz)
    suppressed = await reminders_repo.suppressed(session, supervisor.email)
    person = reminders.Person(
        verified=may_email(supervisor, suppressed),
        unsubscribed=supervisor.unsubscribed_at is not None,
        paused=reminders_repo.is_paused(supervisor, now),
        emails_sent=state.emails_sent,
    )
    made = reminders.plan(person, [s.policy for s in state.offers], policy, now)
    if not made:
        return made
    rows = {s.policy.offer_id: s for s in state.offers}
    lines = [
        offer_line(svc, rows[i].offer, rows[i].slot, rows[i].task, supervisor, i in made.followups)
        for i in made.offers
    ]
    first_slot = rows[made.offers[0]].slot
    key = f"remind:{supervisor.id}:{policy.today(now).isoformat()}"
    subject, message = await _render(
        session,
        svc,
        "offer",
        key,
        supervisor,
        first_slot,
        now,
        lines=lines,
        followup=bool(made.followups) and not made.first,
    )
    email = _outbox(key, "offer", supervisor, subject, message.as_string(), now)
    if not await repository.queue_email(session, email):
        return reminders.Plan()  # today's email exists already
    for offer_id in made.offers:
        kind = "followup" if offer_id in made.followups else "offer"
        session.add(
            OfferEmail(offer_id=offer_id, outbox_email_id=email.id or 0, kind=kind, created_at=now)
        )
    return made


async def _render(
    session: AsyncSession,
    svc: Services,
    template: str,
    key: str,
    supervisor: Supervisor,
    slot: Slot,
    now: datetime,
    **context: Any,
) -> tuple[str, EmailMessage]:
    """An email to a supervisor about a slot: their language, the slot's coordinators as
    Reply-To, and their one-tap unsubscribe."""
    return emails.render(
        template,
        language=supervisor.language,
        recipient=supervisor.email,
        mail_from=svc.settings.mail_from,
        idempotency_key=key,
        now=now,
        reply_to=await reply_to(session, svc, slot),
        unsubscribe=unsubscribe.for_supervisor(svc, supervisor.id or 0),
        name=supervisor.name,
        **context,
    )


def _outbox(
    key: str, kind: str, supervisor: Supervisor, subject: str, message: str, now: datetime
) -> OutboxEmail:
    return OutboxEmail(
        idempotency_key=key,
        kind=kind,
        telegram_user_id=supervisor.telegram_user_id,
        recipient=supervisor.email,
        subject=subject,
        message=message,
        next_attempt_at=now,
        created_at=now,
    )


def calendar(
    slot: Slot, task: Task, supervisor: Supervisor, tr: Translator, now: datetime
) -> bytes:
    """An all-day event over the student's weeks, for the supervisor's own calendar."""
    cal = Calendar()
    cal.add("prodid", "-//Veileder//NMF exchange//EN")
    cal.add("version", "2.0")
    event = Event()
    event.add("uid", f"veileder-slot-{slot.id}-task-{task.id}@veileder")
    event.add("dtstamp", now)
    event.add("dtstart", slot.start_date)
    event.add("dtend", _end(slot) + timedelta(days=1))
    event.add("summary", tr("ics.summary", reference=slot.reference))
    event.add("description", tr("ics.description", task=task.title))
    cal.add_component(event)
    return bytes(cal.to_ical())


async def queue_accepted(
    session: AsyncSession,
    svc: Services,
    offer: Offer,
    slot: Slot,
    task: Task,
    supervisor: Supervisor,
    now: datetime,
) -> bool:
    """The confirmation of an accepted place, with an .ics for the student's weeks."""
    if not may_email(supervisor, await reminders_repo.suppressed(session, supervisor.email)):
        return False
    tr = Translator(supervisor.language)
    key = f"accepted:{offer.id}"
    line = offer_line(svc, offer, slot, task, supervisor, followup=False)
    subject, message = await _render(
        session, svc, "accepted", key, supervisor, slot, now, line=line
    )
    emails.attach(
        message,
        calendar(slot, task, supervisor, tr, now),
        subtype="calendar",
        filename="exchange.ics",
    )
    return await repository.queue_email(
        session, _outbox(key, "accepted", supervisor, subject, message.as_string(), now)
    )


async def queue_thanks(
    session: AsyncSession,
    svc: Services,
    offer: Offer,
    slot: Slot,
    task: Task,
    supervisor: Supervisor,
    now: datetime,
) -> bool:
    """After the exchange: thanks, and a confirmation of supervision to keep."""
    if not may_email(supervisor, await reminders_repo.suppressed(session, supervisor.email)):
        return False
    key = f"thanks:{offer.id}"
    subject, message = await _render(
        session,
        svc,
        "thanks",
        key,
        supervisor,
        slot,
        now,
        line=offer_line(svc, offer, slot, task, supervisor, followup=False),
        workplace=supervisor.workplace,
        partner=slot.partner_country or "—",
    )
    return await repository.queue_email(
        session, _outbox(key, "thanks", supervisor, subject, message.as_string(), now)
    )
