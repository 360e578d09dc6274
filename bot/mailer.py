"""Delivering the outbox.

Handlers only ever write `OutboxEmail` rows; `OutboxSender` runs beside the bot in the same
process, claims due rows, sends them through a `MailBackend` and records the outcome. A slow or
failing SMTP server therefore never blocks a chat: the chat has long since answered.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
from datetime import timedelta
from email import message_from_string, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Protocol

import aiosmtplib

from bot.clock import Clock
from bot.settings import Settings, SmtpSecurity
from storage import repository
from storage.db import Database
from storage.models import OutboxStatus

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 8
LEASE = timedelta(minutes=2)


class PermanentFailure(Exception):
    """The server refused the message for good (5xx, unknown recipient): never retried."""


class MailBackend(Protocol):
    async def send(self, message: EmailMessage, *, outbox_id: int) -> str | None:
        """Deliver one message. Returns where it was stored, if anywhere. Raises on failure."""
        ...


class FileBackend:
    """Writes each message as `var/mail/<id>.eml`: the default for `make run` and the demo."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    async def send(self, message: EmailMessage, *, outbox_id: int) -> str | None:
        return await asyncio.to_thread(self._write, message, outbox_id)

    def _write(self, message: EmailMessage, outbox_id: int) -> str:
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self.directory / f"{outbox_id:08d}.eml"
        temporary = path.with_suffix(".tmp")
        temporary.write_bytes(message.as_bytes(policy=policy.SMTP))
        os.replace(temporary, path)
        return str(path)


class SmtpBackend:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    async def send(self, message: EmailMessage, *, outbox_id: int) -> str | None:
        s = self.settings
        try:
            await aiosmtplib.send(
                message,
                hostname=s.smtp_host,
                port=s.smtp_port,
                username=s.smtp_user,
                password=s.smtp_password,
                use_tls=s.smtp_security == SmtpSecurity.TLS,
                start_tls=s.smtp_security == SmtpSecurity.STARTTLS,
                timeout=s.smtp_timeout_seconds,
            )
        except aiosmtplib.SMTPRecipientsRefused as exc:
            raise PermanentFailure(str(exc)) from exc
        except aiosmtplib.SMTPResponseException as exc:
            if 500 <= exc.code < 600:
                raise PermanentFailure(f"{exc.code} {exc.message}") from exc
            raise
        return None


def backoff(attempts: int) -> timedelta:
    """Exponential, capped at an hour, with jitter so a recovering server is not stampeded."""
    base = min(3600.0, 30.0 * 2 ** max(0, attempts - 1))
    return timedelta(seconds=base * random.uniform(0.8, 1.2))


class OutboxSender:
    def __init__(
        self, db: Database, backend: MailBackend, clock: Clock, *, poll_seconds: float = 5.0
    ) -> None:
        self.db = db
        self.backend = backend
        self.clock = clock
        self.poll_seconds = poll_seconds
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def wake(self) -> None:
        """Called after a transaction that queued mail has committed."""
        self._wake.set()

    async def run_once(self, batch: int = 50) -> int:
        """Send what is due now. Returns how many were delivered."""
        now = self.clock.now()
        async with self.db.session() as session:
            ids = await repository.due_email_ids(session, now, batch)
        delivered = 0
        for email_id in ids:
            delivered += await self._deliver(email_id)
        return delivered

    async def _deliver(self, email_id: int) -> int:
        now = self.clock.now()
        async with self.db.session() as session:
            email = await repository.claim_email(session, email_id, now, LEASE)
        if email is None:
            return 0
        message = message_from_string(email.message, _class=EmailMessage, policy=policy.default)
        status, error, stored, retry_at = OutboxStatus.SENT, None, None, None
        try:
            stored = await self.backend.send(message, outbox_id=email_id)
        except PermanentFailure as exc:
            status, error = OutboxStatus.FAILED, str(exc)[:1000]
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            error = f"{type(exc).__name__}: {exc}"[:1000]
            if email.attempts >= MAX_ATTEMPTS:
                status = OutboxStatus.FAILED
            else:
                status, retry_at = OutboxStatus.PENDING, self.clock.now() + backoff(email.attempts)
        async with self.db.session() as session:
            await repository.record_email_result(
                session,
                email_id,
                status=status,
                now=self.clock.now(),
                error=error,
                next_attempt_at=retry_at,
                stored_as=stored,
            )
        log.info("outbox email %s (%s): %s", email_id, email.kind, status.value)
        return 1 if status == OutboxStatus.SENT else 0

    async def run_forever(self) -> None:
        while True:
            self._wake.clear()
            try:
                await self.run_once()
            except Exception:
                log.exception("outbox sweep failed; retrying")
            # asyncio.timeout, not wait_for: no helper task is created on every pass.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.poll_seconds):
                    await self._wake.wait()

    def start(self) -> None:
        self._task = asyncio.create_task(self.run_forever(), name="outbox-sender")

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None


def backend_for(settings: Settings) -> MailBackend:
    if settings.mail_backend == "smtp":
        return SmtpBackend(settings)
    return FileBackend(settings.mail_dir)
