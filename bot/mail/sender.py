"""Delivering the outbox.

Handlers only ever write `OutboxEmail` rows (`storage.outbox.queue_email`, in the transaction
that causes the email); `OutboxSender` claims due rows with a lease, sends a batch over one
connection (one SMTP session: connect, a message per row, quit) and records the outcomes by
windows of `WINDOW` messages. A slow or failing SMTP server therefore never blocks a chat, and
a crash loses nothing: a row whose outcome was not recorded is still `sending` and is claimed
again when its lease runs out.

Sent once, or (after a crash) at most twice: delivery is at least once. SMTP has no way to ask
whether a message arrived, so a message the server accepted but whose `sent` was not committed
when the sender died is sent again, with the same `Message-ID` (made when the email was queued,
stored with it; most mail systems show such a copy once). Recording every message before the
next one goes would bound that to the one message in flight, at a commit per message; the
outbox commits once per window instead (one commit records the window before as sent and gives
the next `WINDOW` rows their full lease), so after a SIGKILL at most `WINDOW` (5) messages may
arrive twice, and only those rows wait out the full lease; the rest of the batch comes back
within the claim lease. The other way round (at most once: recording `sent` before sending)
would lose the message whenever the send then fails or the sender dies, which for a
verification code or an offer is worse than a duplicate. A window opened more than a claim lease
ago (a slow server) is not trusted with another message: the next one opens a new window.

Speed: what is stored goes out as it is (`Outgoing.raw`, no parsing), and the window's commit
runs while MAIL and RCPT travel, DATA waiting for it (`SmtpConnection`); the other messages of
a window touch no database at all.

What happens to a row (`bot.mail.backends.classify` reads the reply's enhanced status code):

- accepted: `sent`;
- refused because of the recipient's address (5.1.x but the sender's 5.1.7/5.1.8, 5.2.1
  "mailbox disabled"; a 550/551/553 to RCPT from a server without enhanced codes): `failed`,
  and the address is suppressed as `bounced` with the server's reply, so nothing but
  verification codes goes there again - unless it is a coordinator's address: coordinators are
  never suppressed (their digests are how failures are reported);
- an address this server can never take (SMTPUTF8 unsupported, unparseable): `failed`;
- refused for a reason the operator must fix - any other 5xx: relaying denied and policy
  (5.7.x, e.g. `554 5.7.1 Relay access denied`), protocol (5.5.x), the login (`535 5.7.8`) or
  the server refusing us at the greeting: `held`. A held row keeps its message and is neither
  failed nor suppressed; it is tried again after `HOLD_RETRY` (an hour) for as long as the
  problem lasts, and at once after `python -m bot outbox retry`. It is reported loudly: an
  ERROR log line (ids, kinds and the reply, addresses redacted) each time, and, in working
  hours, a chat message to the national coordinators (`bot.services.delivery`);
- connection error, timeout, 4xx reply: `pending` again, due after an exponential backoff with
  jitter (`backoff`), and `failed` once `max_attempts` claims (since the row was last held)
  were used up;
- the rows of the batch after a broken connection: `pending` at once, the attempt not counted.

`failed` and `held` rows reach the responsible coordinators in chat within the working day, with
the person's name (`bot.services.delivery`), and in their digest. A `sent` or `failed` row keeps no
subject or body (`storage.outbox`).
"""

from __future__ import annotations

import contextlib
import logging
import random
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.logs import redact
from bot.core.loop import Periodic
from bot.domain.clock import Clock
from bot.mail.backends import (
    LeaseLost,
    MailBackend,
    MailConnection,
    OperatorProblem,
    Outgoing,
    PermanentFailure,
    TemporaryFailure,
    describe,
)
from storage import outbox, repository
from storage.db import Database
from storage.models import OutboxEmail, OutboxStatus

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 10  # with `backoff`: about four and a half hours of retrying before giving up
LEASE = timedelta(minutes=2)  # longer than one message takes at the SMTP timeout (4 commands)
HOLD_RETRY = timedelta(hours=1)  # a held email is tried again this often until it goes

