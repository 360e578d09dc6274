"""The inbox: every Telegram update is written here before Telegram is told it arrived.

Telegram keeps an update until a `getUpdates` call passes an offset beyond it, and the bot only
passes that offset once the update is committed here, so a crash at any moment leaves each
update either still at Telegram (it comes again) or in this table (it is processed from here).
A copy that comes again is dropped on insert (`ON CONFLICT DO NOTHING` on the update id); the
processing of one that was taken but not finished (`done_at` empty) starts again. See
`bot.chat.inbox` for the loop.

Update ids are compared for equality only, never ordered across batches: Telegram may start
again at a random id after a week without updates. Rows not done are ordered by the time they
were stored, and by id only within one batch (see `pending`).

The rows hold what people wrote, so done rows are purged after a few minutes (`purge_done`), once
Telegram can no longer deliver them again; /mydata counts a person's rows, /delete erases them.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from storage.models import InboxUpdate


@dataclass(frozen=True)
class Received:
    """One update as `getUpdates` returned it."""

    update_id: int
    telegram_user_id: int | None
    payload: dict[str, Any]


async def store(session: AsyncSession, batch: Sequence[Received], now: datetime) -> None:
    """Keep the updates not already kept (a copy delivered again is ignored, done or not)."""
    if not batch:
        return
    dialect = session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    await session.execute(
        insert(InboxUpdate)
        .values(
            [
                {
                    "update_id": item.update_id,
                    "telegram_user_id": item.telegram_user_id,
                    "payload": item.payload,
                    "received_at": now,
                    "done_at": None,
                }
                for item in batch
            ]
        )
        .on_conflict_do_nothing(index_elements=["update_id"])
    )


async def pending(
    session: AsyncSession, update_ids: Collection[int] | None = None
) -> list[InboxUpdate]:
    """Updates kept but not yet done (of `update_ids`, when given), in the order they came:
    by the time they were stored, then by id (ids rise within a batch; a new run of ids after a
    quiet week comes in a later batch)."""
    query = select(InboxUpdate).where(col(InboxUpdate.done_at).is_(None))
    if update_ids is not None:
        query = query.where(col(InboxUpdate.update_id).in_(sorted(update_ids)))
    result = await session.execute(
        query.order_by(col(InboxUpdate.received_at), col(InboxUpdate.update_id)).execution_options(
            populate_existing=True
        )
    )
    return list(result.scalars())


async def mark_done(session: AsyncSession, update_id: int, now: datetime) -> bool:
    """The update was processed. False when its row is gone (erased by /delete meanwhile)."""
    result = await session.execute(
        update(InboxUpdate)
        .where(col(InboxUpdate.update_id) == update_id, col(InboxUpdate.done_at).is_(None))
        .values(done_at=now)
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(result, "rowcount", 0))


async def mark_answered(session: AsyncSession, update_id: int, now: datetime) -> None:
    """The update's button press is about to be answered: processed again, it is not answered
    again (`bot.chat.inbox.AnswerGate`)."""
    await session.execute(
        update(InboxUpdate)
        .where(col(InboxUpdate.update_id) == update_id, col(InboxUpdate.answered_at).is_(None))
        .values(answered_at=now)
        .execution_options(synchronize_session=False)
    )


async def purge_done(session: AsyncSession, done_before: datetime) -> int:
    """Forget updates done before `done_before` (the caller knows Telegram will not send them
    again: a later offset confirmed them, or they are older than Telegram keeps updates)."""
    result = await session.execute(
        delete(InboxUpdate).where(
            col(InboxUpdate.done_at).is_not(None), col(InboxUpdate.done_at) < done_before
        )
    )
    return int(getattr(result, "rowcount", 0) or 0)


async def count_of(session: AsyncSession, user_id: int) -> int:
    """How many of this person's updates are still kept (for /mydata)."""
    found = await session.scalar(
        select(func.count())
        .select_from(InboxUpdate)
        .where(col(InboxUpdate.telegram_user_id) == user_id)
    )
    return int(found or 0)


async def erase_of(session: AsyncSession, user_id: int) -> None:
    """Erase this person's updates that are done.

    The ones not done yet (the /delete being handled, and whatever they sent after it) stay until
    they are processed, so that a crash in between neither loses them nor leaves them unanswered;
    they are purged with the other done rows minutes later."""
    await session.execute(
        delete(InboxUpdate).where(
            col(InboxUpdate.telegram_user_id) == user_id, col(InboxUpdate.done_at).is_not(None)
        )
    )
