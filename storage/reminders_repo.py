"""What the reminder sweep reads: waiting offers, the emails already sent about them, pauses,
suppressions, and accepted places whose exchange has ended."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from bot.domain.reminders import OfferState
from storage.models import (
    Coordinator,
    Offer,
    OfferEmail,
    OfferStatus,
    Slot,
    SlotStatus,
    Supervisor,
    SupervisorStatus,
    Suppression,
    Task,
    TaskStatus,
)
from storage.streams import rows_in_parts


@dataclass(frozen=True)
class WaitingOffer:
    offer: Offer
    slot: Slot
    task: Task
    policy: OfferState


@dataclass(frozen=True)
class ReminderState:
    offers: list[WaitingOffer]
    emails_sent: tuple[datetime, ...]


async def supervisors_with_waiting_offers(
    session: AsyncSession, *, after: int = 0, limit: int | None = None
) -> list[int]:
    """Supervisors with an offer waiting for an answer, in id order: those after `after`, the
    first `limit` of them (the scheduler's sweep takes a batch a run)."""
    result = await session.execute(
        select(Offer.supervisor_id)
        .where(col(Offer.status) == OfferStatus.SENT, col(Offer.supervisor_id) > after)
        .distinct()
        .order_by(col(Offer.supervisor_id))
        .limit(limit)
    )
    return [int(i) for i in result.scalars()]


async def state_of(
    session: AsyncSession, supervisor: Supervisor, now: datetime, tz: ZoneInfo
) -> ReminderState:
    rows = await session.execute(
        select(Offer, Slot, Task)
        .join(Slot, col(Slot.id) == col(Offer.slot_id))
        .join(Task, col(Task.id) == col(Offer.task_id))
        .where(
            col(Offer.supervisor_id) == supervisor.id,
            col(Offer.status) == OfferStatus.SENT,
            col(Task.status) == TaskStatus.APPROVED,
        )
    )
    waiting: list[tuple[Offer, Slot, Task]] = [(row[0], row[1], row[2]) for row in rows]
    ids = [offer.id for offer, _, _ in waiting]
    emailed: dict[int, list[datetime]] = {}
    if ids:
        links = await session.execute(
            select(OfferEmail.offer_id, OfferEmail.created_at).where(
                col(OfferEmail.offer_id).in_(ids)
            )
        )
        for offer_id, created in links:
            emailed.setdefault(int(offer_id), []).append(created)
    sent = await session.execute(
        select(func.min(OfferEmail.created_at))
        .join(Offer, col(Offer.id) == col(OfferEmail.offer_id))
        .where(
            col(Offer.supervisor_id) == supervisor.id,
            col(OfferEmail.created_at) > now - timedelta(days=8),
        )
        .group_by(col(OfferEmail.outbox_email_id))
    )
    offers = [
        WaitingOffer(
            offer,
            slot,
            task,
            OfferState(
                offer_id=offer.id or 0,
                answered=False,
                slot_open=slot.status == SlotStatus.OPEN and slot.filled < slot.places,
                reply_by=offer.reply_by,
                emailed_at=tuple(sorted(emailed.get(offer.id or 0, []))),
            ),
        )
        for offer, slot, task in waiting
    ]
    return ReminderState(offers, tuple(sorted(t for t in sent.scalars() if t is not None)))


async def supervisors(session: AsyncSession, ids: Collection[int]) -> list[Supervisor]:
    """These supervisors, in id order (one query for a batch of the sweep)."""
    if not ids:
        return []
    result = await session.execute(
        select(Supervisor).where(col(Supervisor.id).in_(list(ids))).order_by(col(Supervisor.id))
    )
    return list(result.scalars())


async def states_of(
    session: AsyncSession, supervisor_ids: Collection[int], now: datetime
) -> dict[int, ReminderState]:
    """`state_of` for many supervisors at once: three queries whatever their number (the offers
    with their slots and tasks read in parts, `storage.streams`)."""
    ids = list(supervisor_ids)
    if not ids:
        return {}
    waiting_where = (
        col(Offer.supervisor_id).in_(ids),
        col(Offer.status) == OfferStatus.SENT,
        col(Task.status) == TaskStatus.APPROVED,
    )
    rows = await rows_in_parts(
        session,
        select(Offer, Slot, Task)
        .join(Slot, col(Slot.id) == col(Offer.slot_id))
        .join(Task, col(Task.id) == col(Offer.task_id))
        .where(*waiting_where),
    )
    waiting: dict[int, list[tuple[Offer, Slot, Task]]] = {}
    for row in rows:
        waiting.setdefault(row[0].supervisor_id, []).append((row[0], row[1], row[2]))
    links = await session.execute(
        select(OfferEmail.offer_id, OfferEmail.created_at)
        .join(Offer, col(Offer.id) == col(OfferEmail.offer_id))
        .join(Task, col(Task.id) == col(Offer.task_id))
        .where(*waiting_where)
    )
    emailed: dict[int, list[datetime]] = {}
    for offer_id, created in links:
        emailed.setdefault(int(offer_id), []).append(created)
    sent_rows = await session.execute(
        select(Offer.supervisor_id, func.min(OfferEmail.created_at))
        .join(Offer, col(Offer.id) == col(OfferEmail.offer_id))
        .where(
            col(Offer.supervisor_id).in_(ids),
            col(OfferEmail.created_at) > now - timedelta(days=8),
        )
        .group_by(col(Offer.supervisor_id), col(OfferEmail.outbox_email_id))
    )
    sent: dict[int, list[datetime]] = {}
    for supervisor_id, first in sent_rows:
        if first is not None:
            sent.setdefault(int(supervisor_id), []).append(first)
    return {
        supervisor_id: ReminderState(
            [
                _waiting(offer, slot, task, emailed)
                for offer, slot, task in waiting.get(supervisor_id, [])
            ],
            tuple(sorted(sent.get(supervisor_id, []))),
        )
        for supervisor_id in ids
    }


def _waiting(
    offer: Offer, slot: Slot, task: Task, emailed: dict[int, list[datetime]]
) -> WaitingOffer:
    return WaitingOffer(
        offer,
        slot,
        task,
        OfferState(
            offer_id=offer.id or 0,
            answered=False,
            slot_open=slot.status == SlotStatus.OPEN and slot.filled < slot.places,
            reply_by=offer.reply_by,
            emailed_at=tuple(sorted(emailed.get(offer.id or 0, []))),
        ),
    )


async def bound_coordinators(session: AsyncSession) -> list[Coordinator]:
    """Every bound coordinator, in id order: a batch picks each email's Reply-To from these
    (`coordinators.covers`) instead of one query per email. There are a few dozen."""
    result = await session.execute(
        select(Coordinator)
        .where(col(Coordinator.telegram_user_id).is_not(None))
        .order_by(col(Coordinator.id))
    )
    return list(result.scalars())


async def offers_shown(
    session: AsyncSession, offer_ids: Collection[int]
) -> dict[int, tuple[Offer, Slot, Task]]:
    """These offers with their slot and task, as a chat nudge shows them (one query)."""
    if not offer_ids:
        return {}
    rows = await session.execute(
        select(Offer, Slot, Task)
        .join(Slot, col(Slot.id) == col(Offer.slot_id))
        .join(Task, col(Task.id) == col(Offer.task_id))
        .where(col(Offer.id).in_(list(offer_ids)))
        .execution_options(populate_existing=True)
    )
    return {row[0].id or 0: (row[0], row[1], row[2]) for row in rows}


async def suppressed_among(session: AsyncSession, emails: Collection[str]) -> set[str]:
    """Which of these addresses (lower case) are suppressed: one query for a batch."""
    if not emails:
        return set()
    result = await session.execute(
        select(func.lower(col(Suppression.email))).where(
            func.lower(col(Suppression.email)).in_({e.lower() for e in emails})
        )
    )
    return set(result.scalars())


async def suppressed(session: AsyncSession, email: str) -> bool:
    found = await session.execute(
        select(Suppression.id).where(func.lower(col(Suppression.email)) == email.lower())
    )
    return found.first() is not None


def is_paused(supervisor: Supervisor, now: datetime) -> bool:
    if supervisor.paused_until is not None:
        return supervisor.paused_until > now
    return supervisor.status == SupervisorStatus.PAUSED


async def mark_thanked(session: AsyncSession, offer_id: int, now: datetime) -> bool:
    """Take the offer's one thank-you: True for the one transaction that marks it (a second
    sweep racing this one finds it marked and thanks nobody)."""
    result = await session.execute(
        update(Offer)
        .where(col(Offer.id) == offer_id, col(Offer.thanked_at).is_(None))
        .values(thanked_at=now)
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(result, "rowcount", 0))


async def ended_unthanked(session: AsyncSession, today: date) -> list[int]:
    """Accepted offers whose slot's weeks are over and whose thank-you is not queued yet."""
    rows = await session.execute(
        select(col(Offer.id), col(Slot.start_date), col(Slot.weeks))
        .join(Slot, col(Slot.id) == col(Offer.slot_id))
        .where(col(Offer.status) == OfferStatus.ACCEPTED, col(Offer.thanked_at).is_(None))
    )
    return [
        int(offer_id or 0)
        for offer_id, start, weeks in rows
        if start + timedelta(weeks=int(weeks)) <= today
    ]
