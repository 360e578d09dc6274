"""Delivering the outbox.

Handlers only ever write `OutboxEmail` rows (`storage.outbox.queue_email`, in the transaction
that causes the email); `OutboxSender` claims due rows with a lease, sends a batch over one
connection (one SMTP session: connect, a message per row, quit) and records each row's outcome
right after its send. A slow or failing SMTP server therefore never blocks a chat, and a crash
loses nothing: a row whose outcome was not recorded is still `sending` and is claimed again when
its lease runs out. Only the one message in flight when a sender died may arrive twice, and it
carries the same `Message-ID` both times.

What happens to a row:

- accepted: `sent`;
- 5xx reply, refused recipient, an address the server can never take: `failed` with the server's
  reason, never retried;
- connection error, timeout, 4xx reply: `pending` again, due after an exponential backoff with
  jitter (`backoff`), and `failed` once `max_attempts` claims were used up;
- the rows of the batch after a broken connection: `pending` at once, the attempt not counted.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from email import message_from_string, policy
from email.message import EmailMessage
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import aiosmtplib

from bot.clock import Clock
from bot.emails import message_id_for
from bot.settings import Settings, SmtpSecurity
from storage import outbox, repository
from storage.db import Database
from storage.models import OutboxEmail, OutboxStatus

if TYPE_CHECKING:
    from bot.services import Services

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 10  # with `backoff`: about four and a half hours of retrying before giving up
LEASE = timedelta(minutes=2)  # longer than one message takes at the SMTP timeout (4 commands)
# A claimed row waits its turn under a short lease; only the message being sent holds the full
# `LEASE` (renewed just before it goes). So after a sender is killed, the rows of its batch it
# had not begun come back within `CLAIM_LEASE`, and only the one in flight (which may have been
# sent) waits out `LEASE`. A batch at a normal pace is sent well within `CLAIM_LEASE`; a row
# still waiting when it runs out may go to another sender, and this one then skips it.
CLAIM_LEASE = timedelta(seconds=30)
BATCH = 20


class PermanentFailure(Exception):
    """The server refused the message for good (5xx, unknown recipient): never retried."""


class TemporaryFailure(Exception):
    """Try this message again later (4xx). `connection_usable` is False when the connection
    cannot carry the next message (421, a dropped connection, a timeout)."""

    def __init__(self, reason: str, *, connection_usable: bool = True) -> None:
        super().__init__(reason)
        self.connection_usable = connection_usable


class MailConnection(Protocol):
    async def send(self, message: EmailMessage, *, outbox_id: int) -> str | None:
        """Deliver one message. Returns where it was stored, if anywhere.

        Raises `PermanentFailure` or `TemporaryFailure`; any other exception is treated as a
        temporary failure after which the connection is not used again."""
        ...


class MailBackend(Protocol):
    def connect(self) -> AbstractAsyncContextManager[MailConnection]:
        """One connection for a batch of messages."""
        ...


class FileBackend:
    """Writes each message as `var/mail/<id>.eml`: the default for `make run` and the demo."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    @asynccontextmanager
    async def connect(self) -> AsyncIterator[FileBackend]:
        yield self

    async def send(self, message: EmailMessage, *, outbox_id: int) -> str | None:
        return await asyncio.to_thread(self._write, message, outbox_id)

    def _write(self, message: EmailMessage, outbox_id: int) -> str:
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self.directory / f"{outbox_id:08d}.eml"
        temporary = path.with_suffix(".tmp")
        temporary.write_bytes(message.as_bytes(policy=policy.SMTP))
        os.replace(temporary, path)
        return str(path)


def tls_options(security: SmtpSecurity) -> tuple[bool, bool]:
    """SMTP_SECURITY as aiosmtplib's (use_tls, start_tls). `none` is plain text throughout:
    aiosmtplib's default would upgrade opportunistically when the server offers STARTTLS."""
    match security:
        case SmtpSecurity.TLS:
            return True, False
        case SmtpSecurity.STARTTLS:
            return False, True
        case SmtpSecurity.NONE:
            return False, False


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:1000]


