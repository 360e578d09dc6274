"""Data access. Every function takes the caller's session: the caller owns the transaction."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, delete, func, or_, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import flag_modified
from sqlmodel import col, select

from storage import atomic, inbox
from storage.coordinators import unbind_user
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

_SUPPRESSION = Suppression.__table__  # type: ignore[attr-defined]

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


async def mark_handled(session: AsyncSession, user_id: int, update_id: int) -> None:
    """Remember an update that changed nothing in the draft, so that Telegram delivering it again
    after a restart is recognised as a repeat (the draft's expiry clock is left alone)."""
    await session.execute(
        update(Conversation)
        .where(col(Conversation.telegram_user_id) == user_id)
        .values(last_update_id=update_id)
    )


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


async def lock_verification_sends(session: AsyncSession, user_id: int, email: str) -> None:
    """Hold this person's and this address's count of codes until the transaction ends, so that
    two codes asked for at once cannot both pass the hourly limit (see `storage.atomic`)."""
    await atomic.lock(session, f"verify-person:{user_id}", f"verify-address:{email.lower()}")


async def take_try(session: AsyncSession, verification_id: int, max_tries: int) -> int | None:
    """Spend one of a code's tries: the tries spent now, or None when none was left. One
    conditional UPDATE, so tries made at once can never spend more than `max_tries`."""
    result = await session.execute(
        update(EmailVerification)
        .where(
            col(EmailVerification.id) == verification_id,
            col(EmailVerification.attempts) < max_tries,
        )
        .values(attempts=col(EmailVerification.attempts) + 1)
        .returning(col(EmailVerification.attempts))
        .execution_options(synchronize_session=False)
    )
    spent = result.scalar_one_or_none()
    return None if spent is None else int(spent)


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
#
# A person's data is what is keyed to their Telegram account, plus what is keyed to an address
# they proved they read (a code or link from that mailbox). An address that was only typed is not
# theirs: anyone can type a colleague's address, and /mydata or /delete must never reach the
# colleague's pending verification, invitation or emails through it.


async def verified_addresses(session: AsyncSession, user_id: int) -> set[str]:
    """The addresses (lower case) this person verified: their profile's, if verified, and every
    address a code or link of theirs confirmed."""
    addresses: set[str] = set()
    supervisor = await get_supervisor(session, user_id)
    if supervisor is not None and supervisor.email_verified_at is not None:
        addresses.add(supervisor.email.lower())
    result = await session.execute(
        select(col(EmailVerification.email)).where(
            col(EmailVerification.telegram_user_id) == user_id,
            col(EmailVerification.verified_at).is_not(None),
        )
    )
    addresses.update(address.lower() for address in result.scalars())
    return addresses


def _keyed_to(
    user_column: Any, address_column: Any, user_id: int, addresses: set[str]
) -> ColumnElement[bool]:
    """Rows keyed to the account, or to one of its verified addresses (in any case)."""
    condition: ColumnElement[bool] = col(user_column) == user_id
    if addresses:
        condition = or_(condition, func.lower(col(address_column)).in_(sorted(addresses)))
    return condition


def _outbox_of(user_id: int, addresses: set[str]) -> ColumnElement[bool]:
    return _keyed_to(OutboxEmail.telegram_user_id, OutboxEmail.recipient, user_id, addresses)


def _verifications_of(user_id: int, addresses: set[str]) -> ColumnElement[bool]:
    return _keyed_to(
        EmailVerification.telegram_user_id, EmailVerification.email, user_id, addresses
    )


def _at(column: Any, addresses: set[str]) -> ColumnElement[bool]:
    return func.lower(col(column)).in_(sorted(addresses))


@dataclass(frozen=True)
class Erased:
    """What an erasure removed: the mail files to remove from disk, and how many rows of each
    kind went (for the deletion audit: counts, never contents)."""

    files: list[str]
    counts: dict[str, int]


def _rows(result: Any) -> int:
    return int(getattr(result, "rowcount", 0) or 0)  # a CursorResult for DML


async def _count(session: AsyncSession, query: Any) -> int:
    return int(await session.scalar(select(func.count()).select_from(query.subquery())) or 0)


async def erase_person(session: AsyncSession, user_id: int) -> Erased:
    """Erase everything held about one person; returns the mail files to remove and the counts.

    An unsubscribe (or a declined invitation) stays on the suppression list, address, reason and
    date only, so that the opt-out is still honoured after the erasure (the privacy notice says
    so, and /mydata shows the entry while the person is known).
    """
    addresses = await verified_addresses(session, user_id)
    outbox_filter = _outbox_of(user_id, addresses)
    files = await session.execute(select(col(OutboxEmail.stored_as)).where(outbox_filter))
    stored = [path for path in files.scalars() if path]
    supervisor = await get_supervisor(session, user_id)
    by_supervisor = supervisor.id if supervisor is not None else -1
    counts = {  # tasks and offers go with the profile, by cascade: counted before
        "tasks": await _count(
            session, select(Task.id).where(col(Task.supervisor_id) == by_supervisor)
        ),
        "offers": await _count(
            session, select(Offer.id).where(col(Offer.supervisor_id) == by_supervisor)
        ),
    }
    counts["emails"] = _rows(await session.execute(delete(OutboxEmail).where(outbox_filter)))
    counts["verifications"] = _rows(
        await session.execute(
            delete(EmailVerification).where(_verifications_of(user_id, addresses))
        )
    )
    counts["drafts"] = _rows(
        await session.execute(
            delete(Conversation).where(col(Conversation.telegram_user_id) == user_id)
        )
    )
    counts["questions"] = _rows(
        await session.execute(delete(Question).where(col(Question.telegram_user_id) == user_id))
    )
    await inbox.erase_of(session, user_id)
    counts["profiles"] = _rows(
        await session.execute(delete(Supervisor).where(col(Supervisor.telegram_user_id) == user_id))
    )
    counts["invitations"] = 0
    if addresses:  # an invitation named them: forget it (a "no" stays as a suppression)
        counts["invitations"] = _rows(
            await session.execute(delete(Invitation).where(_at(Invitation.email, addresses)))
        )
    # A coordinator keeps the scope, not the account.
    counts["coordinator_bindings"] = await unbind_user(session, user_id)
    return Erased(stored, counts)


async def supervisor_accounts_at(session: AsyncSession, email: str) -> list[int]:
    """The Telegram accounts of the supervisors registered with this address (any case): whom
    an operator answers when a request arrives by email (`python -m bot privacy`)."""
    result = await session.execute(
        select(col(Supervisor.telegram_user_id)).where(
            func.lower(col(Supervisor.email)) == email.strip().lower()
        )
    )
    return list(result.scalars())


def _draft(conversation: Conversation) -> dict[str, Any]:
    """A draft as /mydata shows it: that a colleague's link started it, not whose it was."""
    dumped = conversation.model_dump(mode="json")
    if REFERRED_BY in dumped["data"]:
        dumped["data"][REFERRED_BY] = True
    return dumped


async def _all(session: AsyncSession, query: Any) -> list[Any]:
    return list((await session.execute(query)).scalars())


# A registration draft's key for the colleague whose referral link started it.
REFERRED_BY = "referred_by"
# What /mydata shows of an email: never its subject or body, which may carry a code or a link.
EMAIL_FIELDS = {"kind", "recipient", "status", "created_at", "sent_at"}
# Of a verification: never the hashes, nor whose account asked (someone else may have typed
# this person's verified address).
VERIFICATION_FIELDS = {"email", "attempts", "created_at", "expires_at", "verified_at"}


async def export_person(session: AsyncSession, user_id: int) -> dict[str, Any]:
    """Everything stored about one person, for /mydata. No secret is in it: no code or link
    hashes, no email subjects or bodies."""
    supervisor = await get_supervisor(session, user_id)
    conversation = await get_conversation(session, user_id)
    addresses = await verified_addresses(session, user_id)
    verifications = await _all(
        session,
        select(EmailVerification)
        .where(_verifications_of(user_id, addresses))
        .order_by(col(EmailVerification.id)),
    )
    emails = await _all(
        session,
        select(OutboxEmail).where(_outbox_of(user_id, addresses)).order_by(col(OutboxEmail.id)),
    )
    scopes = await _all(
        session, select(Coordinator).where(col(Coordinator.telegram_user_id) == user_id)
    )
    by_supervisor = supervisor.id if supervisor is not None else -1
    tasks = await _all(session, select(Task).where(col(Task.supervisor_id) == by_supervisor))
    offers = await _all(session, select(Offer).where(col(Offer.supervisor_id) == by_supervisor))
    checks = await _all(
        session, select(SeasonCheck).where(col(SeasonCheck.supervisor_id) == by_supervisor)
    )
    invitations: list[Invitation] = []
    suppressions: list[Suppression] = []
    if addresses:
        invitations = await _all(
            session, select(Invitation).where(_at(Invitation.email, addresses))
        )
        suppressions = await _all(
            session, select(Suppression).where(_at(Suppression.email, addresses))
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
        "do_not_email": [
            s.model_dump(mode="json", include={"email", "reason", "created_at"})
            for s in suppressions
        ],
        "coordinator_scopes": [
            c.model_dump(
                mode="json", include={"email", "role", "exchange_type", "city", "bound_at"}
            )
            for c in scopes
        ],
        "telegram_user_id": user_id,
        # Messages as received, kept minutes until processed (their content is in the rest).
        "updates_held": await inbox.count_of(session, user_id),
        # That they came through a colleague's link, not who: that is the colleague's to tell.
        "profile": supervisor.model_dump(mode="json", exclude={"referred_by"})
        if supervisor
        else None,
        "registration_in_progress": _draft(conversation) if conversation else None,
        "email_verifications": [
            v.model_dump(mode="json", include=VERIFICATION_FIELDS) for v in verifications
        ],
        "emails": [e.model_dump(mode="json", include=EMAIL_FIELDS) for e in emails],
    }


async def suppress(
    session: AsyncSession, email: str, reason: str, now: datetime, *, detail: str | None = None
) -> None:
    """Never email this address again (but verification codes the person asks for). `detail`:
    what the mail server said, for a bounce."""
    # Once per address in any letter case (a unique index on lower(email)): a second entry,
    # even one racing this, is dropped by the database and the first keeps its reason.
    await atomic.insert_new(
        session,
        _SUPPRESSION,
        {"email": email, "reason": reason, "detail": detail, "created_at": now},
    )
    # Mail already queued to the address stops too (a code the person asks for still goes).
    # Nothing failed in delivery, so there is nothing to report to a coordinator.
    await session.execute(
        update(OutboxEmail)
        .where(
            func.lower(col(OutboxEmail.recipient)) == email.lower(),
            col(OutboxEmail.status).in_([OutboxStatus.PENDING, OutboxStatus.HELD]),
            col(OutboxEmail.kind) != "verify",
        )
        .values(
            status=OutboxStatus.FAILED,
            last_error=f"not sent: {reason}",
            next_attempt_at=now,
            reported_at=now,
            subject="",
            message="",
        )
    )


async def is_coordinator_address(session: AsyncSession, email: str) -> bool:
    found = await session.scalar(
        select(col(Coordinator.id)).where(func.lower(col(Coordinator.email)) == email.lower())
    )
    return found is not None
