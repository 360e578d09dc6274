"""Giving accepted places back, said out loud.

Three ways give a place back: "give back" on the place itself, withdrawing its task, and
`/delete`. All three name each place (reference and the student's dates) in their yes/no
question, and after "yes":

- the supervisor gets an email whose `.ics` cancels the calendar event of the confirmation
  (same UID, `METHOD:CANCEL`, SEQUENCE+1), except after `/delete`: the address is erased with
  everything else, and the question tells them to remove the entry themselves;
- the slot's coordinators get one notice per place naming the supervisor, the task, the slot,
  its reply-by date and what really happened next: how many others are being asked now, or that
  nobody could be asked, with a one-tap "propose now" that runs the same as `/propose`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from functools import partial

from markupsafe import Markup
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.context import Services
from bot.core.i18n import Translator
from bot.core.screen import Button, Screen
from bot.domain import season
from bot.domain.signing import Callback
from bot.services import notify, offer_mail
from bot.services.coordinators import city_name
from storage import placements as store
from storage import slots
from storage.models import Slot
from storage.placements import Placement

# The coordinators' callback scope and step for slots (chat.flows.coordinator handles it).
PROPOSE_NOW = Callback("cr", "s", "pn")


def _day(placement: Placement, language: str) -> tuple[str, str]:
    return (
        offer_mail._day(placement.slot.start_date, language),
        offer_mail._day(placement.end, language),
    )


def place_lines(held: Sequence[Placement], tr: Translator) -> str:
    """One line per place: reference, the student's first and last day, the task (HTML)."""
    lines = []
    for placement in held:
        start, end = _day(placement, tr.language)
        lines.append(
            tr(
                "placements.line",
                reference=placement.slot.reference,
                start=start,
                end=end,
                title=placement.task.title,
            )
        )
    return "\n".join(lines)


def held_notice(held: Sequence[Placement], tr: Translator, message_id: str) -> str:
    """The paragraph a confirmation question adds when places would be given back ("" if none)."""
    if not held:
        return ""
    return "\n\n" + tr(message_id, places=Markup(place_lines(held, tr)))


async def given_back(session: AsyncSession, held: Sequence[Placement]) -> list[Placement]:
    """Of the places held before a release, those that were really given back by it."""
    kept = await store.still_accepted(session, [p.offer.id or 0 for p in held])
    return [p for p in held if p.offer.id not in kept]


async def queue_cancellations(
    session: AsyncSession,
    svc: Services,
    released: Sequence[Placement],
    now: datetime,
    *,
    slot_cancelled: bool = False,
) -> None:
    """The calendar cancellations, in the transaction that gave the places back (or cancelled
    their slot)."""
    queued = False
    for p in released:
        queued |= await offer_mail.queue_cancelled(
            session, svc, p.offer, p.slot, p.task, p.supervisor, now, slot_cancelled=slot_cancelled
        )
    if queued:
        svc.sender.wake()  # after commit is fine: the sender reads committed rows


def released_screen(
    slot: Slot, placement: Placement, asked: int, tr: Translator, *, margin: int
) -> Screen:
    """A coordinator's notice of one place given back, true to what happens next."""
    text = tr(
        "coord.place_released",
        reference=slot.reference,
        start=slot.start_date.isoformat(),
        end=placement.end.isoformat(),
        name=placement.supervisor.name,
        title=placement.task.title,
        filled=slot.filled,
        places=slot.places,
        reply_by=season.reply_by(slot.start_date, margin).isoformat(),
        city=city_name(slot.city, tr.language),
    )
    if asked:
        return Screen(text + "\n" + tr("coord.place_released.asked", count=asked))
    button = Callback(PROPOSE_NOW.scope, PROPOSE_NOW.step, PROPOSE_NOW.action, str(slot.id))
    return Screen(
        text + "\n" + tr("coord.place_released.nobody"),
        [[Button(tr("coord.btn.propose_now"), button)]],
    )


async def announce(svc: Services, released: Sequence[Placement]) -> None:
    """After the commit (and any re-proposing): tell the slot's coordinators, one notice per
    place, with how many supervisors are waiting to answer for it now."""
    today = svc.clock.now().astimezone(svc.settings.tz).date()
    margin = svc.settings.coordinator_margin_weeks
    for placement in released:
        async with svc.db.session() as session:
            slot = await slots.fresh_slot(session, placement.slot.id or 0)
            asked = await slots.outstanding_count(session, placement.slot.id or 0, today)
        if slot is None:
            continue
        await notify.show_coordinators(
            svc,
            exchange_type=slot.exchange_type,
            city=slot.city,
            screen=partial(released_screen, slot, placement, asked, margin=margin),
        )
