"""Bringing supervisors back: invitations, the suppression list and the pre-season check.

Data access only; every function takes the caller's session (the caller owns the transaction).
Addresses are compared without regard to case, here and in the unique keys: invitations and
suppressions are stored in lower case.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from sqlalchemy import exists, func, insert, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from storage import atomic
from storage.models import (
    Invitation,
    SeasonCheck,
    Supervisor,
    SupervisorStatus,
    Suppression,
    Task,
    TaskStatus,
)

# ---- invitations and the suppression list -------------------------------------------------------


async def get_invitation(session: AsyncSession, invitation_id: int) -> Invitation | None:
    return await session.get(Invitation, invitation_id)


async def invitation_for(session: AsyncSession, email: str) -> Invitation | None:
    result = await session.execute(
        select(Invitation).where(func.lower(col(Invitation.email)) == email.lower())
    )
    return result.scalars().first()


async def add_invitation(
    session: AsyncSession,
    *,
    email: str,
    name: str,
    field: str | None,
    city: str | None,
    now: datetime,
) -> Invitation:
    invitation = Invitation(
        email=email.lower(), name=name, field=field, city=city, created_at=now, sent_at=now
    )
    session.add(invitation)
    await session.flush()
    return invitation


async def is_suppressed(session: AsyncSession, email: str) -> bool:
    found = await session.scalar(
        select(col(Suppression.id)).where(func.lower(col(Suppression.email)) == email.lower())
    )
    return found is not None


async def is_registered(session: AsyncSession, email: str) -> bool:
    found = await session.scalar(
        select(col(Supervisor.id)).where(func.lower(col(Supervisor.email)) == email.lower())
    )
    return found is not None


async def suppress(session: AsyncSession, email: str, reason: str, now: datetime) -> bool:
    """Put an address on the list (once; an existing entry keeps its reason). True if added.
    The database decides (a unique index on lower(email)), so a racing entry is never doubled."""
    return await atomic.insert_new(
        session,
        Suppression.__table__,  # type: ignore[attr-defined]
        {"email": email.lower(), "reason": reason, "detail": None, "created_at": now},
    )


async def unsuppress(session: AsyncSession, email: str, reason: str) -> None:
    """Take an address off the list, only if it is there for `reason` (a changed mind)."""
    result = await session.execute(
        select(Suppression).where(
            func.lower(col(Suppression.email)) == email.lower(),
            col(Suppression.reason) == reason,
        )
    )
    for row in result.scalars():
        await session.delete(row)


async def suppressions(session: AsyncSession) -> list[Suppression]:
    """The whole list, newest first (`python -m bot suppressions list`)."""
    result = await session.execute(
        select(Suppression).order_by(col(Suppression.created_at).desc(), col(Suppression.id))
    )
    return list(result.scalars())


async def suppression_for(session: AsyncSession, email: str) -> Suppression | None:
    result = await session.execute(
        select(Suppression).where(func.lower(col(Suppression.email)) == email.strip().lower())
    )
    return result.scalars().first()


# ---- the season check ---------------------------------------------------------------------------


async def season_candidates(
    session: AsyncSession, season: int, season_start: datetime, limit: int | None = None
) -> list[Supervisor]:
    """Who to ask before `season`: not left, not unsubscribed, not paused beyond the season's
    start, with a task (not withdrawn) in an earlier season, none yet in this one, not yet asked.
    The first `limit` of them by id (the sweep asks a batch per run).
    """
    earlier = exists().where(
        col(Task.supervisor_id) == col(Supervisor.id),
        col(Task.season) < season,
        col(Task.status) != TaskStatus.WITHDRAWN,
    )
    already = exists().where(
        col(Task.supervisor_id) == col(Supervisor.id), col(Task.season) == season
    )
    asked = exists().where(
        col(SeasonCheck.supervisor_id) == col(Supervisor.id), col(SeasonCheck.season) == season
    )
    not_paused = (
        (col(Supervisor.status) == SupervisorStatus.ACTIVE) & col(Supervisor.paused_until).is_(None)
    ) | (col(Supervisor.paused_until) <= season_start)
    result = await session.execute(
        select(Supervisor)
        .where(
            col(Supervisor.status) != SupervisorStatus.LEFT,
            col(Supervisor.unsubscribed_at).is_(None),
            not_paused,
            earlier,
            ~already,
            ~asked,
        )
        .order_by(col(Supervisor.id))
        .limit(limit)
    )
    return list(result.scalars())


async def last_season_tasks_of(
    session: AsyncSession, supervisor_ids: Collection[int], season: int
) -> dict[int, list[Task]]:
    """`last_season_tasks` for a batch of supervisors in one query: every earlier task (not
    withdrawn) of theirs is read, and only those of each one's latest season kept."""
    if not supervisor_ids:
        return {}
    result = await session.execute(
        select(Task)
        .where(
            col(Task.supervisor_id).in_(list(supervisor_ids)),
            col(Task.season) < season,
            col(Task.status) != TaskStatus.WITHDRAWN,
        )
        .order_by(col(Task.supervisor_id), col(Task.id))
    )
    earlier: dict[int, list[Task]] = {}
    for task in result.scalars():
        earlier.setdefault(task.supervisor_id, []).append(task)
    latest = {sid: max(t.season for t in found) for sid, found in earlier.items()}
    return {sid: [t for t in found if t.season == latest[sid]] for sid, found in earlier.items()}


