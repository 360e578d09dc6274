"""Accepted places ("placements"): who took which slot, for which task.

Read-only queries: the confirmation questions name the places a change would give back, the
coordinators' notices and lists name the supervisor and task, and `placements export` lists
them all. Every function takes the caller's session (and transaction).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select
from sqlmodel.sql.expression import Select

from storage.models import Offer, OfferStatus, Slot, Supervisor, Task


@dataclass(frozen=True)
class Placement:
    """One accepted offer with what is needed to name it to a person."""

    offer: Offer
    slot: Slot
    task: Task
    supervisor: Supervisor

    @property
    def end(self) -> date:
        """The student's last day."""
        return self.slot.start_date + timedelta(weeks=self.slot.weeks) - timedelta(days=1)


# The accepted offers joined with what a place is made of (SQLModel's typed select).
Accepted = Select[Offer, Slot, Task, Supervisor]


def _accepted() -> Accepted:
    return (
        select(Offer, Slot, Task, Supervisor)
        .join(Slot, col(Slot.id) == col(Offer.slot_id))
        .join(Task, col(Task.id) == col(Offer.task_id))
        .join(Supervisor, col(Supervisor.id) == col(Offer.supervisor_id))
        .where(col(Offer.status) == OfferStatus.ACCEPTED)
        .order_by(col(Slot.start_date), col(Slot.reference), col(Offer.id))
    )


async def _run(session: AsyncSession, query: Accepted) -> list[Placement]:
    result = await session.execute(query)
    return [Placement(offer, slot, task, sup) for offer, slot, task, sup in result.all()]


async def held(
    session: AsyncSession,
    *,
    supervisor_id: int | None = None,
    task_id: int | None = None,
    offer_id: int | None = None,
) -> list[Placement]:
    """The accepted places a supervisor, a task or one offer holds now."""
    query = _accepted()
    if supervisor_id is not None:
        query = query.where(col(Offer.supervisor_id) == supervisor_id)
    if task_id is not None:
        query = query.where(col(Offer.task_id) == task_id)
    if offer_id is not None:
        query = query.where(col(Offer.id) == offer_id)
    return await _run(session, query)


async def all_accepted(session: AsyncSession) -> list[Placement]:
    """Every accepted place, by start date (the `placements export`)."""
    return await _run(session, _accepted())


async def of_slots(session: AsyncSession, slot_ids: list[int]) -> dict[int, list[Placement]]:
    """The accepted places of these slots, by slot id (for /slots and the digest)."""
    if not slot_ids:
        return {}
    query = _accepted().where(col(Offer.slot_id).in_(slot_ids))
    found: dict[int, list[Placement]] = {}
    for placement in await _run(session, query):
        found.setdefault(placement.slot.id or 0, []).append(placement)
    return found


async def still_accepted(session: AsyncSession, offer_ids: list[int]) -> set[int]:
    """Which of these offers are accepted now (after a release: those not given back)."""
    if not offer_ids:
        return set()
    result = await session.execute(
        select(col(Offer.id)).where(
            col(Offer.id).in_(offer_ids), col(Offer.status) == OfferStatus.ACCEPTED
        )
    )
    return {int(i) for i in result.scalars() if i is not None}