class SmtpConnection:
    """One SMTP session, reused for every message of a batch."""

    def __init__(self, client: aiosmtplib.SMTP) -> None:
        self.client = client

    async def send(self, message: EmailMessage, *, outbox_id: int) -> str | None:
        try:
            await self.client.send_message(message)
        except aiosmtplib.SMTPRecipientsRefused as exc:
            reason = "; ".join(f"{r.code} {r.message} <{r.recipient}>" for r in exc.recipients)
            if exc.recipients and all(400 <= r.code < 500 for r in exc.recipients):
                raise TemporaryFailure(reason) from exc
            raise PermanentFailure(reason) from exc
        except aiosmtplib.SMTPResponseException as exc:
            reason = f"{exc.code} {exc.message}"
            if exc.code == 421:  # "service not available, closing transmission channel"
                raise TemporaryFailure(reason, connection_usable=False) from exc
            if 400 <= exc.code < 500:
                raise TemporaryFailure(reason) from exc
            if 500 <= exc.code < 600:
                raise PermanentFailure(reason) from exc
            raise TemporaryFailure(reason, connection_usable=False) from exc
        except (aiosmtplib.SMTPNotSupported, ValueError) as exc:
            # An address this server can never take (SMTPUTF8 unsupported, unparseable).
            raise PermanentFailure(_describe(exc)) from exc
        except (aiosmtplib.SMTPException, OSError) as exc:  # dropped, timed out, refused
            raise TemporaryFailure(_describe(exc), connection_usable=False) from exc
        return None


class SmtpBackend:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def client(self) -> aiosmtplib.SMTP:
        s = self.settings
        use_tls, start_tls = tls_options(s.smtp_security)
        return aiosmtplib.SMTP(
            hostname=s.smtp_host,
            port=s.smtp_port,
            username=s.smtp_user,
            password=s.smtp_password,
            timeout=s.smtp_timeout_seconds,
            use_tls=use_tls,
            start_tls=start_tls,
        )

    @asynccontextmanager
    async def connect(self) -> AsyncIterator[SmtpConnection]:
        """Connect, say EHLO, STARTTLS and log in as configured; QUIT when the batch is done.
        Raises what aiosmtplib raises when the server cannot be reached or refuses us."""
        client = self.client()
        await client.connect()
        try:
            yield SmtpConnection(client)
        finally:
            if client.is_connected:
                with contextlib.suppress(aiosmtplib.SMTPException, OSError):
                    await client.quit()
            client.close()

    async def send(self, message: EmailMessage, *, outbox_id: int) -> str | None:
        """One message over its own connection."""
        async with self.connect() as connection:
            return await connection.send(message, outbox_id=outbox_id)


def backoff(attempts: int, rng: random.Random | None = None) -> timedelta:
    """Exponential (30 s, 1 min, 2 min, ...), capped at an hour, with ±20 % jitter so the
    senders' retries after an outage do not all arrive at the recovering server at once."""
    base = min(3600.0, 30.0 * 2 ** min(20, max(0, attempts - 1)))
    return timedelta(seconds=base * (rng or random).uniform(0.8, 1.2))


@dataclass(frozen=True)
class _Claim:
    """A claimed row: `attempts` is the claim's fencing token (see storage.outbox)."""

    id: int
    attempts: int
    kind: str
    idempotency_key: str
    message: str
    lease_until: datetime
    recipient: str = ""

    @classmethod
    def of(cls, email: OutboxEmail) -> _Claim:
        assert email.id is not None and email.lease_until is not None
        return cls(
            email.id,
            email.attempts,
            email.kind,
            email.idempotency_key,
            email.message,
            email.lease_until,
            email.recipient,
        )

    def as_message(self) -> EmailMessage:
        message = message_from_string(self.message, _class=EmailMessage, policy=policy.default)
        assert isinstance(message, EmailMessage)
        if message["Message-ID"] is None:  # rendered emails have one; anything else gets one
            message["Message-ID"] = message_id_for(self.idempotency_key, str(message["From"] or ""))
        return message


@dataclass
class _Batch:
    claimed: int = 0
    delivered: int = 0
    interrupted: bool = False


