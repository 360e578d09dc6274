"""The outbox's storage on SQLite and PostgreSQL: claims with a lease, skipping rows another
sender holds, the claim as a fencing token, and the failures a digest reports. Plus the pure
parts of the sender: backoff and the SMTP_SECURITY mapping."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.core.settings import SmtpSecurity
from bot.mail.backends import tls_options
from bot.mail.sender import backoff
from storage import outbox
from storage.db import Database
from storage.models import OutboxEmail, OutboxStatus

NOW = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
LEASE = timedelta(minutes=2)


def row(number: int, due: datetime = NOW) -> OutboxEmail:
    return OutboxEmail(
        idempotency_key=f"k:{number}",
        kind="verify",
        recipient=f"p{number}@example.no",
        subject="s",
        message="Subject: s\n\nbody\n",
        next_attempt_at=due,
        created_at=NOW,
    )


@pytest.fixture
async def db(migrated_url: str) -> AsyncIterator[Database]:
    database = Database(migrated_url)
    yield database
    await database.close()


async def queue(db: Database, *emails: OutboxEmail) -> None:
    async with db.session() as session:
        for email in emails:
            await outbox.queue_email(session, email)


async def claim(db: Database, now: datetime = NOW, limit: int = 50) -> list[OutboxEmail]:
    async with db.session() as session:
        return await outbox.claim_due(session, now, lease=LEASE, limit=limit)


async def test_a_claim_takes_at_most_its_limit_of_due_rows_oldest_first(db):
    await queue(db, *(row(n, NOW - timedelta(minutes=n)) for n in range(12)))
    await queue(db, row(99, NOW + timedelta(minutes=1)))  # not due yet
    first = await claim(db, limit=5)
    assert [e.idempotency_key for e in first] == [f"k:{n}" for n in (11, 10, 9, 8, 7)]
    assert all(
        e.status == OutboxStatus.SENDING and e.attempts == 1 and e.lease_until == NOW + LEASE
        for e in first
    )
    assert len(await claim(db, limit=5)) == 5
    assert len(await claim(db, limit=5)) == 2
    assert await claim(db, limit=5) == []
    [late] = await claim(db, NOW + timedelta(minutes=1))
    assert late.idempotency_key == "k:99"
    async with db.session() as session:
        counts = await outbox.count_by_status(session)
    assert counts == {
        OutboxStatus.PENDING: 0,
        OutboxStatus.SENDING: 13,
        OutboxStatus.SENT: 0,
        OutboxStatus.FAILED: 0,
        OutboxStatus.HELD: 0,
    }


async def test_a_dead_senders_lease_runs_out_and_its_claim_is_fenced_off(db):
    await queue(db, row(1))
    [old] = await claim(db)
    assert await claim(db, NOW + LEASE) == []  # still leased
    later = NOW + LEASE + timedelta(seconds=1)
    [new] = await claim(db, later)
    assert new.attempts == 2
    async with db.session() as session:  # the first sender wakes up: too late for anything
        assert not await outbox.renew_lease(session, old.id, old.attempts, until=later + LEASE)
        assert not await outbox.record_email_result(
            session, old.id, status=OutboxStatus.SENT, now=later, attempts=old.attempts
        )
        assert await outbox.release_claims(session, [(old.id, old.attempts)]) == 0
    async with db.session() as session:
        assert await outbox.renew_lease(session, new.id, new.attempts, until=later + LEASE)
        assert await outbox.record_email_result(
            session, new.id, status=OutboxStatus.SENT, now=later, attempts=new.attempts
        )
        stored = await session.get(OutboxEmail, new.id)
    assert stored is not None and stored.status == OutboxStatus.SENT and stored.sent_at == later


async def test_released_claims_are_due_at_once_with_the_attempt_not_counted(db):
    await queue(db, row(1), row(2))
    claimed = await claim(db)
    async with db.session() as session:
        assert await outbox.release_claims(session, [(e.id, e.attempts) for e in claimed]) == 2
        assert await outbox.due_email_ids(session, NOW, 10) == [e.id for e in claimed]
    again = await claim(db)
    assert [e.attempts for e in again] == [1, 1]


async def test_failed_since_lists_the_failures_from_a_moment_on(db):
    await queue(db, row(1), row(2), row(3))
    one, two, three = await claim(db)
    async with db.session() as session:
        for email, status, at in [
            (one, OutboxStatus.FAILED, NOW),
            (two, OutboxStatus.FAILED, NOW + timedelta(days=2)),
            (three, OutboxStatus.SENT, NOW + timedelta(days=2)),
        ]:
            await outbox.record_email_result(
                session, email.id, status=status, now=at, attempts=1, error="550 no"
            )
    async with db.session() as session:
        assert [e.id for e in await outbox.failed_since(session, NOW)] == [one.id, two.id]
        [failure] = await outbox.failed_since(session, NOW + timedelta(days=1))
    assert failure.id == two.id and failure.last_error == "550 no"


@pytest.mark.postgres
async def test_on_postgresql_a_second_sender_skips_the_rows_the_first_holds(
    migrated_postgres_url,
):
    first, second = Database(migrated_postgres_url), Database(migrated_postgres_url)
    try:
        await queue(first, *(row(n) for n in range(6)))
        async with first.session() as holding:
            mine = await outbox.claim_due(holding, NOW, lease=LEASE, limit=3)
            # The first transaction is still open, its rows locked: the second neither waits
            # for them nor takes them.
            async with asyncio.timeout(5):
                theirs = await claim(second, limit=6)
        assert {e.id for e in mine}.isdisjoint(e.id for e in theirs)
        assert len(mine) == 3 and len(theirs) == 3
    finally:
        await first.close()
        await second.close()


@given(st.integers(min_value=0, max_value=200), st.integers(min_value=0, max_value=2**32))
def test_backoff_doubles_from_half_a_minute_to_an_hour_with_jitter(attempts, seed):
    delay = backoff(attempts, random.Random(seed)).total_seconds()
    base = min(3600.0, 30.0 * 2 ** max(0, attempts - 1))
    assert 0.8 * base <= delay <= 1.2 * base
    if attempts >= 1:
        assert backoff(attempts + 1, random.Random(seed)) >= backoff(attempts, random.Random(seed))


def test_smtp_security_maps_to_exactly_one_way_of_encrypting():
    assert tls_options(SmtpSecurity.NONE) == (False, False)  # never opportunistic STARTTLS
    assert tls_options(SmtpSecurity.STARTTLS) == (False, True)
    assert tls_options(SmtpSecurity.TLS) == (True, False)
