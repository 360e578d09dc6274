"""Emails about offers: the offer (and its follow-ups, bundled), the confirmation with a calendar
file when a place is accepted, and the thank-you with a confirmation of supervision afterwards.

Each is queued in the outbox inside the transaction of the change that causes it. Every email
says why the person receives it, has the responsible coordinator as Reply-To, and a one-tap
unsubscribe. An unverified, unsubscribed or suppressed address gets none of them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from email.message import EmailMessage
from email.utils import parseaddr
from typing import Any

from icalendar import Calendar, Event, vCalAddress, vText
from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core import emails
from bot.core.context import Services
from bot.core.i18n import Translator
from bot.domain import reference, reminders
from bot.services import links, unsubscribe
from storage import coordinators, outbox, reminders_repo, repository
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
    policy = svc.settings.reminder_policy
    person, state = await _person(session, svc, supervisor, now)
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


@dataclass(frozen=True)
class Reminded:
    """What the sweep queued for one supervisor: its follow-ups get a chat nudge after commit."""

    supervisor: Supervisor
    plan: reminders.Plan


async def queue_reminders_batch(
    session: AsyncSession, svc: Services, supervisor_ids: Sequence[int], now: datetime
) -> list[Reminded]:
    """`queue_reminders` for a batch of supervisors, in a fixed number of queries: their state,
    suppressions and the responsible coordinators are read once for the batch, and the emails
    are queued in one flush."""
    policy = svc.settings.reminder_policy
    people = await reminders_repo.supervisors(session, supervisor_ids)
    states = await reminders_repo.states_of(session, [p.id or 0 for p in people], now)
    blocked = await reminders_repo.suppressed_among(session, {p.email for p in people})
    bound = await reminders_repo.bound_coordinators(session)
    planned: list[tuple[Supervisor, reminders.Plan, OutboxEmail]] = []
    for supervisor in people:
        state = states[supervisor.id or 0]
        person = reminders.Person(
            verified=may_email(supervisor, supervisor.email.lower() in blocked),
            unsubscribed=supervisor.unsubscribed_at is not None,
            paused=reminders_repo.is_paused(supervisor, now),
            emails_sent=state.emails_sent,
        )
        made = reminders.plan(person, [s.policy for s in state.offers], policy, now)
        if not made:
            continue
        rows = {s.policy.offer_id: s for s in state.offers}
        lines = [
            offer_line(
                svc, rows[i].offer, rows[i].slot, rows[i].task, supervisor, i in made.followups
            )
            for i in made.offers
        ]
        first_slot = rows[made.offers[0]].slot
        responsible = [
            c for c in bound if coordinators.covers(c, first_slot.exchange_type, first_slot.city)
        ]
        key = f"remind:{supervisor.id}:{policy.today(now).isoformat()}"
        subject, message = emails.render(
            "offer",
            language=supervisor.language,
            recipient=supervisor.email,
            mail_from=svc.settings.mail_from,
            idempotency_key=key,
            now=now,
            reply_to=responsible[0].email if responsible else svc.settings.reply_to,
            unsubscribe=unsubscribe.for_supervisor(svc, supervisor.id or 0),
            name=supervisor.name,
            lines=lines,
            followup=bool(made.followups) and not made.first,
        )
        email = _outbox(key, "offer", supervisor, subject, message.as_string(), now)
        email.message_id = str(message["Message-ID"])[:300]  # known here: never parsed back out
        planned.append((supervisor, made, email))
        await asyncio.sleep(0)  # rendering is CPU work: let chats in between two emails
    queued = {id(e) for e in await outbox.queue_emails(session, [e for _, _, e in planned])}
    done: list[Reminded] = []
    links: list[dict[str, Any]] = []
    for supervisor, made, email in planned:
        if id(email) not in queued:
            continue  # today's email exists already
        for offer_id in made.offers:
            kind = "followup" if offer_id in made.followups else "offer"
            links.append(
                {"offer_id": offer_id, "outbox_email_id": email.id, "kind": kind, "created_at": now}
            )
        done.append(Reminded(supervisor, made))
    if links:
        await session.execute(insert(OfferEmail), links)
    return done


async def _person(
    session: AsyncSession, svc: Services, supervisor: Supervisor, now: datetime
) -> tuple[reminders.Person, reminders_repo.ReminderState]:
    """What the reminder policy needs to know about one supervisor and their waiting offers."""
    state = await reminders_repo.state_of(session, supervisor, now, svc.settings.tz)
    suppressed = await reminders_repo.suppressed(session, supervisor.email)
    person = reminders.Person(
        verified=may_email(supervisor, suppressed),
        unsubscribed=supervisor.unsubscribed_at is not None,
        paused=reminders_repo.is_paused(supervisor, now),
        emails_sent=state.emails_sent,
    )
    return person, state


async def held_until(
    session: AsyncSession, svc: Services, supervisor: Supervisor, now: datetime
) -> datetime | None:
    """When the offer email that only the working hours hold back goes out (see
    `reminders.held_until`); None when nothing is held."""
    person, state = await _person(session, svc, supervisor, now)
    policy = svc.settings.reminder_policy
    return reminders.held_until(person, [s.policy for s in state.offers], policy, now)


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


def calendar_uid(offer: Offer) -> str:
    """One event per offer: the confirmation and any later cancellation share it."""
    return f"veileder-offer-{offer.id}@veileder"


def calendar(
    offer: Offer,
    slot: Slot,
    task: Task,
    supervisor: Supervisor,
    tr: Translator,
    now: datetime,
    *,
    organizer: str,
    cancel: bool = False,
) -> bytes:
    """An all-day event over the student's weeks, for the supervisor's own calendar.

    A calendar program adds a `METHOD:REQUEST` with an ORGANIZER and an ATTENDEE as an
    invitation and removes it on a `METHOD:CANCEL` with the same UID and a higher SEQUENCE;
    without METHOD many only offer to import a copy that nothing can take back.
    """
    cal = Calendar()
    cal.add("prodid", "-//Veileder//NMF exchange//EN")
    cal.add("version", "2.0")
    cal.add("method", "CANCEL" if cancel else "REQUEST")
    event = Event()
    event.add("uid", calendar_uid(offer))
    event.add("sequence", 1 if cancel else 0)
    event.add("dtstamp", now)
    event.add("dtstart", slot.start_date)
    event.add("dtend", _end(slot) + timedelta(days=1))
    event.add("summary", tr("ics.summary", reference=slot.reference))
    event.add("description", tr("ics.description", task=task.title))
    event.add("organizer", vCalAddress(f"mailto:{organizer}"))
    attendee = vCalAddress(f"mailto:{supervisor.email}")
    attendee.params["cn"] = vText(supervisor.name)
    attendee.params["role"] = vText("REQ-PARTICIPANT")
    attendee.params["partstat"] = vText("ACCEPTED")
    event.add("attendee", attendee)
    event.add("status", "CANCELLED" if cancel else "CONFIRMED")
    cal.add_component(event)
    return bytes(cal.to_ical())


async def _organizer(session: AsyncSession, svc: Services, slot: Slot) -> str:
    """The responsible coordinator (the one a reply reaches), else the bot's own address."""
    return parseaddr(await reply_to(session, svc, slot) or svc.settings.mail_from)[1]


