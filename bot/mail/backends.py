"""Mail backends: how one message reaches the mail server (or a file), and what its reply means.

`OutboxSender` (`bot.mail.sender`) decides what happens to a row; a backend only delivers and
says how it went, as one of three exceptions: `PermanentFailure` (never retried; `bounced` when
the recipient's address was refused, so it is suppressed), `OperatorProblem` (held until the
operator fixes the setup) and `TemporaryFailure` (tried again later). `classify` reads the
reply's enhanced status code (RFC 3463):

- refused because of the recipient's address (5.1.x but the sender's 5.1.7/5.1.8, 5.2.1
  "mailbox disabled"; a 550/551/553 to RCPT from a server without enhanced codes): bounced;
- an address this server can never take (SMTPUTF8 unsupported, unparseable): failed;
- refused for a reason the operator must fix - any other 5xx: relaying denied and policy
  (5.7.x, e.g. `554 5.7.1 Relay access denied`), protocol (5.5.x), the login (`535 5.7.8`) or
  the server refusing us at the greeting: held;
- connection error, timeout, 4xx reply: temporary.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from email import message_from_string, policy
from email.message import EmailMessage
from email.parser import HeaderParser
from enum import StrEnum
from functools import cached_property
from pathlib import Path
from typing import Protocol

import aiosmtplib
from aiosmtplib.email import extract_recipients, extract_sender, parse_address

from bot.core.emails import new_message_id
from bot.core.settings import Settings, SmtpSecurity

QUIT_TIMEOUT = 5.0  # seconds to say goodbye to the mail server after a batch


class Verdict(StrEnum):
    TEMPORARY = "temporary"  # try again later
    BOUNCED = "bounced"  # the recipient's address: failed and suppressed
    HELD = "held"  # our setup: kept until the operator fixes it


_ENHANCED = re.compile(r"(?<![\d.])([245])\.(\d{1,3})\.(\d{1,3})(?![\d.])")
_SENDER_ADDRESS = {7, 8}  # 5.1.7 / 5.1.8: our sender address, not theirs


def classify(code: int, message: str, *, at_recipient: bool = False) -> Verdict:
    """What an SMTP reply means for the email (pure). `at_recipient`: the reply to RCPT TO."""
    if 400 <= code < 500:
        return Verdict.TEMPORARY
    if not 500 <= code < 600:
        return Verdict.HELD  # not an SMTP reply code: nothing to suppress on
    found = _ENHANCED.search(message)
    if found is None or found.group(1) != "5":
        bounced = at_recipient and code in (550, 551, 553)
        return Verdict.BOUNCED if bounced else Verdict.HELD
    subject, detail = int(found.group(2)), int(found.group(3))
    if (subject == 1 and detail not in _SENDER_ADDRESS) or (subject, detail) == (2, 1):
        return Verdict.BOUNCED
    return Verdict.HELD


class PermanentFailure(Exception):
    """The message can never be delivered: never retried. `bounced` when the recipient's
    address was refused (then it is suppressed)."""

    def __init__(self, reason: str, *, bounced: bool = False) -> None:
        super().__init__(reason)
        self.bounced = bounced


class OperatorProblem(Exception):
    """The server refused us for a reason only the operator can fix: hold, do not fail.
    `connection_usable` is False when it came from connecting or logging in."""

    def __init__(self, reason: str, *, connection_usable: bool = True) -> None:
        super().__init__(reason)
        self.connection_usable = connection_usable


class TemporaryFailure(Exception):
    """Try this message again later (4xx). `connection_usable` is False when the connection
    cannot carry the next message (421, a dropped connection, a timeout)."""

    def __init__(self, reason: str, *, connection_usable: bool = True) -> None:
        super().__init__(reason)
        self.connection_usable = connection_usable


class LeaseLost(Exception):
    """`confirm` said no: another sender has taken the row, so this one did not send it."""


# Called once per message at the last moment before it can no longer be taken back (over SMTP:
# while MAIL and RCPT are on their way, awaited before DATA); False: the row is not ours to send.
Confirm = Callable[[], Awaitable[bool]]

_LONGEST_LINE = 998  # what SMTP allows, without the CRLF


@dataclass(frozen=True)
class Outgoing:
    """An email as the outbox stored it (`message.as_string()` of the rendered message).

    `raw` is what goes over SMTP: the stored text with CRLF line endings, not parsed again; it is
    what aiosmtplib's `send_message` would have made of the parsed message. `message` parses it,
    only for what the raw text cannot serve as it is (see `raw`) and for the file backend."""

    outbox_id: int
    text: str
    idempotency_key: str
    message_id: str | None = None

    @cached_property
    def message(self) -> EmailMessage:
        message = message_from_string(self.text, _class=EmailMessage, policy=policy.default)
        assert isinstance(message, EmailMessage)
        if message["Message-ID"] is None:  # rendered emails have one; anything else gets one
            message["Message-ID"] = self.message_id or new_message_id(
                f"{self.idempotency_key}:{self.outbox_id}", str(message["From"] or "")
            )
        return message

    def raw(self, eight_bit: bool) -> tuple[str, list[str], bytes] | None:
        """(envelope sender, recipients, the bytes to send), or None when the stored text cannot
        go as it is: a header to drop or add (Bcc, no Message-ID), resent headers, an address
        that needs SMTPUTF8 (stored as an RFC 2047 encoded word), bare CRs, over-long lines, or
        8-bit text to a server without 8BITMIME. Those are sent the old way, parsed and
        flattened by aiosmtplib."""
        if "\r" in self.text:
            return None
        headers = HeaderParser().parsestr(self.text, headersonly=True)
        if (
            headers["Message-ID"] is None
            or headers["Bcc"] is not None
            or headers["Resent-Date"] is not None
        ):
            return None
        sender, recipients = extract_sender(headers), extract_recipients(headers)
        addresses = (sender or "") + "".join(recipients)
        if not sender or not recipients or not addresses.isascii() or "=?" in addresses:
            return None  # an encoded word: the address needs SMTPUTF8 once decoded
        raw = self.text.replace("\n", "\r\n").encode()
        if not eight_bit and not raw.isascii():
            return None
        if any(len(line) > _LONGEST_LINE for line in raw.split(b"\r\n")):
            return None
        return sender, recipients, raw


class MailConnection(Protocol):
    async def send(self, email: Outgoing, confirm: Confirm) -> str | None:
        """Deliver one message, once `confirm()` says it may go (`LeaseLost` when not). Returns
        where it was stored, if anywhere.

        Raises `PermanentFailure` or `TemporaryFailure`; any other exception is treated as a
        temporary failure after which the connection is not used again. A failure before the
        message could go may come without `confirm` having been called."""
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

    async def send(self, email: Outgoing, confirm: Confirm) -> str | None:
        if not await confirm():
            raise LeaseLost
        return await asyncio.to_thread(self._write, email.message, email.outbox_id)

    def _write(self, message: EmailMessage, outbox_id: int) -> str:
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)  # emails carry codes
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


def describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:1000]


class SmtpConnection:
    """One SMTP session, reused for every message of a batch."""

    def __init__(self, client: aiosmtplib.SMTP) -> None:
        self.client = client

    async def send(self, email: Outgoing, confirm: Confirm) -> str | None:
        try:
            await self._transaction(email, confirm)
        except aiosmtplib.SMTPRecipientsRefused as exc:
            reason = "; ".join(f"{r.code} {r.message} <{r.recipient}>" for r in exc.recipients)
            verdicts = {classify(r.code, r.message, at_recipient=True) for r in exc.recipients}
            if not verdicts or verdicts == {Verdict.TEMPORARY}:
                raise TemporaryFailure(reason) from exc
            if Verdict.HELD in verdicts:
                raise OperatorProblem(reason) from exc
            raise PermanentFailure(reason, bounced=True) from exc
        except aiosmtplib.SMTPResponseException as exc:
            reason = f"{exc.code} {exc.message}"
            if exc.code == 421:  # "service not available, closing transmission channel"
                raise TemporaryFailure(reason, connection_usable=False) from exc
            if not 400 <= exc.code < 600:
                raise TemporaryFailure(reason, connection_usable=False) from exc
            verdict = classify(exc.code, exc.message)
            if verdict == Verdict.TEMPORARY:
                raise TemporaryFailure(reason) from exc
            if verdict == Verdict.BOUNCED:
                raise PermanentFailure(reason, bounced=True) from exc
            raise OperatorProblem(reason) from exc
        except (aiosmtplib.SMTPNotSupported, ValueError) as exc:
            # An address this server can never take (SMTPUTF8 unsupported, unparseable).
            raise PermanentFailure(describe(exc)) from exc
        except (aiosmtplib.SMTPException, OSError) as exc:  # dropped, timed out, refused
            raise TemporaryFailure(describe(exc), connection_usable=False) from exc
        return None

    async def _transaction(self, email: Outgoing, confirm: Confirm) -> None:
        """aiosmtplib's `sendmail` for the stored bytes, with `confirm` (a database commit)
        running while MAIL and RCPT travel, so it costs no time of its own."""
        client = self.client
        if client.last_ehlo_response is None:
            await client.ehlo()
        eight_bit = client.supports_extension("8bitmime")
        envelope = email.raw(eight_bit)
        if envelope is None:
            if not await confirm():
                raise LeaseLost
            await client.send_message(email.message)
            return
        sender, recipients, raw = envelope
        for address in (sender, *recipients):
            parse_address(address)  # a ValueError before anything is sent, as in sendmail
        options = ["BODY=8BITMIME"] if eight_bit else []
        if client.supports_extension("size"):
            options.insert(0, f"size={len(raw)}")
        confirming = asyncio.ensure_future(confirm())
        try:
            try:
                await client.mail(sender, options=options)
                refused = []
                for recipient in recipients:
                    try:
                        await client.rcpt(recipient)
                    except aiosmtplib.SMTPRecipientRefused as exc:
                        refused.append(exc)
                if len(refused) == len(recipients):
                    raise aiosmtplib.SMTPRecipientsRefused(refused)
            finally:
                ours = await confirming
            if not ours:
                await client.rset()
                raise LeaseLost
            await client.data(raw)
        except (aiosmtplib.SMTPResponseException, aiosmtplib.SMTPRecipientsRefused):
            with contextlib.suppress(ConnectionError, aiosmtplib.SMTPResponseException):
                await client.rset()  # as sendmail does: the next message starts afresh
            raise


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
        Raises `OperatorProblem` when the server refuses us for good (a 5xx to the greeting,
        EHLO or the login, e.g. `535 5.7.8`), else what aiosmtplib raises when the server cannot
        be reached or asks us to come back later."""
        client = self.client()
        try:
            await client.connect()
        except aiosmtplib.SMTPResponseException as exc:
            if 500 <= exc.code < 600:
                raise OperatorProblem(f"{exc.code} {exc.message}", connection_usable=False) from exc
            raise
        try:
            yield SmtpConnection(client)
        except BaseException:
            # Cancelled (shutdown) or failed mid-message: the server may still be reading the
            # message data, so a QUIT would wait for an answer that never comes. Just hang up.
            client.close()
            raise
        if client.is_connected:
            with contextlib.suppress(aiosmtplib.SMTPException, OSError, TimeoutError):
                async with asyncio.timeout(QUIT_TIMEOUT):
                    await client.quit()
        client.close()

    async def send(self, email: Outgoing, confirm: Confirm) -> str | None:
        """One message over its own connection."""
        async with self.connect() as connection:
            return await connection.send(email, confirm)


def backend_for(settings: Settings) -> MailBackend:
    if settings.mail_backend == "smtp":
        return SmtpBackend(settings)
    return FileBackend(settings.mail_dir)
