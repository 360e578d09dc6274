"""A crash loses no email: a sender process delivering a few hundred queued emails over SMTP is
killed with SIGKILL several times, each time after a few more deliveries, and started again. In
the end every queued email has arrived, and only the messages of the window in flight at a kill
(at most `WINDOW`: accepted, their `sent` not yet committed) may have arrived twice, with the
same Message-ID."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bot.domain.clock import SystemClock
from bot.mail.sender import WINDOW
from storage import outbox
from storage.db import Database
from storage.models import OutboxStatus
from tests.smtp_server import Inbox, smtp_server
from tests.support.outbox_worker import queue_emails

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow

EMAILS = 300
KILLS = 6


def start_worker(
    database_url: str,
    port: int,
    workdir: Path,
    *,
    lease_seconds: str | None = "1",  # a killed sender's rows come back after a second
    batch: str | None = "20",
) -> subprocess.Popen[bytes]:
    """A sender process; `None` leaves the lease or batch at production's default."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("TELEGRAM_", "DATABASE_", "SMTP_", "MAIL_", "OUTBOX_"))
    }
    env.update(
        PYTHONPATH=str(ROOT),
        DATABASE_URL=database_url,
        VAR_DIR=str(workdir / "var"),
        MAIL_BACKEND="smtp",
        MAIL_FROM="Veileder <veileder@nmf.example>",
        SMTP_HOST="127.0.0.1",
        SMTP_PORT=str(port),
        SMTP_TIMEOUT_SECONDS="5",
        LOG_LEVEL="WARNING",
    )
    if lease_seconds is not None:
        env["OUTBOX_LEASE_SECONDS"] = lease_seconds
    if batch is not None:
        env["OUTBOX_BATCH"] = batch
    return subprocess.Popen(
        [sys.executable, "-m", "tests.support.outbox_worker"],
        cwd=workdir,  # no .env from the checkout
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


async def wait_for(condition: object, within: float, what: str) -> None:
    deadline = time.monotonic() + within
    while not condition():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.002)


async def test_killing_the_sender_again_and_again_loses_no_email(
    tmp_path: Path, migrated_sqlite_url: str
) -> None:
    url = migrated_sqlite_url
    db = Database(url)
    expected = await queue_emails(db, EMAILS, SystemClock().now())
    rng = random.Random(20260329)
    inbox = Inbox(delay=0.01)  # stored, then 10 ms until the 250: kills land mid-message
    kills = 0
    with smtp_server(inbox) as (_, port):
        for _ in range(KILLS):
            worker = start_worker(url, port, tmp_path)
            target = len(inbox) + rng.randint(5, 40)
            await wait_for(
                lambda: len(inbox) >= target or worker.poll() is not None,  # noqa: B023
                within=30,
                what=f"{target} deliveries",
            )
            assert worker.poll() is None, worker.stderr.read().decode() if worker.stderr else ""
            await asyncio.sleep(rng.uniform(0, 0.02))  # in a send, or recording one, or between
            worker.send_signal(signal.SIGKILL)
            worker.wait()
            kills += 1
        worker = start_worker(url, port, tmp_path)
        _, errors = await asyncio.to_thread(worker.communicate, timeout=60)
        assert worker.returncode == 0, errors.decode()
    async with db.session() as session:
        counts = await outbox.count_by_status(session)
    await db.close()

    received = inbox.message_ids()
    duplicates = inbox.duplicates()
    print(
        f"crash test: {EMAILS} queued, {kills} kills, {len(set(received))} distinct delivered, "
        f"{duplicates} duplicates, {len(received)} messages in all"
    )
    assert counts[OutboxStatus.SENT] == EMAILS
    assert set(received) == expected
    assert duplicates <= kills * WINDOW