# A claimed row waits its turn under a short lease; only the message being sent holds the full
# `LEASE` (renewed just before it goes). So after a sender is killed, the rows of its batch it
# had not begun come back within `CLAIM_LEASE`, and only the one in flight (which may have been
# sent) waits out `LEASE`. A batch at a normal pace is sent well within `CLAIM_LEASE`; a row
# still waiting when it runs out may go to another sender, and this one then skips it.
CLAIM_LEASE = timedelta(seconds=30)
BATCH = 20
# Messages between two commits of a batch: one commit records the window before as sent and
# gives the next window its full lease. At most this many accepted messages are unrecorded at
# any time, so at most this many may arrive twice after a crash (see the module docstring).
WINDOW = 5


def _log_sent(sent: list[_Sent]) -> None:
    for s in sent:
        log.info("outbox email %s (%s): sent", s.claim.id, s.claim.kind)


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
    attempts_before_hold: int = 0
    message_id: str | None = None

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
            email.attempts_before_hold,
            email.message_id,
        )

    @property
    def tries(self) -> int:
        """Claims since the row was last released from `held`: what giving up counts."""
        return self.attempts - self.attempts_before_hold

    def outgoing(self) -> Outgoing:
        return Outgoing(self.id, self.message, self.idempotency_key, self.message_id)


@dataclass(frozen=True)
class _Sent:
    """A row the server has accepted whose `sent` is not recorded yet (at most a window)."""

    claim: _Claim
    stored_as: str | None


