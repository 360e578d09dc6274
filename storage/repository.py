"""Data access. Every function takes the caller's session: the caller owns the transaction."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, or_, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import flag_modified
from sqlmodel import col, select

from storage.models import (
    Conversation,
    Coordinator,
    EmailVerification,
    Invitation,
    Offer,
    OutboxEmail,
    OutboxStatus,
    Question,
    SeasonCheck,
    Supervisor,
    Suppression,
    Task,
)
from storage.outbox import queue_email as queue_email  # re-exported: the outbox is storage.outbox

# ---- conversations -----------------------------------------------------------------------


async def get_conversation(session: AsyncSession, user_id: int) -> Conversation | None:
    return await session.get(Conversation, user_id)


async def save_conversation(
    session: AsyncSession, conversation: Conversation, now: datetime
) -> None:
    conversation.updated_at = now
    session.add(conversation)
    # Handlers change the JSON answers in place, which SQLAlchemy cannot see: say so explicitly.
    flag_modified(conversation, "data")


async def delete_conversation(session: AsyncSession, user_id: int) -> None:
    await session.execute(delete(Conversation).where(col(Conversation.telegram_user_id) == user_id))


async def expire_conversations(session: AsyncSession, older_than: datetime) -> int:
    result = await session.execute(
        delete(Conversation).where(col(Conversation.updated_at) < older_than)
    )
    return int(getattr(result, "rowcount", 0) or 0)  # a CursorResult for DML


# ---- supervisors -------------------------------------------------------------------------


async def get_supervisor(session: AsyncSession, user_id: int) -> Supervisor | None:
    result = await session.execute(
        select(Supervisor).where(col(Supervisor.telegram_user_id) == user_id)
    )
    return result.scalar_one_or_none()


# ---- email verification ------------------------------------------------------------------


async def verifications_since(
    session: AsyncSession, *, user_id: int, email: str, since: datetime
) -> tuple[int, int]:
    """How many codes went to this person, and to this address, since `since`."""
    by_person = await session.scalar(
        select(func.count())
        .select_from(EmailVerification)
        .where(
            col(EmailVerification.telegram_user_id) == user_id,
            col(EmailVerification.created_at) >= since,
        )
    )
    by_address = await session.scalar(
        select(func.count())
        .select_from(EmailVerification)
        .where(col(EmailVerification.email) == email, col(EmailVerification.created_at) >= since)
    )
    return int(by_person or 0), int(by_address or 0)


async def latest_verification(session: AsyncSession, user_id: int) -> EmailVerification | None:
    result = await session.execute(
        select(EmailVerification)
        .where(col(EmailVerification.telegram_user_id) == user_id)
        .order_by(col(EmailVerification.created_at).desc(), col(EmailVerification.id).desc())
        .limit(1)
    )
    return result.scalar_one_or_none()


async def verification_by_link(session: AsyncSession, link_hash: str) -> EmailVerification | None:
    result = await session.execute(
        select(EmailVerification).where(col(EmailVerification.link_hash) == link_hash)
    )
    return result.scalar_one_or_none()


# ---- privacy -----------------------------------------------------------------------------


async def emails_of_person(session: AsyncSession, user_id: int) -> set[str]:
    addresses: set[str] = set()
    supervisor = await get_supervisor(session, user_id)
    if supervisor:
        addresses.add(supervisor.email)
    conversation = await get_conversation(session, user_id)
    if conversation and conversation.data.get("email"):
        addresses.add(str(conversation.data["email"]))
    result = await session.execute(
        select(col(EmailVerification.email)).where(
            col(EmailVerification.telegram_user_id) == user_id
        )
    )
    addresses.update(result.scalars())
    return addresses


async def erase_person(session: AsyncSession, user_id: int) -> list[str]:
    """Erase everything held about one person; returns the mail files to remove from disk."""
    addresses = await emails_of_person(session, user_id)
    outbox_filter = col(OutboxEmail.telegram_user_id) == user_id
    if addresses:
        outbox_filter = or_(outbox_filter, col(OutboxEmail.recipient).in_(addresses))
    files = await session.execute(select(col(OutboxEmail.stored_as)).where(outbox_filter))
    stored = [path for path in files.scalars() if path]
    await session.execute(delete(OutboxEmail).where(outbox_filter))
    await session.execute(
        delete(EmailVerification).where(col(EmailVerification.telegram_user_id) == user_id)
    )
    if addresses:
        await session.execute(
            delete(EmailVerification).where(col(EmailVerification.email).in_(addresses))
        )
    await session.execute(delete(Conversation).where(col(Conversation.telegram_user_id) == user_id))
    await session.execute(delete(Question).where(col(Question.telegram_user_id) == user_id))
    await session.execute(delete(Supervisor).where(col(Supervisor.telegram_user_id) == user_id))
    if addresses:  # an invitation named them: forget it (a "no" stays as a suppression)
        await session.execute(
            delete(Invitation).where(
                func.lower(col(Invitation.email)).in_([a.lower() for a in addresses])
            )
        )
    from storage.coordinators import unbind_user  # a coordinator keeps the scope, not the account

    await unbind_user(session, user_id)
    return stored


async def _all(session: AsyncSession, query: Any) -> list[Any]:
    return list((await session.execute(query)).scalars())


async def export_person(session: AsyncSession, user_id: int) -> dict[str, Any]:
    """Everything stored about one person, for /mydata. Secrets (code hashes) are left out."""
    supervisor = await get_supervisor(session, user_id)
    conversation = await get_conversation(session, user_id)
    verifications = await session.execute(
        select(EmailVerification).where(col(EmailVerification.telegram_user_id) == user_id)
    )
    addresses = await emails_of_person(session, user_id)
    outbox_filter = col(OutboxEmail.telegram_user_id) == user_id
    if addresses:
        outbox_filter = or_(outbox_filter, col(OutboxEmail.recipient).in_(addresses))
    emails = await session.execute(select(OutboxEmail).where(outbox_filter))
    scopes = await session.execute(
        select(Coordinator).where(col(Coordinator.telegram_user_id) == user_id)
    )
    by_supervisor = supervisor.id if supervisor is not None else -1
    tasks = await _all(session, select(Task).where(col(Task.supervisor_id) == by_supervisor))
    offers = await _all(session, select(Offer).where(col(Offer.supervisor_id) == by_supervisor))
    checks = await _all(
        session, select(SeasonCheck).where(col(SeasonCheck.supervisor_id) == by_supervisor)
    )
    lowered = [a.lower() for a in addresses]
    invitations = await _all(
        session, select(Invitation).where(func.lower(col(Invitation.email)).in_(lowered))
    )
    questions = await _all(
        session, select(Question).where(col(Question.telegram_user_id) == user_id)
    )
    return {
        "tasks": [t.model_dump(mode="json") for t in tasks],
        "questions": [q.model_dump(mode="json") for q in questions],
        "offers": [o.model_dump(mode="json") for o in offers],
        "season_checks": [c.model_dump(mode="json") for c in checks],
        "invitations": [i.model_dump(mode="json") for i in invitations],
        "coordinator_scopes": [
            c.model_dump(
                mode="json", include={"email", "role", "exchange_type", "city", "bound_at"}
            )
            for c in scopes.scalars()
        ],
        "telegram_user_id": user_id,
        "profile": supervisor.model_dump(mode="json") if supervisor else None,
        "registration_in_progress": conversation.model_dump(mode="json") if conversation else None,
        "email_verifications": [
            v.model_dump(mode="json", exclude={"code_hash", "link_hash"})
            for v in verifications.scalars()
        ],
        "emails": [
            e.model_dump(
                mode="json",
                include={"kind", "recipient", "subject", "status", "created_at", "sent_at"},
            )
            for e in emails.scalars()
        ],
    }


async def suppress(session: AsyncSession, email: str, reason: str, now: datetime) -> None:
    """Never email this address again (but verification codes the person asks for)."""
    found = await session.execute(
        select(Suppression).where(func.lower(col(Suppression.email)) == email.lower())
    )
    if found.scalar_one_or_none() is None:
        session.add(Suppression(email=email, reason=reason, created_at=now))
    # Mail already queued to the address stops too (a code the person asks for still goes).
    await session.execute(
        update(OutboxEmail)
        .where(
            func.lower(col(OutboxEmail.recipient)) == email.lower(),
            col(OutboxEmail.status) == OutboxStatus.PENDING,
            col(OutboxEmail.kind) != "verify",
        )
        .values(status=OutboxStatus.FAILED, last_error=f"not sent: {reason}")
    )


async def mark_reachable(session: AsyncSession, user_id: int) -> None:
    """The person wrote to the bot: a chat marked unreachable (403) works again."""
    await session.execute(
        update(Supervisor)
        .where(
            col(Supervisor.telegram_user_id) == user_id,
            col(Supervisor.chat_unreachable_at).is_not(None),
        )
        .values(chat_unreachable_at=None)
    )
