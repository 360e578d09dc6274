"""Read-then-writes that two people's updates (processed at once) could race, on SQLite and on
PostgreSQL: two or more units of work run truly at once (`asyncio.gather`, each its own session
and connection, each holding its transaction open a moment after its write so they overlap), and
exactly one wins. Before, each of these read first and wrote after: on PostgreSQL both read the
same state and both wrote (or the second failed on a unique key)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import TypeVar

from sqlalchemy import func
from sqlmodel import col, select

from bot.core.context import Services
from bot.services import verification
from bot.services.verification import MAX_TRIES, SENDS_PER_HOUR, CodeCheck
from storage import campaigns, coordinators, outbox, reminders_repo, repository
from storage.db import Database
from storage.models import (
    Coordinator,
    EmailVerification,
    Offer,
    OfferStatus,
    OutboxEmail,
    Suppression,
)
from tests.support import slots

NOW = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
SECRET = b"race-secret-of-at-least-32-characters!!"
T = TypeVar("T")


async def at_once(db: Database, *works: Callable[..., Awaitable[T]]) -> list[T]:
    """Each work in its own transaction, all started together; each holds its transaction a
    moment after its write, so that on PostgreSQL they overlap (SQLite queues them: IMMEDIATE)."""

    async def unit(work: Callable[..., Awaitable[T]]) -> T:
        async with db.session() as session:
            result = await work(session)
            await asyncio.sleep(0.05)
            return result

    return list(await asyncio.gather(*(unit(work) for work in works)))


def _email(key: str) -> OutboxEmail:
    return OutboxEmail(
        idempotency_key=key,
        kind="digest",
        recipient="nora@nmf.example",
        subject="Digest",
        message="Message-ID: <1@nmf.example>\n\nbody",
        next_attempt_at=NOW,
        created_at=NOW,
    )


async def _count(db: Database, model: type, *where: object) -> int:
    async with db.session() as session:
        return int(await session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


async def test_one_email_is_queued_once_when_two_queue_it_at_once(migrated_url):
    db = Database(migrated_url)
    won = await at_once(
        db,
        lambda s: outbox.queue_email(s, _email("digest:1:2026-W48")),
        lambda s: outbox.queue_email(s, _email("digest:1:2026-W48")),
    )
    batches = await at_once(
        db,
        lambda s: outbox.queue_emails(s, [_email("a"), _email("b")]),
        lambda s: outbox.queue_emails(s, [_email("b"), _email("c")]),
    )
    rows = await _count(db, OutboxEmail)
    await db.close()
    assert sorted(won) == [False, True]
    assert sorted(e.idempotency_key for batch in batches for e in batch) == ["a", "b", "c"]
    assert all(e.id for batch in batches for e in batch)
    assert rows == 4


async def test_an_address_is_suppressed_once_whatever_its_letter_case(migrated_url):
    db = Database(migrated_url)
    await at_once(
        db,
        lambda s: repository.suppress(s, "Kari@Example.org", "unsubscribed", NOW),
        lambda s: repository.suppress(s, "kari@example.org", "bounced", NOW, detail="550 5.1.1"),
    )
    added = await at_once(
        db,
        lambda s: campaigns.suppress(s, "ola@example.org", "declined", NOW),
        lambda s: campaigns.suppress(s, "OLA@example.org", "declined", NOW),
    )
    async with db.session() as session:
        rows = (await session.execute(select(Suppression))).scalars().all()
    await db.close()
    assert sorted(added) == [False, True]
    assert sorted(row.email.lower() for row in rows) == ["kari@example.org", "ola@example.org"]


async def test_an_invitation_link_opened_by_two_accounts_at_once_binds_one(migrated_url):
    db = Database(migrated_url)
    async with db.session() as session:
        _, token = await coordinators.add_coordinator(
            session,
            email="nora@nmf.example",
            role="NORE",
            exchange_type="research",
            city="national",
            language="en",
            now=NOW,
            secret=SECRET,
        )
    bound = await at_once(
        db,
        lambda s: coordinators.bind_by_token(s, SECRET, token, 111, 111, NOW),
        lambda s: coordinators.bind_by_token(s, SECRET, token, 222, 222, NOW),
    )
    async with db.session() as session:
        row = (await session.execute(select(Coordinator))).scalar_one()
    await db.close()
    winners = [c for c in bound if c is not None]
    assert len(winners) == 1
    assert row.telegram_user_id == winners[0].telegram_user_id
    assert row.invite_hash is None


async def test_an_ended_place_is_marked_thanked_by_one_sweep(migrated_url):
    db = Database(migrated_url)
    async with db.session() as session:
        owner = await slots.supervisor(session, 1)
        task = await slots.task(session, owner)
        slot = await slots.slot(session, start_date=NOW.date() - timedelta(weeks=6))
        offer = Offer(
            slot_id=slot.id or 0,
            task_id=task.id or 0,
            supervisor_id=owner.id or 0,
            status=OfferStatus.ACCEPTED,
            reply_by=NOW.date(),
            created_at=NOW,
        )
        session.add(offer)
        await session.flush()
        offer_id = offer.id or 0
    marked = await at_once(
        db,
        lambda s: reminders_repo.mark_thanked(s, offer_id, NOW),
        lambda s: reminders_repo.mark_thanked(s, offer_id, NOW),
    )
    await db.close()
    assert sorted(marked) == [False, True]


async def test_tries_made_at_once_never_compare_more_than_five_codes(services: Services):
    db = services.db
    async with db.session() as session:
        await verification.send_code(
            session, services, user_id=42, email="ada@uib.no", language="en", name="Ada"
        )

    async def wrong(session):
        return await verification.check_code(
            session, services, user_id=42, email="ada@uib.no", code="not-it"
        )

    results = await at_once(db, *[wrong] * 8)
    async with db.session() as session:
        attempts = await session.scalar(select(col(EmailVerification.attempts)))
    assert attempts == MAX_TRIES
    assert sorted(r.tries_left for r in results) == [0, 0, 0, 0, 1, 2, 3, 4]
    assert [r.outcome for r in results].count(CodeCheck.WRONG) == MAX_TRIES - 1
    assert [r.outcome for r in results].count(CodeCheck.TOO_MANY) == 4


async def test_codes_asked_for_at_once_keep_to_four_an_hour(services: Services):
    db = services.db

    async def ask(session):
        if not await verification.may_send(session, services, 42, "ada@uib.no"):
            return False
        await verification.send_code(
            session, services, user_id=42, email="ada@uib.no", language="en", name="Ada"
        )
        return True

    sent = await at_once(db, *[ask] * 6)
    codes = await _count(db, EmailVerification)
    emails = await _count(db, OutboxEmail, col(OutboxEmail.kind) == "verify")
    assert sent.count(True) == SENDS_PER_HOUR
    assert codes == emails == SENDS_PER_HOUR
