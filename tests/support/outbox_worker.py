"""A sender process for the crash test, and the emails the outbox tests queue.

Run as `python -m tests.support.outbox_worker`: settings come from the environment as in
production (DATABASE_URL, SMTP_HOST, SMTP_PORT, ...), plus OUTBOX_LEASE_SECONDS and OUTBOX_BATCH.
It sends with the real `OutboxSender` over SMTP until no email is pending or being sent, then
exits 0. The test kills it with SIGKILL at random moments and starts it again.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from datetime import datetime, timedelta

from bot.core.emails import Unsubscribe, render
from bot.core.settings import Settings
from bot.domain.clock import SystemClock
from bot.mail.backends import SmtpBackend
from bot.mail.sender import BATCH, OutboxSender
from storage import outbox
from storage.db import Database
from storage.models import OutboxEmail, OutboxStatus

MAIL_FROM = "Veileder <veileder@nmf.example>"


def email_row(
    number: int,
    now: datetime,
    *,
    kind: str = "verify",
    recipient: str | None = None,
    mail_from: str = MAIL_FROM,
) -> OutboxEmail:
    """A rendered email as the bot queues it: `verify` or `coordinator_invite`."""
    key = f"test-{kind}:{number}"
    recipient = recipient or f"person{number}@example.no"
    if kind == "coordinator_invite":
        subject, message = render(
            kind,
            language="nb",
            recipient=recipient,
            mail_from=mail_from,
            idempotency_key=key,
            now=now,
            reply_to="Koordinator <koordinator@nmf.example>",
            scope="Oslo – kardiologi",
            link=f"https://t.me/veileder_test_bot?start=c_{number}",
            days=14,
        )
    else:
        subject, message = render(
            "verify",
            language="en",
            recipient=recipient,
            mail_from=mail_from,
            idempotency_key=key,
            now=now,
            unsubscribe=Unsubscribe(
                deep_link=f"https://t.me/veileder_test_bot?start=u_{number}",
                mailto="mailto:veileder@nmf.example?subject=unsubscribe",
                https=f"https://veileder.example/unsubscribe/{number}",
            ),
            name=f"Person <{number}>",
            code=f"{number:06d}",
            link=f"https://t.me/veileder_test_bot?start=v_{number}",
            minutes=30,
        )
    return OutboxEmail(
        idempotency_key=key,
        kind=kind,
        recipient=recipient,
        subject=subject,
        message=message.as_string(),
        next_attempt_at=now,
        created_at=now,
    )


async def queue_emails(db: Database, count: int, now: datetime, *, start: int = 0) -> set[str]:
    """Queue `count` emails; returns the Message-IDs they will carry."""
    expected = set()
    async with db.session() as session:
        for number in range(start, start + count):
            row = email_row(number, now)
            assert await outbox.queue_email(session, row)
            assert row.message_id is not None  # queue_email keeps the rendered one
            expected.add(row.message_id)
    return expected


async def main() -> int:
    settings = Settings()
    logging.basicConfig(level=settings.log_level, stream=sys.stderr)
    lease = timedelta(seconds=float(os.environ.get("OUTBOX_LEASE_SECONDS", "120")))
    batch = int(os.environ.get("OUTBOX_BATCH", str(BATCH)))
    db = Database(settings.database)
    sender = OutboxSender(db, SmtpBackend(settings), SystemClock(), lease=lease, batch=batch)
    try:
        while True:
            await sender.run_once()
            async with db.session() as session:
                counts = await outbox.count_by_status(session)
            if counts[OutboxStatus.PENDING] + counts[OutboxStatus.SENDING] == 0:
                return 0
            await asyncio.sleep(0.05)  # rows leased by a killed predecessor, or backing off
    finally:
        await db.close()


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
