"""Data access for privacy: activity, the retention question, consent again, coordinators'
chat bindings when their scopes are removed.

"Activity" is what a supervisor does in the chat: any message or button press of theirs is
recorded by `touch` (at most one write a day, so most updates only read), and their
registration counts as their first activity. The retention sweep (`bot.services.retention`)
asks those whose last activity is long past, and erases those who let its question go
unanswered.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Final

from sqlalchemy import delete, func, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from storage.models import (
    Conversation,
    Coordinator,
    EmailVerification,
    Invitation,
    OutboxEmail,
    Supervisor,
    Suppression,
)

# Activity is recorded once a day at most: enough for a policy counted in seasons.
TOUCH_EVERY: Final = timedelta(days=1)


async def touch(session: AsyncSession, user_id: int, now: datetime) -> Supervisor | None:
    """A registered supervisor wrote or pressed a button: their chat works (a 403 is over),
    they are active now, and an open retention question is answered "stay" by it. Returns the
    supervisor (None for anyone else)."""
    supervisor = (
        await session.execute(select(Supervisor).where(col(Supervisor.telegram_user_id) == user_id))
    ).scalar_one_or_none()
    if supervisor is None:
        return None
    if touch_due(supervisor, now):
        supervisor.chat_unreachable_at = None
        supervisor.retention_asked_at = None
        supervisor.last_active_at = now
        session.add(supervisor)
    return supervisor


def touch_due(supervisor: Supervisor, now: datetime) -> bool:
    """Whether `touch` would write: every update asks, and on most only a read is needed (a
    write per update would queue every person behind SQLite's one writer)."""
    last = supervisor.last_active_at
    return (
        supervisor.chat_unreachable_at is not None
        or supervisor.retention_asked_at is not None
        or last is None
        or last <= now - TOUCH_EVERY
    )


def _last_activity() -> Any:
    return func.coalesce(col(Supervisor.last_active_at), col(Supervisor.created_at))


async def inactive_unasked(session: AsyncSession, before: datetime) -> list[int]:
    """Supervisors not yet asked whose last activity was before `before`."""
    result = await session.execute(
        select(col(Supervisor.id))
        .where(col(Supervisor.retention_asked_at).is_(None), _last_activity() < before)
        .order_by(col(Supervisor.id))
    )
    return [i for i in result.scalars() if i is not None]


async def mark_asked(
    session: AsyncSession, supervisor_id: int, before: datetime, now: datetime
) -> bool:
    """Record the question, only if still unasked and still inactive (one sweep asks once)."""
    result = await session.execute(
        update(Supervisor)
        .where(
            col(Supervisor.id) == supervisor_id,
            col(Supervisor.retention_asked_at).is_(None),
            _last_activity() < before,
        )
        .values(retention_asked_at=now)
    )
    return bool(getattr(result, "rowcount", 0))


async def unanswered(session: AsyncSession, asked_before: datetime) -> list[int]:
    """The Telegram accounts of supervisors asked before `asked_before` who never answered
    (any activity since clears the question, see `touch`)."""
    result = await session.execute(
        select(col(Supervisor.telegram_user_id))
        .where(col(Supervisor.retention_asked_at) < asked_before)
        .order_by(col(Supervisor.id))
    )
    return list(result.scalars())


async def still_unanswered(session: AsyncSession, user_id: int, asked_before: datetime) -> bool:
    """Checked again just before erasing: they may have written since the sweep looked."""
    found = await session.scalar(
        select(col(Supervisor.id)).where(
            col(Supervisor.telegram_user_id) == user_id,
            col(Supervisor.retention_asked_at) < asked_before,
        )
    )
    return found is not None


async def stay(session: AsyncSession, user_id: int, now: datetime) -> bool:
    """ "Stay": the clock starts again now. False when there was no open question."""
    result = await session.execute(
        update(Supervisor)
        .where(
            col(Supervisor.telegram_user_id) == user_id,
            col(Supervisor.retention_asked_at).is_not(None),
        )
        .values(retention_asked_at=None, last_active_at=now)
    )
    return bool(getattr(result, "rowcount", 0))


# ---- consent again -------------------------------------------------------------------------------


async def hold_update(
    session: AsyncSession, user_id: int, update_data: dict[str, Any] | None
) -> None:
    """Keep the message that met the new consent text, to act on it once they agree (None:
    forget it)."""
    await session.execute(
        update(Supervisor)
        .where(col(Supervisor.telegram_user_id) == user_id)
        .values(held_update=update_data)
    )


async def agree(
    session: AsyncSession, user_id: int, version: str, now: datetime
) -> dict[str, Any] | None:
    """They agreed to `version`: store it and hand back the held message (forgotten here)."""
    supervisor = (
        await session.execute(select(Supervisor).where(col(Supervisor.telegram_user_id) == user_id))
    ).scalar_one_or_none()
    if supervisor is None:
        return None
    held = supervisor.held_update
    supervisor.consent_version, supervisor.consent_at = version, now
    supervisor.held_update = None
    session.add(supervisor)
    return held


# ---- coordinators removed -----------------------------------------------------------------------


# The coordinators' flows (`bot.chat.flows.coordinator`) are named with this prefix.
COORDINATOR_FLOWS: Final = "coord_"


async def forget_coordinator_chats(session: AsyncSession, accounts: set[int]) -> set[int]:
    """After scopes were removed: of these accounts, those left with no scope lose what their
    coordinator chat held (an unfinished coordinator flow). Returns them."""
    gone: set[int] = set()
    for account in accounts:
        left = await session.scalar(
            select(func.count()).where(col(Coordinator.telegram_user_id) == account)
        )
        if not left:
            gone.add(account)
            await session.execute(
                delete(Conversation).where(
                    col(Conversation.telegram_user_id) == account,
                    col(Conversation.flow).startswith(COORDINATOR_FLOWS),
                )
            )
    return gone


# ---- a request by email: what is keyed to an address --------------------------------------------


async def export_address(session: AsyncSession, email: str) -> dict[str, Any]:
    """What is stored under one address beside any account: invitations, the do-not-email
    entry, the emails sent to it (never subject or body), codes sent to it (never the hashes),
    coordinator scopes."""
    address = email.strip().lower()

    async def rows(model: Any, column: Any, include: set[str] | None = None) -> list[Any]:
        found = await session.execute(select(model).where(func.lower(col(column)) == address))
        return [row.model_dump(mode="json", include=include) for row in found.scalars()]

    return {
        "email": address,
        "invitations": await rows(Invitation, Invitation.email),
        "do_not_email": await rows(
            Suppression, Suppression.email, {"email", "reason", "created_at"}
        ),
        "emails": await rows(
            OutboxEmail,
            OutboxEmail.recipient,
            {"kind", "recipient", "status", "created_at", "sent_at"},
        ),
        "email_verifications": await rows(
            EmailVerification,
            EmailVerification.email,
            {"email", "attempts", "created_at", "expires_at", "verified_at"},
        ),
        "coordinator_scopes": await rows(
            Coordinator, Coordinator.email, {"email", "role", "exchange_type", "city", "bound_at"}
        ),
    }


async def erase_address(session: AsyncSession, email: str) -> tuple[dict[str, int], list[str]]:
    """Erase what is keyed to an address beside any account (invitations, emails, codes);
    returns the counts and the mail files to remove. The do-not-email entry stays (it is what
    keeps the address from being emailed again), and so do coordinator scopes (the
    association's officers: `coordinators remove`)."""
    address = email.strip().lower()
    files = await session.execute(
        select(col(OutboxEmail.stored_as)).where(func.lower(col(OutboxEmail.recipient)) == address)
    )
    stored = [path for path in files.scalars() if path]
    counts: dict[str, int] = {}
    for name, model, column in (
        ("emails", OutboxEmail, OutboxEmail.recipient),
        ("verifications", EmailVerification, EmailVerification.email),
        ("invitations", Invitation, Invitation.email),
    ):
        result = await session.execute(delete(model).where(func.lower(col(column)) == address))
        counts[name] = int(getattr(result, "rowcount", 0) or 0)
    return counts, stored
