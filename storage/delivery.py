"""Data access for telling coordinators about undelivered email (`services.delivery`): who an email
was for, and which bound coordinators are responsible for them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import func
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from storage.coordinators import NATIONAL, covers
from storage.models import Coordinator, Invitation, OutboxEmail, Supervisor


@dataclass(frozen=True)
class Addressee:
    """Who an undelivered email was for: a supervisor, someone invited, a coordinator."""

    name: str
    supervisor: Supervisor | None = None
    invitation: Invitation | None = None
    coordinator: bool = False


async def bound_coordinators(session: AsyncSession) -> list[Coordinator]:
    result = await session.execute(
        select(Coordinator)
        .where(col(Coordinator.chat_id).is_not(None))
        .order_by(col(Coordinator.id))
    )
    return list(result.scalars())


async def addressee(session: AsyncSession, email: OutboxEmail) -> Addressee:
    address = email.recipient.lower()
    supervisor = None
    if email.telegram_user_id is not None:
        supervisor = await session.scalar(
            select(Supervisor).where(col(Supervisor.telegram_user_id) == email.telegram_user_id)
        )
    if supervisor is None:
        supervisor = await session.scalar(
            select(Supervisor).where(func.lower(col(Supervisor.email)) == address).limit(1)
        )
    if supervisor is not None:
        return Addressee(supervisor.name, supervisor=supervisor)
    invitation = await session.scalar(
        select(Invitation).where(func.lower(col(Invitation.email)) == address).limit(1)
    )
    if invitation is not None:
        return Addressee(invitation.name, invitation=invitation)
    coordinator = await session.scalar(
        select(col(Coordinator.id)).where(func.lower(col(Coordinator.email)) == address).limit(1)
    )
    return Addressee(email.recipient, coordinator=coordinator is not None)


def responsible(
    coordinators: Sequence[Coordinator], who: Addressee, recipient: str
) -> list[Coordinator]:
    """The bound coordinators to tell: those whose scope covers the supervisor (or the invited
    person's city), a coordinator themselves, and the national coordinators when nobody local
    is responsible or the address is a coordinator's; with no national one bound, every bound
    coordinator (a failure must reach someone). Pure."""
    national = [c for c in coordinators if c.city == NATIONAL]
    found: list[Coordinator] = []
    if who.supervisor is not None:
        found = [
            c
            for c in coordinators
            if any(covers(c, kind, who.supervisor.city) for kind in who.supervisor.exchange_types)
        ]
    elif who.invitation is not None and who.invitation.city:
        found = [c for c in coordinators if c.city in (who.invitation.city, NATIONAL)]
    elif who.coordinator:
        found = [c for c in coordinators if c.email.lower() == recipient.lower()] + national
    return found or national or list(coordinators)
