"""Benchmark 3, mail: emails through the outbox against raw aiosmtplib.

The same rendered emails go to one local SMTP server (`bench.smtp_sink`, in its own process)
three ways, one after the other in the same run:

- the outbox: rows queued in a migrated SQLite file, delivered by the real `OutboxSender` over
  `SmtpBackend` (claims, leases, results recorded), timed from the first claim until every row
  is `sent`;
- raw aiosmtplib over one reused connection: `send_message` for each message, the baseline the
  outbox should come close to;
- raw aiosmtplib with a new connection per email: connect, `send_message`, `QUIT`.

Targets (issue 10): the outbox at least 0.8x raw reused and at least 2x one connection per email.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from pathlib import Path

import aiosmtplib

from bot.core.emails import Unsubscribe, render
from bot.core.settings import Settings
from bot.domain.clock import SystemClock
from bot.mail.backends import SmtpBackend
from bot.mail.sender import OutboxSender
from storage import outbox
from storage.db import Database
from storage.migrate import upgrade_async
from storage.models import OutboxEmail, OutboxStatus

EMAILS = 2000
QUICK_EMAILS = 50
MAIL_FROM = "Veileder <veileder@nmf.example>"
ROOT = Path(__file__).resolve().parent.parent


def rendered(count: int, now: datetime) -> list[tuple[str, EmailMessage]]:
    """`count` verification emails as the bot renders them: (idempotency key, message)."""
    emails = []
    for number in range(count):
        key = f"bench-verify:{number}"
        _, message = render(
            "verify",
            language="nb" if number % 2 else "en",
            recipient=f"person{number}@example.no",
            mail_from=MAIL_FROM,
            idempotency_key=key,
            now=now,
            unsubscribe=Unsubscribe(
                deep_link=f"https://t.me/veileder_bench_bot?start=u_{number}",
                mailto="mailto:veileder@nmf.example?subject=unsubscribe",
                https=f"https://veileder.example/unsubscribe/{number}",
            ),
            name=f"Person Nummer {number}",
            code=f"{number:06d}",
            link=f"https://t.me/veileder_bench_bot?start=v_{number}",
            minutes=30,
        )
        emails.append((key, message))
    return emails


class Sink:
    """The SMTP server process: its port, and how many messages it has taken so far."""

    def __init__(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bench.smtp_sink"],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None and self.process.stdin is not None
        self.port = int(self.process.stdout.readline())

    def count(self) -> tuple[int, float]:
        """(messages accepted, the server's CPU seconds) so far."""
        assert self.process.stdout is not None and self.process.stdin is not None
        self.process.stdin.write("count\n")
        self.process.stdin.flush()
        messages, cpu = self.process.stdout.readline().split()
        return int(messages), float(cpu)

    def close(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


@dataclass
class Figure:
    name: str
    emails: int
    seconds: float
    server_cpu: float

    @property
    def rate(self) -> float:
        return self.emails / self.seconds


def client(port: int) -> aiosmtplib.SMTP:
    return aiosmtplib.SMTP(hostname="127.0.0.1", port=port, timeout=15, start_tls=False)


async def raw_reused(sink: Sink, messages: list[EmailMessage]) -> float:
    smtp = client(sink.port)
    started = time.perf_counter()
    await smtp.connect()
    for message in messages:
        await smtp.send_message(message)
    await smtp.quit()
    return time.perf_counter() - started


async def raw_per_email(sink: Sink, messages: list[EmailMessage]) -> float:
    started = time.perf_counter()
    for message in messages:
        smtp = client(sink.port)
        await smtp.connect()
        await smtp.send_message(message)
        await smtp.quit()
    return time.perf_counter() - started


async def through_outbox(
    sink: Sink, emails: list[tuple[str, EmailMessage]], now: datetime, workdir: Path
) -> float:
    url = f"sqlite+aiosqlite:///{(workdir / 'bench.db').as_posix()}"
    await upgrade_async(url)
    db = Database(url)
    try:
        async with db.session() as session:
            for key, message in emails:
                queued = OutboxEmail(
                    idempotency_key=key,
                    kind="verify",
                    recipient=str(message["To"]),
                    subject=str(message["Subject"]),
                    message=message.as_string(),
                    next_attempt_at=now,
                    created_at=now,
                )
                assert await outbox.queue_email(session, queued)
        settings = Settings(
            _env_file=None,  # type: ignore[call-arg]
            var_dir=workdir / "var",
            database_url=url,
            mail_backend="smtp",
            mail_from=MAIL_FROM,
            smtp_host="127.0.0.1",
            smtp_port=sink.port,
            smtp_timeout_seconds=15,
        )
        sender = OutboxSender(db, SmtpBackend(settings), SystemClock())
        started = time.perf_counter()
        sent = await sender.run_once()
        elapsed = time.perf_counter() - started
        async with db.session() as session:
            counts = await outbox.count_by_status(session)
    finally:
        await db.close()
    assert sent == len(emails) == counts[OutboxStatus.SENT], (sent, counts)
    return elapsed


async def measure(name: str, sink: Sink, count: int, variant: object) -> Figure:
    before, cpu_before = sink.count()
    seconds = await variant  # type: ignore[misc]
    after, cpu_after = sink.count()
    assert after - before == count, f"{name}: the server took {after - before} of {count}"
    return Figure(name, count, seconds, cpu_after - cpu_before)


def verdict(ok: bool) -> str:
    return "met" if ok else "not met"


async def run(quick: bool) -> str:
    count = QUICK_EMAILS if quick else EMAILS
    now = SystemClock().now()
    emails = rendered(count, now)
    messages = [message for _, message in emails]
    sink = Sink()
    try:
        with tempfile.TemporaryDirectory(prefix="bench-mail-") as tmp:
            # Warm up the server and the client's imports, then the three in the same run.
            await raw_reused(sink, messages[:5])
            figures = [
                await measure(
                    "outbox (OutboxSender)",
                    sink,
                    count,
                    through_outbox(sink, emails, now, Path(tmp)),
                ),
                await measure(
                    "raw aiosmtplib, one reused connection", sink, count, raw_reused(sink, messages)
                ),
                await measure(
                    "raw aiosmtplib, a connection per email",
                    sink,
                    count,
                    raw_per_email(sink, messages),
                ),
            ]
    finally:
        sink.close()
    ours, reused, per_email = figures
    to_reused = ours.rate / reused.rate
    to_per_email = ours.rate / per_email.rate
    rows = "\n".join(
        f"| {f.name} | {f.emails} | {f.seconds:.2f} | {f.rate:.0f} | {f.server_cpu:.2f} |"
        for f in figures
    )
    return f"""## Mail

{count} rendered verification emails to a local aiosmtpd server in its own process
(`bench/smtp_sink.py`), sent three ways in this run. The outbox reads its rows from a migrated
SQLite file and records every result there.

| variant | emails | seconds | emails/s | server CPU s |
|---|---:|---:|---:|---:|
{rows}

| target | figure | |
|---|---:|---|
| outbox >= 0.8x raw reused | {to_reused:.2f}x | {verdict(to_reused >= 0.8)} |
| outbox >= 2x a connection per email | {to_per_email:.2f}x | {verdict(to_per_email >= 2)} |

Cores: {os.cpu_count()}; Python {sys.version.split()[0]}.
"""
