"""A sender killed in the middle of a batch holds up only the window it was sending.

Before, every row of a 50-row claim kept the full 2-minute lease, so after one SIGKILL the rows
the dead sender had not even begun waited two minutes for anyone else to send them (474 emails
did in production). Now a claimed row waits its turn under the short claim lease, and only the
window being sent (at most `WINDOW` messages, recorded by one commit) holds the full lease:
another sender delivers the rest within the claim lease, and only the window in flight (whose
messages may have arrived) waits out the full lease.

The other sender reads a clock already one claim lease (and some slack) past the kill, rather
than the test waiting that half minute in real time: the leases themselves are the dead
process's, written with the real time."""

from __future__ import annotations

import asyncio
import signal
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlmodel import col, select

from bot.core.settings import Settings
from bot.domain.clock import ShiftedClock, SystemClock
from bot.mail.backends import SmtpBackend
from bot.mail.sender import BATCH, CLAIM_LEASE, LEASE, WINDOW, OutboxSender
from storage import outbox
from storage.db import Database
from storage.models import OutboxEmail, OutboxStatus
from tests.mail.test_outbox_crash import start_worker, wait_for
from tests.smtp_server import Inbox, smtp_server
from tests.support.outbox_worker import MAIL_FROM, queue_emails

pytestmark = pytest.mark.slow

EMAILS = 3 * BATCH
SLACK = timedelta(seconds=5)  # clock reading and process start-up, not a timing claim


async def leases_of_sending(db: Database) -> list[datetime]:
    async with db.session() as session:
        result = await session.execute(
            select(col(OutboxEmail.lease_until)).where(
                col(OutboxEmail.status) == OutboxStatus.SENDING
            )
        )
    return [lease for lease in result.scalars() if lease is not None]


async def test_after_a_sender_is_killed_mid_batch_another_sends_the_rest_within_the_claim_lease(
    migrated_url: str, tmp_path: Path
) -> None:
    db = Database(migrated_url)
    expected = await queue_emails(db, EMAILS, SystemClock().now())
    inbox = Inbox(delay=0.05)  # a steady pace: the kill lands inside a batch
    with smtp_server(inbox) as (_, port):
        # Production's lease and batch: OUTBOX_LEASE_SECONDS and OUTBOX_BATCH are not set.
        worker = start_worker(migrated_url, port, tmp_path, lease_seconds=None, batch=None)
        await wait_for(lambda: len(inbox) >= BATCH // 2 or worker.poll() is not None, 60, "sends")
        assert worker.poll() is None, worker.stderr.read().decode() if worker.stderr else ""
        worker.send_signal(signal.SIGKILL)
        worker.wait()
        killed_at = datetime.now(UTC)

        held = await leases_of_sending(db)
        in_flight = [lease for lease in held if lease > killed_at + CLAIM_LEASE + SLACK]
        waiting = [lease for lease in held if lease <= killed_at + CLAIM_LEASE + SLACK]
        assert len(in_flight) <= WINDOW  # only the window being sent holds the full lease
        assert waiting  # the rest of the batch, claimed but not begun

        started = time.monotonic()
        settings = Settings(
            _env_file=None,  # type: ignore[call-arg]
            var_dir=tmp_path / "var",
            database_url=migrated_url,
            mail_backend="smtp",
            mail_from=MAIL_FROM,
            smtp_host="127.0.0.1",
            smtp_port=port,
            smtp_timeout_seconds=5,
        )
        # Now as it will be when the claim lease of the rows it had not begun has run out.
        after_the_claim_lease = ShiftedClock(CLAIM_LEASE + SLACK)
        other = OutboxSender(db, SmtpBackend(settings), after_the_claim_lease)

        async def delivered_all_but_in_flight() -> bool:
            await other.run_once()
            async with db.session() as session:
                counts = await outbox.count_by_status(session)
            return counts[OutboxStatus.SENT] >= EMAILS - len(in_flight)

        # The old wait, never reached: the full lease since the kill, on the other's clock.
        deadline = started + (LEASE - CLAIM_LEASE - SLACK).total_seconds()
        while not await delivered_all_but_in_flight():
            assert time.monotonic() < deadline, "rows of the killed batch waited out the lease"
            await asyncio.sleep(0.2)
        elapsed = time.monotonic() - started
        async with db.session() as session:
            counts = await outbox.count_by_status(session)
    await db.close()

    print(
        f"kill mid-batch: {len(waiting)} claimed rows were waiting; the other sender "
        f"delivered the rest {elapsed:.1f} s after the claim lease ran out"
    )
    assert counts[OutboxStatus.SENT] + counts[OutboxStatus.SENDING] == EMAILS
    assert counts[OutboxStatus.SENDING] <= len(in_flight)
    assert len(set(inbox.message_ids()) & expected) >= EMAILS - len(in_flight)
    assert inbox.duplicates() <= WINDOW