@dataclass
class _Batch:
    claimed: int = 0
    delivered: int = 0
    interrupted: bool = False
    unrecorded: list[_Sent] = field(default_factory=list)
    waiting: list[_Claim] = field(default_factory=list)  # claimed, not yet begun
    renewed: dict[int, bool] = field(default_factory=dict)  # window rows: still ours?
    opened: datetime = datetime.min  # when the current window's commit was made


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
        window: int = WINDOW,
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
        self.window = max(1, window)
        self.max_attempts = max_attempts
        self.rng = rng or random.Random()
        self._loop = Periodic("outbox-sender", self.run_once, poll_seconds, log=log)

    def wake(self) -> None:
        """Called after a transaction that queued mail has committed."""
        self._loop.wake()

    async def run_once(self, batch: int | None = None) -> int:
        """Send everything due now, `batch` rows per connection. Returns how many were sent."""
        limit = batch or self.batch
        delivered = 0
        async with self.db.session() as session:  # held ones whose hour is up: try again
            await outbox.release_held(session, self.clock.now())
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
        result = _Batch(claimed=len(claims), waiting=list(claims))
        if not claims:
            return result  # no connection when there is nothing to send
        waiting = result.waiting
        try:
            async with AsyncExitStack() as stack:
                try:
                    connection = await stack.enter_async_context(self.backend.connect())
                except OperatorProblem as exc:
                    await self._hold(claims, str(exc))
                    waiting.clear()
                    result.interrupted = True
                    return result
                except Exception as exc:
                    log.warning("mail server unreachable, %d emails wait: %s", len(claims), exc)
                    await self._retry(claims, describe(exc))
                    waiting.clear()
                    result.interrupted = True
                    return result
                while waiting:
                    claim = waiting.pop(0)
                    outcome = await self._send_one(connection, claim, result)
                    if outcome:
                        result.delivered += 1
                    elif outcome is False:  # the connection broke: hand the rest back
                        result.interrupted = True
                        break
                await self._record_sent(result)
        finally:
            # After a broken connection, and when cancelled (shutdown) or when recording failed:
            # what was not begun is due again at once, the attempt not counted. The one in
            # flight at a cancellation keeps its lease: it may have been sent. One accepted but
            # not yet recorded is recorded now if the database lets us.
            if result.unrecorded:
                with contextlib.suppress(Exception):
                    await self._record_sent(result)
            if waiting:
                with contextlib.suppress(Exception):
                    async with self.db.session() as session:
                        await outbox.release_claims(session, [(c.id, c.attempts) for c in waiting])
        return result

    async def _send_one(
        self, connection: MailConnection, claim: _Claim, batch: _Batch
    ) -> bool | None:
        """Send one claimed row. True when the server accepted it (recorded with the next
        window's commit, or at the end of the batch); False when the connection must not be
        used again; None when it went on to `failed`, was retried with the connection still
        good, or had been taken over by another sender."""

        async def confirm() -> bool:
            return await self._confirm(claim, batch)

        try:
            stored = await connection.send(claim.outgoing(), confirm)
        except LeaseLost:
            log.warning("outbox email %s: lease lost to another sender, skipped", claim.id)
            return None
        except PermanentFailure as exc:
            await self._record_sent(batch)
            await self._fail(claim, exc)
            return None
        except OperatorProblem as exc:
            await self._record_sent(batch)
            await self._hold([claim], str(exc))
            return None if exc.connection_usable else False
        except TemporaryFailure as exc:
            await self._record_sent(batch)
            await self._retry([claim], str(exc)[:1000])
            return None if exc.connection_usable else False
        except Exception as exc:  # any other trouble: retry it, on a new connection
            await self._record_sent(batch)
            await self._retry([claim], describe(exc))
            return False
        batch.unrecorded.append(_Sent(claim, stored))
        return True

    async def _confirm(self, claim: _Claim, batch: _Batch) -> bool:
        """Whether this row may go. The first row of a window costs one commit: it records the
        window before as sent and gives this row and the next ones (up to `window`) the full
        lease (they waited under the short claim lease); the others of the window go without
        touching the database. False when a claim lease ran out and another sender has taken
        the row since: then it must not be sent."""
        now = self.clock.now()
        # A row of the window begun later than `claim_lease` after it opened (a slow server)
        # might outlive its lease: it opens a new window instead.
        if claim.id not in batch.renewed or now > batch.opened + self.claim_lease:
            opening = [claim, *batch.waiting[: self.window - 1]]
            sent = batch.unrecorded
            until = now + self.lease + self.claim_lease
            async with self.db.session() as session:
                await self._write_sent(session, sent, now)
                ours = await outbox.renew_leases(
                    session, [(c.id, c.attempts) for c in opening], until=until
                )
            batch.unrecorded, batch.opened = [], now
            batch.renewed = {c.id: c.id in ours for c in opening}
            _log_sent(sent)
        return batch.renewed.pop(claim.id)

    async def _record_sent(self, batch: _Batch) -> None:
        """Record the accepted messages not recorded yet, if any, in a commit of their own."""
        sent = batch.unrecorded
        if not sent:
            return
        async with self.db.session() as session:
            await self._write_sent(session, sent, self.clock.now())
        batch.unrecorded = []
        _log_sent(sent)

    @staticmethod
    async def _write_sent(session: AsyncSession, sent: list[_Sent], now: datetime) -> None:
        rows = [(s.claim.id, s.claim.attempts, s.stored_as) for s in sent]
        await outbox.record_sent(session, rows, now)

    async def _fail(self, claim: _Claim, exc: PermanentFailure) -> None:
        reason = str(exc)[:1000]
        await self._record(claim, OutboxStatus.FAILED, error=reason)
        log.warning(
            "outbox email %s (%s) failed for good: %s", claim.id, claim.kind, redact(reason)
        )
        # A refused address is not emailed again (but codes the person asks for), unless it is
        # a coordinator's: their failures must keep reaching someone.
        if not exc.bounced or claim.kind == "verify":
            return
        async with self.db.session() as session:
            if not await repository.is_coordinator_address(session, claim.recipient):
                await repository.suppress(
                    session, claim.recipient, "bounced", self.clock.now(), detail=reason
                )

    async def _hold(self, claims: list[_Claim], reason: str) -> None:
        """Keep these until the operator fixes what the server refuses; say so loudly."""
        now = self.clock.now()
        async with self.db.session() as session:
            for claim in claims:
                await outbox.record_email_result(
                    session,
                    claim.id,
                    status=OutboxStatus.HELD,
                    now=now,
                    attempts=claim.attempts,
                    error=reason[:1000],
                    next_attempt_at=now + HOLD_RETRY,
                )
        log.error(
            "%d email(s) held (ids %s): the mail server refuses them for a reason the operator "
            "must fix: %s; they are tried again every %d minutes, or now with "
            "`python -m bot outbox retry`",
            len(claims),
            ",".join(str(c.id) for c in claims[:20]),
            redact(reason),
            HOLD_RETRY.total_seconds() // 60,
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
                if claim.tries >= self.max_attempts:
                    log.warning("outbox email %s: giving up: %s", claim.id, redact(reason))
                    await outbox.record_email_result(
                        session,
                        claim.id,
                        status=OutboxStatus.FAILED,
                        now=now,
                        attempts=claim.attempts,
                        error=f"gave up after {claim.tries} attempts: {reason}"[:1000],
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

    def start(self) -> None:
        self._loop.start()

    async def stop(self) -> None:
        await self._loop.stop()