class OutboxSender:
    def __init__(
        self,
        db: Database,
        backend: MailBackend,
        clock: Clock,
        *,
        poll_seconds: float = 5.0,
        lease: timedelta = LEASE,
        claim_lease: timedelta = CLAIM_LEASE,
        batch: int = BATCH,
        max_attempts: int = MAX_ATTEMPTS,
        rng: random.Random | None = None,
    ) -> None:
        self.db = db
        self.backend = backend
        self.clock = clock
        self.poll_seconds = poll_seconds
        self.lease = lease
        self.claim_lease = min(claim_lease, lease)
        self.batch = batch
        self.max_attempts = max_attempts
        self.rng = rng or random.Random()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def wake(self) -> None:
        """Called after a transaction that queued mail has committed."""
        self._wake.set()

    async def run_once(self, batch: int | None = None) -> int:
        """Send everything due now, `batch` rows per connection. Returns how many were sent."""
        limit = batch or self.batch
        delivered = 0
        while True:
            result = await self._send_batch(limit)
            delivered += result.delivered
            if result.claimed < limit or result.interrupted:
                return delivered

    async def _send_batch(self, limit: int) -> _Batch:
        async with self.db.session() as session:
            rows = await outbox.claim_due(
                session, self.clock.now(), lease=self.claim_lease, limit=limit
            )
            claims = [_Claim.of(row) for row in rows]
        result = _Batch(claimed=len(claims))
        if not claims:
            return result  # no connection when there is nothing to send
        waiting = list(claims)  # claimed, not yet begun
        try:
            async with AsyncExitStack() as stack:
                try:
                    connection = await stack.enter_async_context(self.backend.connect())
                except Exception as exc:
                    log.warning("mail server unreachable, %d emails wait: %s", len(claims), exc)
                    await self._retry(claims, _describe(exc))
                    waiting.clear()
                    result.interrupted = True
                    return result
                while waiting:
                    claim = waiting.pop(0)
                    outcome = await self._send_one(connection, claim)
                    if outcome:
                        result.delivered += 1
                    elif outcome is False:  # the connection broke: hand the rest back
                        result.interrupted = True
                        break
        finally:
            # After a broken connection, and when cancelled (shutdown) or when recording failed:
            # what was not begun is due again at once, the attempt not counted. The one in
            # flight at a cancellation keeps its lease: it may have been sent.
            if waiting:
                with contextlib.suppress(Exception):
                    async with self.db.session() as session:
                        await outbox.release_claims(session, [(c.id, c.attempts) for c in waiting])
        return result

    async def _send_one(self, connection: MailConnection, claim: _Claim) -> bool | None:
        """Send one claimed row and record what happened. True when sent; False when the
        connection must not be used again; None when it went on to `failed`, was retried with
        the connection still good, or had been taken over by another sender."""
        if not await self._still_ours(claim):
            log.warning("outbox email %s: lease lost to another sender, skipped", claim.id)
            return None
        try:
            stored = await connection.send(claim.as_message(), outbox_id=claim.id)
        except PermanentFailure as exc:
            await self._record(claim, OutboxStatus.FAILED, error=str(exc)[:1000])
            if claim.kind != "verify":  # a refused address is not emailed again (bounced)
                async with self.db.session() as session:
                    await repository.suppress(session, claim.recipient, "bounced", self.clock.now())
            log.warning("outbox email %s (%s) failed for good: %s", claim.id, claim.kind, exc)
            return None
        except TemporaryFailure as exc:
            await self._retry([claim], str(exc)[:1000])
            return None if exc.connection_usable else False
        except Exception as exc:  # any other trouble: retry it, on a new connection
            await self._retry([claim], _describe(exc))
            return False
        await self._record(claim, OutboxStatus.SENT, stored_as=stored)
        log.info("outbox email %s (%s): sent", claim.id, claim.kind)
        return True

    async def _still_ours(self, claim: _Claim) -> bool:
        """Give the row about to be sent the full lease (it waited under the short claim lease);
        False when its claim lease ran out and another sender has taken it since."""
        now = self.clock.now()
        async with self.db.session() as session:
            return await outbox.renew_lease(
                session, claim.id, claim.attempts, until=now + self.lease
            )

    async def _record(self, claim: _Claim, status: OutboxStatus, **values: Any) -> None:
        async with self.db.session() as session:
            await outbox.record_email_result(
                session,
                claim.id,
                status=status,
                now=self.clock.now(),
                attempts=claim.attempts,
                **values,
            )

    async def _retry(self, claims: list[_Claim], reason: str) -> None:
        now = self.clock.now()
        async with self.db.session() as session:
            for claim in claims:
                if claim.attempts >= self.max_attempts:
                    log.warning("outbox email %s: giving up: %s", claim.id, reason)
                    await outbox.record_email_result(
                        session,
                        claim.id,
                        status=OutboxStatus.FAILED,
                        now=now,
                        attempts=claim.attempts,
                        error=f"gave up after {claim.attempts} attempts: {reason}"[:1000],
                    )
                else:
                    await outbox.record_email_result(
                        session,
                        claim.id,
                        status=OutboxStatus.PENDING,
                        now=now,
                        attempts=claim.attempts,
                        error=reason,
                        next_attempt_at=now + backoff(claim.attempts, self.rng),
                    )

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


async def sweep(services: Services) -> int:
    """The scheduler's outbox sweep: send everything due. Returns how many were sent."""
    return await services.sender.run_once()


def backend_for(settings: Settings) -> MailBackend:
    if settings.mail_backend == "smtp":
        return SmtpBackend(settings)
    return FileBackend(settings.mail_dir)
