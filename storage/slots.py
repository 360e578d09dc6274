"""Data access for slots and offers. Every function takes the caller's session (and transaction).

Places are counted in SQL, never read-modify-written in Python: `take_place` is one conditional
UPDATE whose row count says whether a place was left, which is what makes two supervisors
accepting the last place at the same moment safe on SQLite and PostgreSQL alike.

Lock order, to keep PostgreSQL free of deadlocks: a transaction that changes a slot's offers
first locks the slot row (`lock_slot`, or the UPDATE of `take_place`), then touches the offers;
several slots are locked in id order.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import CursorResult, Result, delete, func, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from bot.domain.matching import Candidate
from bot.domain.slots_csv import RowError, SlotRow
from storage.models import (
    Offer,
    OfferEmail,
    OfferStatus,
    Slot,
    SlotStatus,
    Supervisor,
    Task,
    TaskStatus,
)

_IMPORTED = ("exchange_type", "city", "start_date", "weeks", "places")
_OPTIONAL = ("field_preference", "partner_country")


def _rowcount(result: Result[Any]) -> int:
    """Rows an UPDATE changed: the session types every result alike, DML gives a CursorResult."""
    return result.rowcount if isinstance(result, CursorResult) else 0


# ---- slots -------------------------------------------------------------------------------


@dataclass
class ImportReport:
    """References by outcome; `refused` rows were left as they were (see `import_slots`)."""

    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    refused: list[RowError] = field(default_factory=list)


async def slots_by_reference(session: AsyncSession, references: Sequence[str]) -> list[Slot]:
    """The slots that already have one of these references (as the database has them now)."""
    result = await session.execute(
        select(Slot)
        .where(col(Slot.reference).in_(list(references)))
        .execution_options(populate_existing=True)
    )
    return list(result.scalars())


async def import_slots(
    session: AsyncSession,
    rows: Sequence[SlotRow],
    now: datetime,
    *,
    may_change: Callable[[Slot], bool] | None = None,
) -> ImportReport:
    """Create or update slots by reference, so importing the same file twice changes nothing.

    `filled` and `status` are the bot's, not the file's: a re-import never touches them, and a
    row that would leave fewer places than accepted supervisors is refused, not applied. A row
    for an existing slot that `may_change` refuses (another coordinator's) is refused too: a
    reference is not a way into someone else's area.
    """
    report = ImportReport()
    existing = {
        slot.reference: slot
        for slot in await slots_by_reference(session, [row.reference for row in rows])
    }
    for row in rows:
        values = {name: getattr(row, name) for name in (*_IMPORTED, *_OPTIONAL)}
        slot = existing.get(row.reference)
        if slot is not None and may_change is not None and not may_change(slot):
            report.refused.append(RowError(row.line, "coord.csv.taken", row.reference))
            continue
        if slot is None:
            session.add(Slot(reference=row.reference, created_at=now, updated_at=now, **values))
            report.created.append(row.reference)
            continue
        if all(getattr(slot, name) == value for name, value in values.items()):
            report.unchanged.append(row.reference)
            continue
        # Conditional, so an accept racing with the import cannot end above the new places.
        changed = await session.execute(
            update(Slot)
            .where(col(Slot.id) == slot.id, col(Slot.filled) <= row.places)
            .values(updated_at=now, **values)
            .execution_options(synchronize_session=False)
        )
        if _rowcount(changed):
            report.updated.append(row.reference)
        else:
            report.refused.append(RowError(row.line, "slots.error.below_filled", row.reference))
    await session.flush()
    return report


def csv_rows(slots: Iterable[Slot]) -> list[SlotRow]:
    """Slots as the CSV exporter writes them, numbered by the line each lands on."""
    return [
        SlotRow(
            line,
            slot.reference,
            slot.exchange_type,
            slot.city,
            slot.start_date,
            slot.weeks,
            slot.places,
            slot.field_preference,
            slot.partner_country,
        )
        for line, slot in enumerate(slots, start=2)  # the header is line 1
    ]


async def fresh_slot(session: AsyncSession, slot_id: int) -> Slot | None:
    """The slot as the database has it now (not a copy cached earlier in this session)."""
    result = await session.execute(
        select(Slot).where(col(Slot.id) == slot_id).execution_options(populate_existing=True)
    )
    return result.scalar_one_or_none()


async def get_slot_by_reference(session: AsyncSession, reference: str) -> Slot | None:
    result = await session.execute(select(Slot).where(col(Slot.reference) == reference))
    return result.scalar_one_or_none()


async def list_slots(
    session: AsyncSession, *, exchange_type: str | None = None, city: str | None = None
) -> list[Slot]:
    query = select(Slot).order_by(col(Slot.start_date), col(Slot.reference))
    if exchange_type is not None:
        query = query.where(col(Slot.exchange_type) == exchange_type)
    if city is not None:
        query = query.where(col(Slot.city) == city)
    result = await session.execute(query.execution_options(populate_existing=True))
    return list(result.scalars())


async def lock_slot(session: AsyncSession, slot_id: int, now: datetime) -> bool:
    """Take the slot's row lock for the rest of the transaction (serialises work on one slot)."""
    result = await session.execute(
        update(Slot)
        .where(col(Slot.id) == slot_id)
        .values(updated_at=now)
        .execution_options(synchronize_session=False)
    )
    return _rowcount(result) == 1


async def take_place(session: AsyncSession, slot_id: int, now: datetime) -> bool:
    """One more place filled, only if one is left and the slot is open. Atomic."""
    result = await session.execute(
        update(Slot)
        .where(
            col(Slot.id) == slot_id,
            col(Slot.filled) < col(Slot.places),
            col(Slot.status) == SlotStatus.OPEN,
        )
        .values(filled=col(Slot.filled) + 1, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    return _rowcount(result) == 1


async def give_back_place(session: AsyncSession, slot_id: int, now: datetime) -> None:
    await session.execute(
        update(Slot)
        .where(col(Slot.id) == slot_id, col(Slot.filled) > 0)
        .values(filled=col(Slot.filled) - 1, updated_at=now)
        .execution_options(synchronize_session=False)
    )


async def set_slot_cancelled(session: AsyncSession, slot_id: int, now: datetime) -> bool:
    """Cancel an open slot; its places are no longer counted. False when it was not open."""
    result = await session.execute(
        update(Slot)
        .where(col(Slot.id) == slot_id, col(Slot.status) == SlotStatus.OPEN)
        .values(status=SlotStatus.CANCELLED, filled=0, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    return _rowcount(result) == 1


# ---- offers ------------------------------------------------------------------------------


async def get_offer(session: AsyncSession, offer_id: int) -> Offer | None:
    result = await session.execute(
        select(Offer).where(col(Offer.id) == offer_id).execution_options(populate_existing=True)
    )
    return result.scalar_one_or_none()


async def offers_for_slot(session: AsyncSession, slot_id: int) -> list[Offer]:
    result = await session.execute(
        select(Offer)
        .where(col(Offer.slot_id) == slot_id)
        .order_by(col(Offer.id))
        .execution_options(populate_existing=True)
    )
    return list(result.scalars())


async def outstanding_count(session: AsyncSession, slot_id: int, today: date) -> int:
    """Offers still waiting for an answer whose reply-by date has not passed."""
    count = await session.scalar(
        select(func.count())
        .select_from(Offer)
        .where(
            col(Offer.slot_id) == slot_id,
            col(Offer.status) == OfferStatus.SENT,
            col(Offer.reply_by) >= today,
        )
    )
    return int(count or 0)


async def ask(
    session: AsyncSession, slot_id: int, candidate: Candidate, reply_by: date, now: datetime
) -> Offer:
    """A new offer; an offer cancelled only because the slot filled up is sent again instead
    (one row per slot and task), so a reopened place can go back to the people asked first."""
    result = await session.execute(
        select(Offer)
        .where(
            col(Offer.slot_id) == slot_id,
            col(Offer.task_id) == candidate.task_id,
            col(Offer.status) == OfferStatus.CANCELLED,
        )
        .execution_options(populate_existing=True)
    )
    offer = result.scalar_one_or_none()
    if offer is not None:  # asked again: the reminder policy starts afresh for this offer
        await session.execute(delete(OfferEmail).where(col(OfferEmail.offer_id) == offer.id))
    if offer is None:
        offer = Offer(slot_id=slot_id, task_id=candidate.task_id, reply_by=reply_by, created_at=now,
                      supervisor_id=candidate.supervisor_id)  # fmt: skip
    offer.status = OfferStatus.SENT
    offer.reply_by, offer.created_at = reply_by, now
    offer.delivered_at = offer.answered_at = offer.reason = None
    offer.not_this_month = False
    session.add(offer)
    await session.flush()
    return offer


async def change_offer(
    session: AsyncSession,
    offer_id: int,
    *,
    expected: OfferStatus,
    to: OfferStatus,
    now: datetime | None = None,
    reason: str | None = None,
    not_this_month: bool = False,
) -> bool:
    """Move one offer from `expected` to `to`; False when it was no longer in `expected`.

    Conditional, so a double tap or a sweep racing with a reply changes the offer only once.
    `now` records an answer (`answered_at`); leave it out for the bot's own changes.
    """
    values: dict[str, object] = {"status": to}
    if now is not None:
        values["answered_at"] = now
    if reason is not None:
        values["reason"] = reason
    if not_this_month:
        values["not_this_month"] = True
    result = await session.execute(
        update(Offer)
        .where(col(Offer.id) == offer_id, col(Offer.status) == expected)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    return _rowcount(result) == 1


async def close_offers(
    session: AsyncSession,
    slot_id: int,
    statuses: Sequence[OfferStatus],
    to: OfferStatus,
    *,
    except_id: int | None = None,
    due_before: date | None = None,
) -> list[Offer]:
    """Move a slot's offers in `statuses` to `to`; returns them as they are now."""
    query = select(col(Offer.id)).where(
        col(Offer.slot_id) == slot_id, col(Offer.status).in_(list(statuses))
    )
    if except_id is not None:
        query = query.where(col(Offer.id) != except_id)
    if due_before is not None:
        query = query.where(col(Offer.reply_by) < due_before)
    ids = list((await session.execute(query.order_by(col(Offer.id)))).scalars())
    if not ids:
        return []
    await session.execute(
        update(Offer)
        .where(col(Offer.id).in_(ids), col(Offer.status).in_(list(statuses)))
        .values(status=to)
        .execution_options(synchronize_session=False)
    )
    result = await session.execute(
        select(Offer)
        .where(col(Offer.id).in_(ids))
        .order_by(col(Offer.id))
        .execution_options(populate_existing=True)
    )
    return list(result.scalars())


async def slots_with_due_offers(session: AsyncSession, today: date) -> list[int]:
    """Slots with offers still unanswered after their reply-by date, in id (= lock) order."""
    result = await session.execute(
        select(col(Offer.slot_id))
        .where(col(Offer.status) == OfferStatus.SENT, col(Offer.reply_by) < today)
        .distinct()
        .order_by(col(Offer.slot_id))
    )
    return list(result.scalars())


async def open_offers_of(session: AsyncSession, supervisor_id: int) -> list[Offer]:
    """A supervisor's sent and accepted offers, by slot (the lock order)."""
    result = await session.execute(
        select(Offer)
        .where(
            col(Offer.supervisor_id) == supervisor_id,
            col(Offer.status).in_([OfferStatus.SENT, OfferStatus.ACCEPTED]),
        )
        .order_by(col(Offer.slot_id), col(Offer.id))
        .execution_options(populate_existing=True)
    )
    return list(result.scalars())


async def undelivered_offers(session: AsyncSession) -> list[Offer]:
    """Offers waiting to be shown in chat (the delivery job picks these up)."""
    result = await session.execute(
        select(Offer)
        .where(col(Offer.status) == OfferStatus.SENT, col(Offer.delivered_at).is_(None))
        .order_by(col(Offer.id))
    )
    return list(result.scalars())


async def claim_delivery(session: AsyncSession, offer_id: int, now: datetime) -> bool:
    """Take the chat delivery of one offer; False when another process already took it."""
    result = await session.execute(
        update(Offer)
        .where(
            col(Offer.id) == offer_id,
            col(Offer.delivered_at).is_(None),
            col(Offer.status) == OfferStatus.SENT,
        )
        .values(delivered_at=now)
        .execution_options(synchronize_session=False)
    )
    return _rowcount(result) == 1


async def release_delivery(session: AsyncSession, offer_id: int, claimed_at: datetime) -> None:
    """Give back a claim whose send Telegram did not accept: the next round sends it again."""
    await session.execute(
        update(Offer)
        .where(col(Offer.id) == offer_id, col(Offer.delivered_at) == claimed_at)
        .values(delivered_at=None)
        .execution_options(synchronize_session=False)
    )


# ---- exports -----------------------------------------------------------------------------


async def approved_tasks(session: AsyncSession) -> list[tuple[Task, Supervisor]]:
    result = await session.execute(
        select(Task, Supervisor)
        .join(Supervisor, col(Supervisor.id) == col(Task.supervisor_id))
        .where(col(Task.status) == TaskStatus.APPROVED)
        .order_by(col(Task.season), col(Task.exchange_type), col(Task.city), col(Task.id))
    )
    return [(task, supervisor) for task, supervisor in result.all()]
