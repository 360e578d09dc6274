"""Storage on both databases: the schema the migrations build is the schema the models declare,
and the repository behaves the same on a SQLite file and on PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlmodel import SQLModel

import storage.models  # noqa: F401
from storage import outbox, repository
from storage.db import Database
from storage.migrate import upgrade_async
from storage.models import Conversation, OutboxEmail, OutboxStatus, Supervisor

NOW = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)


async def test_migrations_build_exactly_the_models(database_url):
    """The suite's migration from an empty database, on each backend: every other test copies a
    template that was migrated once per session the same way (tests/support/databases.py)."""
    db = Database(database_url)
    async with db.engine.connect() as conn:
        assert await conn.run_sync(lambda c: inspect(c).get_table_names()) == []  # empty
    await db.close()
    await upgrade_async(database_url)
    db = Database(database_url)

    def diff(connection):
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return compare_metadata(context, SQLModel.metadata)

    async with db.engine.connect() as conn:
        differences = await conn.run_sync(diff)
    await db.close()
    assert differences == []


async def test_sqlite_runs_in_wal_mode_with_foreign_keys_and_a_busy_timeout(
    migrated_sqlite_url,
):
    db = Database(migrated_sqlite_url)
    async with db.engine.connect() as conn:
        assert (await conn.execute(text("PRAGMA journal_mode"))).scalar() == "wal"
        assert (await conn.execute(text("PRAGMA foreign_keys"))).scalar() == 1
        assert (await conn.execute(text("PRAGMA busy_timeout"))).scalar() == 10000
        assert (await conn.execute(text("PRAGMA secure_delete"))).scalar() == 1
    await db.close()


async def test_a_draft_keeps_its_answers_and_times_across_sessions(migrated_url):
    db = Database(migrated_url)
    async with db.session() as s:
        conv = Conversation(
            telegram_user_id=10**11,
            chat_id=10**11,
            flow="registration",
            step="city",
            language="nb",
            data={"name": "Åse <Ø>", "fields": ["cardiology"]},
            created_at=NOW,
            updated_at=NOW,
        )
        await repository.save_conversation(s, conv, NOW)
    async with db.session() as s:
        conv = await repository.get_conversation(s, 10**11)
        assert conv is not None
        conv.data["fields"].append("oncology")  # changed in place, as handlers do
        conv.step = "fields"
        await repository.save_conversation(s, conv, NOW + timedelta(minutes=1))
    async with db.session() as s:
        conv = await repository.get_conversation(s, 10**11)
    await db.close()
    assert conv is not None
    assert conv.data == {"name": "Åse <Ø>", "fields": ["cardiology", "oncology"]}
    assert conv.updated_at == NOW + timedelta(minutes=1)
    assert conv.updated_at.tzinfo is not None


def _email(key: str) -> OutboxEmail:
    return OutboxEmail(
        idempotency_key=key,
        kind="verify",
        telegram_user_id=7,
        recipient="a@b.no",
        subject="s",
        message="m",
        next_attempt_at=NOW,
        created_at=NOW,
    )


async def test_the_same_logical_email_is_queued_once(migrated_url):
    db = Database(migrated_url)
    async with db.session() as s:
        assert await repository.queue_email(s, _email("verify:1")) is True
    async with db.session() as s:
        assert await repository.queue_email(s, _email("verify:1")) is False
    async with db.session() as s:
        assert await outbox.due_email_ids(s, NOW, 10) == [1]
    await db.close()


async def test_only_one_sender_can_claim_an_email(migrated_url):
    db = Database(migrated_url)
    async with db.session() as s:
        await repository.queue_email(s, _email("verify:2"))
    async with db.session() as s:
        first = await outbox.claim_email(s, 1, NOW, timedelta(minutes=2))
    async with db.session() as s:
        second = await outbox.claim_email(s, 1, NOW, timedelta(minutes=2))
    async with db.session() as s:
        after_lease = await outbox.claim_email(
            s, 1, NOW + timedelta(minutes=3), timedelta(minutes=2)
        )
    await db.close()
    assert first is not None and first.status == OutboxStatus.SENDING and first.attempts == 1
    assert second is None
    assert (
        after_lease is not None and after_lease.attempts == 2
    )  # a crashed sender's lease runs out


async def test_erasing_a_person_removes_profile_draft_codes_and_mail(migrated_url):
    db = Database(migrated_url)
    async with db.session() as s:
        s.add(
            Supervisor(
                telegram_user_id=7,
                chat_id=7,
                language="en",
                name="N",
                title="gp",
                workplace="W",
                city="oslo",
                fields=["oncology"],
                exchange_types=["clinical"],
                email="a@b.no",
                consent_version="x",
                consent_at=NOW,
                created_at=NOW,
                updated_at=NOW,
            )
        )
        await repository.queue_email(s, _email("verify:3"))
        other = _email("verify:4")
        other.recipient, other.telegram_user_id = "someone@else.no", 8
        await repository.queue_email(s, other)
    async with db.session() as s:
        await repository.erase_person(s, 7)
    async with db.session() as s:
        assert await repository.get_supervisor(s, 7) is None
        assert await outbox.due_email_ids(s, NOW, 10) == [2]
    await db.close()
