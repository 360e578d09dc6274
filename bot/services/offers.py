"""The offer service: asking supervisors to take a slot, and their answers.

```mermaid
stateDiagram-v2
    [*] --> sent: propose
    sent --> accepted: accept (a place was left)
    sent --> cancelled: accept too late (taken) / slot filled or cancelled
    sent --> declined: decline (optionally "not this month")
    sent --> expired: reply-by date passed (expire_due)
    accepted --> withdrawn: withdraw / the supervisor erased their data
    accepted --> cancelled: slot cancelled
    cancelled --> sent: a place reopened, asked again
```

Every function runs inside the caller's session and transaction and talks to no one: it returns
the offers (or slots) the caller should tell people about after committing. Declining, expiring
and withdrawing re-propose the slot at once, so the next candidate is asked without a sweep.

Concurrency: all changes to one slot's offers happen after its row is locked
(`storage.slots.lock_slot`), and the place itself is taken by one conditional UPDATE
(`storage.slots.take_place`), so simultaneous accepts of the last place give exactly one winner.
"""

from __future__ import annotations

import asyncio
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Final

from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from bot.core.settings import Settings
from bot.domain import season
from bot.domain.matching import rank
from storage import slots as repo
from storage.candidates import candidates_for, view_of
from storage.models import Offer, OfferStatus, Slot, SlotStatus, Task, TaskStatus

# An offer for a slot whose reply-by date has passed (urgent) still gets this many days to
# answer; otherwise it would expire at the next sweep before anyone could read it.
MIN_REPLY_DAYS: Final = 3


class AcceptResult(StrEnum):
    ACCEPTED = "accepted"
    TAKEN = "taken"  # someone else took the last place first; thank them
    CLOSED = "closed"  # not theirs, already answered, expired, or the slot was cancelled


class OfferClosed(Exception):
    """The offer is not this supervisor's, or no longer in the state the answer needs."""


def _today(settings: Settings, now: datetime) -> date:
    return now.astimezone(settings.tz).date()


def offer_reply_by(start: date, margin_weeks: int, today: date) -> date:
    """The slot's reply-by date, or a few days from today when that has already passed."""
    return max(season.reply_by(start, margin_weeks), today + timedelta(days=MIN_REPLY_DAYS))


async def propose(
    session: AsyncSession, settings: Settings, slot_id: int, now: datetime
) -> list[Offer]:
    """Ask the best candidates, up to `offers_per_place` outstanding offers per open place.

    Returns only the offers made now (to be delivered in chat after the commit).
    """
    if not await repo.lock_slot(session, slot_id, now):
        return []
    slot = await repo.fresh_slot(session, slot_id)
    if slot is None or slot.status != SlotStatus.OPEN or slot.filled >= slot.places:
        return []
    today = _today(settings, now)
    wanted = settings.offers_per_place * (slot.places - slot.filled)
    room = wanted - await repo.outstanding_count(session, slot_id, today)
    if room <= 0:
        return []
    candidates = await candidates_for(session, slot, now, settings.tz)
    deadline = offer_reply_by(slot.start_date, settings.coordinator_margin_weeks, today)
    # Ranking is pure CPU work over every candidate (tens of thousands in a big city): off the
    # event loop, so no chat waits for it.
    ranked = await asyncio.to_thread(rank, view_of(slot), candidates)
    return [
        await repo.ask(session, slot_id, candidate, deadline, now) for candidate in ranked[:room]
    ]


async def accept(
    session: AsyncSession, offer_id: int, supervisor_id: int, now: datetime
) -> AcceptResult:
    """Take a place for this offer, atomically on SQLite and PostgreSQL.

    A late answer (after the reply-by date, before the sweep) still gets a place if one is left.
    When this was the last place, the slot's other waiting offers are cancelled.
    """
    offer = await repo.get_offer(session, offer_id)
    if offer is None or offer.supervisor_id != supervisor_id:
        return AcceptResult.CLOSED
    task = await session.get(Task, offer.task_id)
    if task is None or task.status != TaskStatus.APPROVED:
        return AcceptResult.CLOSED  # withdrawn or changed since it was offered
    await repo.lock_slot(session, offer.slot_id, now)
    offer = await repo.get_offer(session, offer_id)  # as it is now that the slot is ours
    if offer is not None and offer.status == OfferStatus.CANCELLED:
        # Cancelled while they were deciding: by the slot filling up (taken) or being cancelled.
        slot = await repo.fresh_slot(session, offer.slot_id)
        taken = slot is not None and slot.status == SlotStatus.OPEN
        return AcceptResult.TAKEN if taken else AcceptResult.CLOSED
    if offer is None or offer.status != OfferStatus.SENT:
        return AcceptResult.CLOSED
    if not await repo.take_place(session, offer.slot_id, now):
        await repo.change_offer(
            session, offer_id, expected=OfferStatus.SENT, to=OfferStatus.CANCELLED, now=now
        )
        slot = await repo.fresh_slot(session, offer.slot_id)
        if slot is None or slot.status != SlotStatus.OPEN:
            return AcceptResult.CLOSED
        return AcceptResult.TAKEN
    if not await repo.change_offer(
        session, offer_id, expected=OfferStatus.SENT, to=OfferStatus.ACCEPTED, now=now
    ):
        await repo.give_back_place(session, offer.slot_id, now)
        return AcceptResult.CLOSED
    slot = await repo.fresh_slot(session, offer.slot_id)
    if slot is not None and slot.filled >= slot.places:
        await repo.close_offers(
            session, slot.id or 0, [OfferStatus.SENT], OfferStatus.CANCELLED, except_id=offer_id
        )
    return AcceptResult.ACCEPTED


