"""`python -m bot suppressions list|remove` and `python -m bot outbox failed|retry` as the operator
runs them (subprocesses on a SQLite file), after a real SMTP server bounced one email and refused
to relay another."""

from __future__ import annotations

import os
import random
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlmodel import col, select

from bot.core.settings import Settings
from bot.domain.clock import FrozenClock
from bot.mail.backends import SmtpBackend
from bot.mail.sender import OutboxSender
from storage import outbox, repository
from storage.db import Database
from storage.models import OutboxEmail, OutboxStatus
from tests.smtp_server import smtp_server
from tests.support.outbox_worker import MAIL_FROM, email_row

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def bot(workdir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    clean = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("TELEGRAM_", "DATABASE_", "SMTP_", "MAIL_", "DEMO_"))
    }
    clean.update(PYTHONPATH=str(ROOT))
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        cwd=workdir,
        env=clean,
        capture_output=True,
        text=True,
        timeout=120,
    )


async def rows(db: Database) -> list[OutboxEmail]:
    async with db.session() as session:
        result = await session.execute(select(OutboxEmail).order_by(col(OutboxEmail.id)))
        return list(result.scalars())


async def test_the_operator_sees_lifts_and_retries_what_the_mail_server_refused(
    tmp_path, migrated_sqlite_url
):
    url = migrated_sqlite_url  # where `python -m bot` in tmp_path finds it: var/veileder.db
    clock = FrozenClock(datetime.now().astimezone())
    db = Database(url)
    try:
        async with db.session() as session:
            for number in (1, 2):
                await outbox.queue_email(
                    session, email_row(number, clock.now(), kind="coordinator_invite")
                )
            await repository.suppress(session, "gone@uio.no", "unsubscribed", clock.now())
        with smtp_server() as (inbox, port):
            inbox.data_script = ["550 5.1.1 User unknown", "554 5.7.1 Relay access denied"]
            settings = Settings(
                _env_file=None,  # type: ignore[call-arg]
                var_dir=tmp_path / "var",
                database_url=url,
                mail_backend="smtp",
                mail_from=MAIL_FROM,
                smtp_host="127.0.0.1",
                smtp_port=port,
            )
            sender = OutboxSender(db, SmtpBackend(settings), clock, rng=random.Random(1))
            assert await sender.run_once() == 0

            listed = bot(tmp_path, "suppressions", "list")
            assert listed.returncode == 0
            lines = listed.stdout.splitlines()
            assert any(
                line.startswith("person1@example.no")
                and line.endswith("the address bounced: 550 5.1.1 User unknown")
                for line in lines
            ), lines
            assert any(
                line.startswith("gone@uio.no") and line.endswith("unsubscribed") for line in lines
            )
            assert not any("person2@example.no" in line for line in lines)  # held, not silenced

            failed = bot(tmp_path, "outbox", "failed")
            assert failed.returncode == 0
            held_line, failed_line = failed.stdout.splitlines()
            assert "\theld\t" in held_line and "person2@example.no" in held_line
            assert held_line.endswith("554 5.7.1 Relay access denied")
            assert "\tfailed\t" in failed_line and failed_line.endswith("550 5.1.1 User unknown")
            assert "1 email is held" in failed.stderr and "outbox retry" in failed.stderr

            refused = bot(tmp_path, "suppressions", "remove", "GONE@uio.no")
            assert refused.returncode == 1
            assert "only they can undo that" in refused.stderr
            assert bot(tmp_path, "suppressions", "remove", "nobody@uio.no").returncode == 1

            lifted = bot(tmp_path, "suppressions", "remove", "Person1@Example.no")
            assert lifted.returncode == 0
            assert "person1@example.no is off the suppression list" in lifted.stdout
            assert "person1" not in bot(tmp_path, "suppressions", "list").stdout

            # The relay is fixed; the operator retries, and the running sender delivers it.
            inbox.data_script = []
            retried = bot(tmp_path, "outbox", "retry")
            assert retried.returncode == 0
            assert "Held emails released: 1." in retried.stdout
            clock.advance(timedelta(minutes=5))  # the command ran on the system clock, later
            assert await sender.run_once() == 1
        assert [m["To"] for m in inbox.received] == ["person2@example.no"]
        assert [r.status for r in await rows(db)] == [OutboxStatus.FAILED, OutboxStatus.SENT]
        clock.advance(timedelta(hours=2))
        assert bot(tmp_path, "outbox", "retry").stdout.startswith("Held emails released: 0.")
    finally:
        await db.close()