def _attach_calendar(message: EmailMessage, ics: bytes, method: str) -> None:
    emails.attach(
        message, ics, subtype="calendar", filename="exchange.ics", params={"method": method}
    )


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
    return await _queue_calendar_email(
        session, svc, offer, slot, task, supervisor, now, kind="accepted", key="accepted"
    )


async def queue_cancelled(
    session: AsyncSession,
    svc: Services,
    offer: Offer,
    slot: Slot,
    task: Task,
    supervisor: Supervisor,
    now: datetime,
    *,
    slot_cancelled: bool = False,
) -> bool:
    """A place given back, or its slot cancelled by the coordinators: the calendar event of its
    confirmation is cancelled (same UID)."""
    return await _queue_calendar_email(
        session,
        svc,
        offer,
        slot,
        task,
        supervisor,
        now,
        kind="place_cancelled",
        key="calendar-cancel",
        slot_cancelled=slot_cancelled,
    )


async def _queue_calendar_email(
    session: AsyncSession,
    svc: Services,
    offer: Offer,
    slot: Slot,
    task: Task,
    supervisor: Supervisor,
    now: datetime,
    *,
    kind: str,
    key: str,
    **values: Any,
) -> bool:
    """An email about one offer's calendar event: the invitation (`REQUEST`) when it is
    accepted, its cancellation (`CANCEL`, the same UID) when the place is gone."""
    if not may_email(supervisor, await reminders_repo.suppressed(session, supervisor.email)):
        return False
    cancel = kind == "place_cancelled"
    idempotency_key = f"{key}:{offer.id}"
    line = offer_line(svc, offer, slot, task, supervisor, followup=False)
    subject, message = await _render(
        session, svc, kind, idempotency_key, supervisor, slot, now, line=line, **values
    )
    organizer = await _organizer(session, svc, slot)
    tr = Translator(supervisor.language)
    ics = calendar(offer, slot, task, supervisor, tr, now, organizer=organizer, cancel=cancel)
    _attach_calendar(message, ics, "CANCEL" if cancel else "REQUEST")
    return await repository.queue_email(
        session, _outbox(idempotency_key, kind, supervisor, subject, message.as_string(), now)
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
