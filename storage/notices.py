"""Pending coordinator notices (supervisors' declines) and when each chat last got one.

Rows name offers and coordinators by id only, so erasing a supervisor (their offers cascade)
or removing a coordinator leaves nothing behind. Sent rows are kept an hour, as the memory of
when that chat was last told (`bot.services.answer_notices.BUNDLE_WINDOW`), then purged.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import delete, func, update
from sqlalchemy import select as sa_select  # sqlmodel's select takes at most four entities
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from storage.coordinators import coordinators_for
from storage.models import Coordinator, CoordinatorNotice, Offer, Slot, Supervisor, Task


@dataclass(frozen=True)
class Line:
    """One pending notice, with what is needed to say it."""

    notice_ids: list[int]  # one per scope of the chat that covers the slot
    kind: str
    created_at: datetime
    offer: Offer
    slot: Slot
    task: Task
    supervisor: Supervisor


@dataclass
class ChatPending:
    """What one coordinator's chat has waiting, and when it was last sent a bundle."""

    chat_id: int
    user_id: int
    language: str
    last_sent: datetime | None = None
    lines: list[Line] = field(default_factory=list)

    @property
    def oldest(self) -> datetime | None:
        return min((line.created_at for line in self.lines), default=None)


async def record(session: AsyncSession, offer_id: int, slot: Slot, kind: str, now: datetime) -> int:
    """One pending notice per bound coordinator of the slot's scope; returns how many."""
    made = 0
    for coordinator in await coordinators_for(session, slot.exchange_type, slot.city):
        if coordinator.chat_id is None or coordinator.telegram_user_id is None:
            continue
        session.add(
            CoordinatorNotice(
                coordinator_id=coordinator.id or 0, offer_id=offer_id, kind=kind, created_at=now
            )
        )
        made += 1
    await session.flush()
    return made


async def pending(session: AsyncSession) -> list[ChatPending]:
    """Every chat with unsent notices, each notice once even when two scopes cover it."""
    rows = (
        await session.execute(
            sa_select(CoordinatorNotice, Coordinator, Offer, Slot, Task, Supervisor)
            .join(Coordinator, col(Coordinator.id) == col(CoordinatorNotice.coordinator_id))
            .join(Offer, col(Offer.id) == col(CoordinatorNotice.offer_id))
            .join(Slot, col(Slot.id) == col(Offer.slot_id))
            .join(Task, col(Task.id) == col(Offer.task_id))
            .join(Supervisor, col(Supervisor.id) == col(Offer.supervisor_id))
            .where(col(CoordinatorNotice.sent_at).is_(None), col(Coordinator.chat_id).is_not(None))
            .order_by(col(CoordinatorNotice.id))
            .execution_options(populate_existing=True)
        )
    ).all()
    chats: dict[int, ChatPending] = {}
    seen: dict[tuple[int, int], Line] = {}
    for notice, coordinator, offer, slot, task, supervisor in rows:
        chat_id = int(coordinator.chat_id or 0)
        chat = chats.setdefault(
            chat_id,
            ChatPending(chat_id, int(coordinator.telegram_user_id or 0), coordinator.language),
        )
        key = (chat_id, offer.id or 0)
        if key in seen:
            seen[key].notice_ids.append(notice.id or 0)
            continue
        seen[key] = Line(
            [notice.id or 0], notice.kind, notice.created_at, offer, slot, task, supervisor
        )
        chat.lines.append(seen[key])
    if chats:
        last = await session.execute(
            select(col(Coordinator.chat_id), func.max(col(CoordinatorNotice.sent_at)))
            .join(Coordinator, col(Coordinator.id) == col(CoordinatorNotice.coordinator_id))
            .where(col(Coordinator.chat_id).in_(list(chats)))
            .group_by(col(Coordinator.chat_id))
        )
        for their_chat, sent in last.all():
            chats[int(their_chat or 0)].last_sent = sent
    return list(chats.values())


async def claim(session: AsyncSession, notice_ids: Sequence[int], now: datetime) -> set[int]:
    """Mark these notices sent before sending them, so two processes never send one twice;
    returns the ids this call marked (the others were taken already)."""
    claimed: set[int] = set()
    for notice_id in notice_ids:
        result = await session.execute(
            update(CoordinatorNotice)
            .where(col(CoordinatorNotice.id) == notice_id, col(CoordinatorNotice.sent_at).is_(None))
            .values(sent_at=now)
            .execution_options(synchronize_session=False)
        )
        if int(getattr(result, "rowcount", 0) or 0) == 1:
            claimed.add(notice_id)
    return claimed


async def purge_sent(session: AsyncSession, before: datetime) -> None:
    await session.execute(
        delete(CoordinatorNotice).where(
            col(CoordinatorNotice.sent_at).is_not(None), col(CoordinatorNotice.sent_at) < before
        )
    )
