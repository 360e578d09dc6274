"""Coordinators and what they review: data access only, every function takes the caller's session.

A coordinator row is one scope (an exchange type and a city, or the whole country) held by one
person. The invitation token is never stored: only its keyed hash, cleared when it is used.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from typing import Final

from sqlalchemy import ColumnElement, and_, delete, false, func, or_, true, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped
from sqlmodel import col, select

from bot.domain.signing import hash_secret, is_token
from storage import privacy
from storage.models import Coordinator, Slot, Supervisor, Task, TaskStatus
from storage.streams import scalars_in_parts

NATIONAL: Final = "national"
INVITE_VALIDITY: Final = timedelta(days=30)
MAX_WEEKS: Final = 8  # the longest stay (research)


def covers(coordinator: Coordinator, exchange_type: str, city: str) -> bool:
    """Whether this coordinator's scope includes a task or slot of that type in that city."""
    return coordinator.exchange_type == exchange_type and coordinator.city in (city, NATIONAL)


def _invite_hash(secret: bytes, token: str) -> str:
    return hash_secret(secret, f"coordinator:{token}")


def in_scopes(
    scopes: Sequence[Coordinator], exchange_type: Mapped[str], city: Mapped[str]
) -> ColumnElement[bool]:
    """SQL for "covered by one of these scopes" (false when there are none); see `covers`."""
    clauses = [
        and_(
            exchange_type == scope.exchange_type,
            true() if scope.city == NATIONAL else city == scope.city,
        )
        for scope in scopes
    ]
    return or_(false(), *clauses)


# ---- the register ---------------------------------------------------------------------------


async def find_coordinator(
    session: AsyncSession, *, email: str, role: str, exchange_type: str, city: str
) -> Coordinator | None:
    result = await session.execute(
        select(Coordinator).where(
            func.lower(col(Coordinator.email)) == email.lower(),
            col(Coordinator.role) == role,
            col(Coordinator.exchange_type) == exchange_type,
            col(Coordinator.city) == city,
        )
    )
    return result.scalar_one_or_none()


async def add_coordinator(
    session: AsyncSession,
    *,
    email: str,
    role: str,
    exchange_type: str,
    city: str,
    language: str,
    now: datetime,
    secret: bytes,
) -> tuple[Coordinator, str]:
    """Add a scope for a person, or invite again to one they hold; returns (row, invite token).

    Inviting again replaces the earlier invitation (its link stops working). An existing binding
    stays until the new link is used, so a coordinator who changed phone simply taps the new one.
    """
    token = secrets.token_urlsafe(24)
    coordinator = await find_coordinator(
        session, email=email, role=role, exchange_type=exchange_type, city=city
    )
    if coordinator is None:
        coordinator = Coordinator(
            email=email, role=role, exchange_type=exchange_type, city=city, invited_at=now
        )
    coordinator.language = language
    coordinator.invite_hash = _invite_hash(secret, token)
    coordinator.invited_at = now
    session.add(coordinator)
    await session.flush()
    return coordinator, token


async def list_coordinators(session: AsyncSession) -> list[Coordinator]:
    result = await session.execute(
        select(Coordinator).order_by(
            col(Coordinator.exchange_type),
            col(Coordinator.city),
            col(Coordinator.role),
            col(Coordinator.email),
        )
    )
    return list(result.scalars())


async def remove_coordinator(
    session: AsyncSession,
    email: str,
    role: str | None = None,
    exchange_type: str | None = None,
    city: str | None = None,
) -> int:
    """Remove a person's scopes (all of them, or those matching the filters); returns how many.

    The Telegram account bound to them is bound to nothing then: once it holds no scope, its
    chat answers as anyone's, and an unfinished coordinator flow is dropped
    (`storage.privacy.forget_coordinator_chats`); their pending notices go by cascade."""
    conditions = [func.lower(col(Coordinator.email)) == email.lower()]
    if role is not None:
        conditions.append(col(Coordinator.role) == role)
    if exchange_type is not None:
        conditions.append(col(Coordinator.exchange_type) == exchange_type)
    if city is not None:
        conditions.append(col(Coordinator.city) == city)
    bound = await session.execute(
        select(col(Coordinator.telegram_user_id)).where(
            *conditions, col(Coordinator.telegram_user_id).is_not(None)
        )
    )
    accounts = {account for account in bound.scalars() if account is not None}
    result = await session.execute(delete(Coordinator).where(*conditions))
    await privacy.forget_coordinator_chats(session, accounts)
    return int(getattr(result, "rowcount", 0) or 0)  # a CursorResult for DML


async def bind_by_token(
    session: AsyncSession,
    secret: bytes,
    token: str,
    telegram_user_id: int,
    chat_id: int,
    now: datetime,
) -> Coordinator | None:
    """Bind the Telegram account that opened an invitation link; None if the link is not valid.

    The link works once and for `INVITE_VALIDITY`. It proves the person reads that mailbox, so
    the same person's other scopes that still wait for a binding are bound with it.
    """
    if not is_token(token):
        return None
    bound = {"telegram_user_id": telegram_user_id, "chat_id": chat_id, "bound_at": now}
    # One conditional UPDATE takes the link: of two accounts opening it at once (a forwarded
    # invitation), the second finds it used and binds nothing.
    taken = await session.execute(
        update(Coordinator)
        .where(
            col(Coordinator.invite_hash) == _invite_hash(secret, token),
            col(Coordinator.invited_at) > now - INVITE_VALIDITY,
        )
        .values(invite_hash=None, **bound)
        .returning(col(Coordinator.id), col(Coordinator.email))
        .execution_options(synchronize_session=False)
    )
    won = taken.first()
    if won is None:
        return None
    coordinator_id, email = won
    await session.execute(
        update(Coordinator)
        .where(
            func.lower(col(Coordinator.email)) == email.lower(),
            col(Coordinator.telegram_user_id).is_(None),
        )
        .values(invite_hash=None, **bound)
        .execution_options(synchronize_session=False)
    )
    return await session.get(Coordinator, coordinator_id, populate_existing=True)


