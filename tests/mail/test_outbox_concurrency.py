"""Two senders on one PostgreSQL database, each with its own engine, sending at the same time to
one SMTP server: between them every email goes out, and none twice. The server holds each
connection's first message until both senders have one in flight, so both surely take part."""

from __future__ import annotations

import asyncio
import random
from pathlib import Path

import pytest

from bot.core.settings import Settings
from bot.domain.clock import SystemClock
from bot.mail.backends import SmtpBackend
from bot.mail.sender import OutboxSender
from storage import outbox
from storage.db import Database
from storage.models import OutboxStatus
from tests.smtp_server import smtp_server
from tests.support.outbox_worker import MAIL_FROM, queue_emails

pytestmark = pytest.mark.postgres

EMAILS = 200


async def test_two_senders_on_one_postgresql_database_never_send_a_row_twice(
    migrated_postgres_url: str, tmp_path: Path
) -> None:
    setup = Database(migrated_postgres_url)
    expected = await queue_emails(setup, EMAILS, SystemClock().now())
    with smtp_server() as (inbox, port):
        inbox.rendezvous = 2  # each sender has claimed a batch before either is answered
        inbox.delay = 0.002  # a little server latency, so the two senders go on overlapping
        settings = Settings(
            _env_file=None,  # type: ignore[call-arg]
            var_dir=tmp_path / "var",
            database_url=migrated_postgres_url,
            mail_backend="smtp",
            mail_from=MAIL_FROM,
            smtp_host="127.0.0.1",
            smtp_port=port,
        )
        databases = [Database(migrated_postgres_url), Database(migrated_postgres_url)]
        senders = [
            OutboxSender(db, SmtpBackend(settings), SystemClock(), batch=7, rng=random.Random(n))
            for n, db in enumerate(databases)
        ]

        async def drain(sender: OutboxSender) -> int:
            sent = 0
            for _ in range(200):
                sent += await sender.run_once()
                async with sender.db.session() as session:
                    counts = await outbox.count_by_status(session)
                if counts[OutboxStatus.PENDING] == counts[OutboxStatus.SENDING] == 0:
                    return sent
                await asyncio.sleep(0)
            raise AssertionError("the outbox never drained")

        try:
            sent = await asyncio.gather(*(drain(sender) for sender in senders))
        finally:
            for db in databases:
                await db.close()
    async with setup.session() as session:
        counts = await outbox.count_by_status(session)
    await setup.close()
    assert counts[OutboxStatus.SENT] == EMAILS
    print(f"two senders: {sent[0]} + {sent[1]} of {EMAILS}")
    assert sum(sent) == EMAILS and all(n > 0 for n in sent), sent  # both took part
    assert sorted(inbox.message_ids()) == sorted(expected)
    assert inbox.duplicates() == 0
