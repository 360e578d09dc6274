"""Who could be asked for a slot: the candidates `bot.domain.matching.rank` chooses from.

Three queries per slot, whatever the number of tasks: the approved tasks of its type and city
that could take it, their supervisors' recent asks, and the offers that make a task busy or a
month declined.
"""

from __future__ import annotations

import asyncio
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import String, cast, func, or_
from sqlalchemy import select as sa_select  # sqlmodel's select takes at most four columns
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from bot.domain.matching import Candidate, SlotView
from bot.domain.season import months_touched
from storage.models import Offer, OfferStatus, Slot, Supervisor, SupervisorStatus, Task, TaskStatus
from storage.streams import PART, rows_in_parts

RECENT_ASKS = timedelta(days=90)


def view_of(slot: Slot) -> SlotView:
    return SlotView(
        slot_id=slot.id or 0,
        exchange_type=slot.exchange_type,
        city=slot.city,
        start_date=slot.start_date,
        weeks=slot.weeks,
        open_places=max(slot.places - slot.filled, 0),
        field_preference=slot.field_preference,
    )


def _overlap(a: date, a_weeks: int, b: date, b_weeks: int) -> bool:
    return a < b + timedelta(weeks=b_weeks) and b < a + timedelta(weeks=a_weeks)


def _active(
    status: SupervisorStatus, until: datetime | None, start: date, now: datetime, tz: ZoneInfo
) -> bool:
    """Active now and on the slot's start. A pause is `paused_until` in the future (whatever
    the status says), or status paused with no end date ("not this season")."""
    if status == SupervisorStatus.LEFT:
        return False
    if until is None:
        return status != SupervisorStatus.PAUSED
    return until <= now and until.astimezone(tz).date() <= start


async def candidates_for(
    session: AsyncSession, slot: Slot, now: datetime, tz: ZoneInfo
) -> list[Candidate]:
    """The views `domain.matching.rank` needs, for the approved tasks of the slot's type and city.

    `busy` counts the task's accepted offers and its offers still awaiting an answer whose stay
    overlaps this slot: a task with one student at a time is not asked twice for the same weeks,
    so it can never accept more than it can take. `already_offered` is per supervisor: someone
    who declined this slot is not asked again for it through another of their tasks.

    Only the columns the views need are read (never whole tasks and supervisors), in parts that
    let other work run between them (`storage.streams`), and only tasks that could pass the hard
    rules on the columns SQL can check (the slot's weeks, each of its months in the task's,
    a verified supervisor who has not left): at 100,000 supervisors the slot's city and type
    alone leave tens of thousands. The other offers are found through the same filter as a
    subquery, not a list of ids.
    """
    needed = months_touched(slot.start_date, slot.weeks)
    in_pool = (
        col(Task.exchange_type) == slot.exchange_type,
        col(Task.city) == slot.city,
        col(Task.status) == TaskStatus.APPROVED,
        col(Task.weeks) == slot.weeks,
        *(cast(col(Task.months), String).like(f'%"{month}"%') for month in needed),
    )
    rows = await rows_in_parts(
        session,
        sa_select(
            col(Task.id),
            col(Task.supervisor_id),
            col(Task.months),
            col(Task.capacity),
            col(Task.field),
            col(Supervisor.status),
            col(Supervisor.paused_until),
        )
        .join(Supervisor, col(Supervisor.id) == col(Task.supervisor_id))
        .where(
            *in_pool,
            col(Supervisor.email_verified_at).is_not(None),
            col(Supervisor.status) != SupervisorStatus.LEFT,
        ),
    )
    if not rows:
        return []
    pool = sa_select(col(Task.id)).where(*in_pool)
    asks = dict(
        (
            await session.execute(
                select(col(Offer.supervisor_id), func.count())
                .where(
                    col(Offer.supervisor_id).in_(
                        sa_select(col(Task.supervisor_id)).where(*in_pool)
                    ),
                    col(Offer.created_at) >= now - RECENT_ASKS,
                )
                .group_by(col(Offer.supervisor_id))
            )
        ).all()
    )
    history = await rows_in_parts(
        session,
        sa_select(
            col(Offer.task_id),
            col(Offer.supervisor_id),
            col(Offer.slot_id),
            col(Offer.status),
            col(Offer.reply_by),
            col(Offer.not_this_month),
            col(Slot.start_date),
            col(Slot.weeks),
        )
        .join(Slot, col(Slot.id) == col(Offer.slot_id))
        .where(
            col(Offer.task_id).in_(pool),
            or_(
                col(Offer.slot_id) == slot.id,
                col(Offer.status).in_([OfferStatus.ACCEPTED, OfferStatus.SENT]),
                col(Offer.not_this_month).is_(True),
            ),
        ),
    )
    today = now.astimezone(tz).date()
    busy: dict[int, int] = {}
    asked: set[int] = set()  # supervisors already asked for this slot (through any task)
    declined: dict[int, set[str]] = {}
    for task_id, supervisor_id, slot_id, status, reply_by, not_this_month, start, weeks in history:
        if slot_id == slot.id:
            if status != OfferStatus.CANCELLED:
                asked.add(supervisor_id)
            continue
        waiting = status == OfferStatus.SENT and reply_by >= today
        if (status == OfferStatus.ACCEPTED or waiting) and _overlap(
            start, weeks, slot.start_date, slot.weeks
        ):
            busy[task_id] = busy.get(task_id, 0) + 1
        if not_this_month:
            declined.setdefault(task_id, set()).update(months_touched(start, weeks))
    found: list[Candidate] = []
    for n, (tid, sid, months, capacity, field, state, paused_until) in enumerate(rows, 1):
        found.append(
            Candidate(
                task_id=tid or 0,
                supervisor_id=sid,
                exchange_type=slot.exchange_type,
                city=slot.city,
                weeks=slot.weeks,
                months=tuple(months),
                capacity=capacity,
                busy=busy.get(tid or 0, 0),
                field=field,
                supervisor_active=_active(state, paused_until, slot.start_date, now, tz),
                verified=True,
                task_approved=True,
                recent_asks=asks.get(sid, 0),
                already_offered=sid in asked,
                declined_months=tuple(sorted(declined.get(tid or 0, ()))),
            )
        )
        if n % PART == 0:
            await asyncio.sleep(0)  # tens of thousands of views: let chats in between
    return found