async def coordinators_of_user(session: AsyncSession, telegram_user_id: int) -> list[Coordinator]:
    """Every scope this Telegram account is bound to (one person may hold several)."""
    result = await session.execute(
        select(Coordinator)
        .where(col(Coordinator.telegram_user_id) == telegram_user_id)
        .order_by(col(Coordinator.id))
    )
    return list(result.scalars())


async def coordinators_for(
    session: AsyncSession, exchange_type: str, city: str
) -> list[Coordinator]:
    """The bound coordinators whose scope covers that type and city (to tell them something)."""
    result = await session.execute(
        select(Coordinator)
        .where(
            col(Coordinator.telegram_user_id).is_not(None),
            col(Coordinator.exchange_type) == exchange_type,
            or_(col(Coordinator.city) == city, col(Coordinator.city) == NATIONAL),
        )
        .order_by(col(Coordinator.id))
    )
    return list(result.scalars())


# ---- review of submitted tasks -------------------------------------------------------------


async def pending_tasks(
    session: AsyncSession, scopes: Sequence[Coordinator]
) -> list[tuple[Task, Supervisor]]:
    """Submitted tasks in any of these scopes, oldest submission first, with their supervisor."""
    if not scopes:
        return []
    result = await session.execute(
        select(Task, Supervisor)
        .join(Supervisor, col(Supervisor.id) == col(Task.supervisor_id))
        .where(
            col(Task.status) == TaskStatus.SUBMITTED,
            in_scopes(scopes, col(Task.exchange_type), col(Task.city)),
        )
        .order_by(col(Task.submitted_at), col(Task.id))
    )
    return [(task, supervisor) for task, supervisor in result.all()]


async def task_with_supervisor(
    session: AsyncSession, task_id: int
) -> tuple[Task, Supervisor] | None:
    result = await session.execute(
        select(Task, Supervisor)
        .join(Supervisor, col(Supervisor.id) == col(Task.supervisor_id))
        .where(col(Task.id) == task_id)
    )
    row = result.one_or_none()
    return (row[0], row[1]) if row is not None else None


async def review_task(
    session: AsyncSession,
    task_id: int,
    *,
    status: TaskStatus,
    reviewer_id: int,
    now: datetime,
    reason: str | None = None,
    part: str | None = None,
    updated_at: datetime | None = None,
) -> bool:
    """Approve or return a task that is still submitted (and, given `updated_at`, unchanged since
    the reviewer saw it). False when it no longer is (a stale press, another coordinator was
    first, an edit in between): a conditional update, so two reviewers never both win."""
    if status not in (TaskStatus.APPROVED, TaskStatus.RETURNED):
        raise ValueError(f"a review approves or returns, not {status}")
    result = await session.execute(
        update(Task)
        .where(
            col(Task.id) == task_id,
            col(Task.status) == TaskStatus.SUBMITTED,
            col(Task.updated_at) == updated_at if updated_at is not None else true(),
        )
        .values(
            status=status,
            return_reason=reason if status == TaskStatus.RETURNED else None,
            return_part=part if status == TaskStatus.RETURNED else None,
            reviewed_by=reviewer_id,
            reviewed_at=now,
            updated_at=now,
        )
    )
    return bool(getattr(result, "rowcount", 0))


async def supervisors_by_id(session: AsyncSession, ids: set[int]) -> dict[int, Supervisor]:
    if not ids:
        return {}
    result = await session.execute(select(Supervisor).where(col(Supervisor.id).in_(ids)))
    return {supervisor.id or 0: supervisor for supervisor in result.scalars()}


# ---- slots in a coordinator's scope --------------------------------------------------------


async def slots_in_scopes(
    session: AsyncSession, scopes: Sequence[Coordinator], *, ending_after: date
) -> list[Slot]:
    """Slots of these scopes whose stay has not ended by `ending_after`, by start date (read in
    parts: a national scope may have thousands, `storage.streams`)."""
    if not scopes:
        return []
    found = await scalars_in_parts(
        session,
        select(Slot)
        .where(
            in_scopes(scopes, col(Slot.exchange_type), col(Slot.city)),
            col(Slot.start_date) > ending_after - timedelta(weeks=MAX_WEEKS),
        )
        .order_by(col(Slot.start_date), col(Slot.reference))
        .execution_options(populate_existing=True),
    )
    return [slot for slot in found if slot.start_date + timedelta(weeks=slot.weeks) > ending_after]


async def slot_by_reference(session: AsyncSession, reference: str) -> Slot | None:
    """The slot with this reference, also when typed in another case (if that is unambiguous)."""
    exact = await session.execute(select(Slot).where(col(Slot.reference) == reference))
    slot = exact.scalar_one_or_none()
    if slot is not None:
        return slot
    folded = await session.execute(
        select(Slot).where(func.lower(col(Slot.reference)) == reference.lower()).limit(2)
    )
    matches = list(folded.scalars())
    return matches[0] if len(matches) == 1 else None


async def unbind_user(session: AsyncSession, telegram_user_id: int) -> int:
    """Forget which Telegram account holds coordinator scopes (for /delete); the scopes stay,
    so the person can be invited again. Returns how many scopes were bound."""
    result = await session.execute(
        update(Coordinator)
        .where(col(Coordinator.telegram_user_id) == telegram_user_id)
        .values(telegram_user_id=None, chat_id=None, bound_at=None)
    )
    return int(getattr(result, "rowcount", 0) or 0)