async def add_season_checks(
    session: AsyncSession, supervisor_ids: Collection[int], season: int, now: datetime
) -> None:
    """Record the question for a batch in one statement; raises IntegrityError if another
    process asked one of them first (the whole batch then waits for the next run)."""
    if supervisor_ids:
        await session.execute(
            insert(SeasonCheck),
            [{"supervisor_id": sid, "season": season, "asked_at": now} for sid in supervisor_ids],
        )


async def last_season_tasks(session: AsyncSession, supervisor_id: int, season: int) -> list[Task]:
    """The supervisor's tasks (not withdrawn) of their latest season before `season`."""
    latest = await session.scalar(
        select(func.max(col(Task.season))).where(
            col(Task.supervisor_id) == supervisor_id,
            col(Task.season) < season,
            col(Task.status) != TaskStatus.WITHDRAWN,
        )
    )
    if latest is None:
        return []
    result = await session.execute(
        select(Task)
        .where(
            col(Task.supervisor_id) == supervisor_id,
            col(Task.season) == latest,
            col(Task.status) != TaskStatus.WITHDRAWN,
        )
        .order_by(col(Task.id))
    )
    return list(result.scalars())


async def has_tasks_in(session: AsyncSession, supervisor_id: int, season: int) -> bool:
    found = await session.scalar(
        select(col(Task.id)).where(
            col(Task.supervisor_id) == supervisor_id, col(Task.season) == season
        )
    )
    return found is not None


async def get_season_check(
    session: AsyncSession, supervisor_id: int, season: int
) -> SeasonCheck | None:
    result = await session.execute(
        select(SeasonCheck).where(
            col(SeasonCheck.supervisor_id) == supervisor_id, col(SeasonCheck.season) == season
        )
    )
    return result.scalar_one_or_none()


async def add_season_check(
    session: AsyncSession, supervisor_id: int, season: int, now: datetime
) -> SeasonCheck:
    """Record the question; raises IntegrityError if another process asked first."""
    check = SeasonCheck(supervisor_id=supervisor_id, season=season, asked_at=now)
    session.add(check)
    await session.flush()
    return check


async def answer_season_check(
    session: AsyncSession, check_id: int, answer: str, now: datetime
) -> bool:
    """Record the first answer only: True for the press that answered, False for any later one."""
    result = await session.execute(
        update(SeasonCheck)
        .where(col(SeasonCheck.id) == check_id, col(SeasonCheck.answer).is_(None))
        .values(answer=answer, answered_at=now)
    )
    return bool(getattr(result, "rowcount", 0))  # a CursorResult for DML


async def set_chat_reachable(
    session: AsyncSession, supervisor_id: int, reachable: bool, now: datetime
) -> None:
    """Telegram said 403 (they blocked the bot), or a message went through again."""
    await session.execute(
        update(Supervisor)
        .where(col(Supervisor.id) == supervisor_id)
        .values(chat_unreachable_at=None if reachable else now)
    )