async def _answer(session: AsyncSession, offer_id: int, supervisor_id: int, now: datetime) -> Offer:
    offer = await repo.get_offer(session, offer_id)
    if offer is None or offer.supervisor_id != supervisor_id:
        raise OfferClosed
    await repo.lock_slot(session, offer.slot_id, now)
    return offer


async def decline(
    session: AsyncSession,
    settings: Settings,
    offer_id: int,
    supervisor_id: int,
    now: datetime,
    *,
    reason: str | None = None,
    not_this_month: bool = False,
) -> list[Offer]:
    """Say no (respected: this supervisor is not asked for this slot again). "Not this month"
    also keeps the task from being asked for other slots in the months this one touches.

    Returns the replacement offers. Raises `OfferClosed` when there is nothing to decline.
    """
    offer = await _answer(session, offer_id, supervisor_id, now)
    if not await repo.change_offer(
        session,
        offer_id,
        expected=OfferStatus.SENT,
        to=OfferStatus.DECLINED,
        now=now,
        reason=reason,
        not_this_month=not_this_month,
    ):
        raise OfferClosed
    return await propose(session, settings, offer.slot_id, now)


async def withdraw(
    session: AsyncSession, settings: Settings, offer_id: int, supervisor_id: int, now: datetime
) -> list[Offer]:
    """Give an accepted place back; the slot is proposed again at once.

    Returns the replacement offers. Raises `OfferClosed` when the offer is not an accepted one.
    """
    offer = await _answer(session, offer_id, supervisor_id, now)
    if not await repo.change_offer(
        session, offer_id, expected=OfferStatus.ACCEPTED, to=OfferStatus.WITHDRAWN, now=now
    ):
        raise OfferClosed
    await repo.give_back_place(session, offer.slot_id, now)
    return await propose(session, settings, offer.slot_id, now)


async def expire_due(session: AsyncSession, settings: Settings, now: datetime) -> list[Offer]:
    """Offers unanswered after their reply-by date (a local date) expire; the next candidates
    are asked. Idempotent: a sweep job can run it as often as it likes."""
    today = _today(settings, now)
    replacements: list[Offer] = []
    for slot_id in await repo.slots_with_due_offers(session, today):
        await repo.lock_slot(session, slot_id, now)
        await repo.close_offers(
            session, slot_id, [OfferStatus.SENT], OfferStatus.EXPIRED, due_before=today
        )
        replacements += await propose(session, settings, slot_id, now)
    return replacements


async def release_supervisor(
    session: AsyncSession, supervisor_id: int, now: datetime
) -> list[Slot]:
    """Before a supervisor's data is erased: their accepted places reopen, their waiting offers
    are cancelled. Returns the slots that got a place back (coordinators are told).

    Propose those slots again only after the erasure, or their other tasks could be asked.
    """
    reopened: list[int] = []
    for offer in await repo.open_offers_of(session, supervisor_id):
        await repo.lock_slot(session, offer.slot_id, now)
        if await repo.change_offer(
            session, offer.id or 0, expected=OfferStatus.ACCEPTED, to=OfferStatus.WITHDRAWN
        ):
            await repo.give_back_place(session, offer.slot_id, now)
            reopened.append(offer.slot_id)
        else:
            await repo.change_offer(
                session, offer.id or 0, expected=OfferStatus.SENT, to=OfferStatus.CANCELLED
            )
    slots = [await repo.fresh_slot(session, slot_id) for slot_id in dict.fromkeys(reopened)]
    return [slot for slot in slots if slot is not None]


async def cancel_slot(session: AsyncSession, slot_id: int, now: datetime) -> list[Offer]:
    """Cancel an open slot with its waiting and accepted offers; returns those offers (their
    supervisors are told). Cancelling a slot twice does nothing the second time."""
    if not await repo.set_slot_cancelled(session, slot_id, now):
        return []
    return await repo.close_offers(
        session, slot_id, [OfferStatus.SENT, OfferStatus.ACCEPTED], OfferStatus.CANCELLED
    )


async def release_task(
    session: AsyncSession, settings: Settings, task_id: int, now: datetime, *, keep_accepted: bool
) -> list[Slot]:
    """A task left the pool (withdrawn, or changed and back awaiting approval): its waiting
    offers are cancelled and, unless `keep_accepted`, its accepted places given back. The slots
    are asked again at once; returns those that got a place back (coordinators are told)."""
    result = await session.execute(
        select(Offer)
        .where(
            col(Offer.task_id) == task_id,
            col(Offer.status).in_([OfferStatus.SENT, OfferStatus.ACCEPTED]),
        )
        .order_by(col(Offer.slot_id), col(Offer.id))
    )
    touched: list[int] = []
    reopened: list[int] = []
    for offer in list(result.scalars()):
        await repo.lock_slot(session, offer.slot_id, now)
        if offer.status == OfferStatus.SENT:
            await repo.change_offer(
                session, offer.id or 0, expected=OfferStatus.SENT, to=OfferStatus.CANCELLED
            )
        elif not keep_accepted and await repo.change_offer(
            session, offer.id or 0, expected=OfferStatus.ACCEPTED, to=OfferStatus.WITHDRAWN
        ):
            await repo.give_back_place(session, offer.slot_id, now)
            reopened.append(offer.slot_id)
        touched.append(offer.slot_id)
    for slot_id in dict.fromkeys(touched):
        await propose(session, settings, slot_id, now)
    slots = [await repo.fresh_slot(session, slot_id) for slot_id in dict.fromkeys(reopened)]
    return [slot for slot in slots if slot is not None]
