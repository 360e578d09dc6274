"""A real SMTP server for tests (aiosmtpd), plus one that accepts connections and never answers.

`Inbox` keeps what the server accepted and can be scripted: `refuse_rcpt` refuses every
recipient with the given reply, `data_script` answers the next DATA commands one by one (an SMTP
reply such as "451 4.3.0 Try again later", or `HANG_UP` / `STORE_AND_HANG_UP` to drop the
connection without a reply, before or after storing the message), and `delay` paces the server.
`rendezvous` holds the first message of each connection until that many connections have sent
one: proof that that many clients were sending at the same time, with no timing involved.
`check_mime` is the validity check every kind of email must pass.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import socket
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from email.utils import parsedate_to_datetime
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword

ACCEPT = ""  # in `data_script`: store the message and answer 250
HANG_UP = "hang up"  # close the connection without storing the message or replying
STORE_AND_HANG_UP = "store and hang up"  # store it, then close without replying: a lost 250


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Inbox:
    """Collects what the server accepted; `refuse_rcpt` / `data_script` script refusals."""

    received: list[EmailMessage] = field(default_factory=list)
    raw: list[bytes] = field(default_factory=list)
    envelopes: list[tuple[str, list[str]]] = field(default_factory=list)
    refuse_rcpt: str | None = None
    temporary_failures: int = 0  # this many DATA commands answered 451 first
    data_script: list[str] = field(default_factory=list)
    delay: float = 0.0  # seconds between storing a message and answering 250
    connections: int = 0  # TCP connections the server accepted
    password: str | None = None  # offer AUTH (in the clear) and accept only this password
    data_commands: int = 0
    rendezvous: int = 0  # hold each connection's first DATA until this many connections sent one
    rendezvous_seconds: float = 10.0  # then give up waiting (the test's assertions will fail)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _arrived: set[int] = field(default_factory=set, repr=False)
    _everyone: asyncio.Event = field(default_factory=asyncio.Event, repr=False)

    def message_ids(self) -> list[str]:
        with self._lock:
            return [str(m["Message-ID"]) for m in self.received]

    def duplicates(self) -> int:
        return sum(n - 1 for n in Counter(self.message_ids()).values())

    def __len__(self) -> int:
        with self._lock:
            return len(self.received)

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        if self.refuse_rcpt:
            return self.refuse_rcpt
        envelope.rcpt_tos.append(address)
        return "250 OK"

    def _store(self, envelope: Any) -> None:
        raw = bytes(envelope.original_content)
        message = message_from_bytes(raw, _class=EmailMessage, policy=policy.default)
        with self._lock:
            self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
            self.raw.append(raw)
            self.received.append(message)  # type: ignore[arg-type]

    async def _meet(self, session: Any) -> None:
        """Wait, on a connection's first DATA, until `rendezvous` connections got that far."""
        if self._everyone.is_set() or id(session) in self._arrived:
            return
        self._arrived.add(id(session))
        if len(self._arrived) >= self.rendezvous:
            self._everyone.set()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self.rendezvous_seconds):
                await self._everyone.wait()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.data_commands += 1
        if self.rendezvous:
            await self._meet(session)
        action = (self.data_script.pop(0) if self.data_script else "") or None
        if action is None and self.temporary_failures > 0:
            self.temporary_failures -= 1
            action = "451 4.3.0 Try again later"
        if action in (HANG_UP, STORE_AND_HANG_UP):
            if action == STORE_AND_HANG_UP:
                self._store(envelope)
            server.transport.abort()
            return "250 never heard"
        if action is not None:
            return action
        self._store(envelope)  # stored before the reply, as a real server commits
        if self.delay:
            await asyncio.sleep(self.delay)
        return "250 Message accepted for delivery"


def _authenticator(inbox: Inbox) -> Any:
    def check(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
        ok = isinstance(data, LoginPassword) and data.password.decode() == inbox.password
        return AuthResult(success=ok, handled=False)

    return check


class _CountingSMTP(SMTP):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self.event_handler.connections += 1


class _Controller(Controller):
    def factory(self) -> SMTP:
        return _CountingSMTP(self.handler, **self.SMTP_kwargs)


@contextmanager
def smtp_server(inbox: Inbox | None = None, port: int | None = None) -> Iterator[tuple[Inbox, int]]:
    """Serve `inbox` (a new one by default) on `port` (a free one by default) until the block
    ends; the same inbox and port again make a server that went down come back."""
    inbox = inbox if inbox is not None else Inbox()
    port = port or free_port()
    auth: dict[str, Any] = {}
    if inbox.password is not None:
        auth = {"authenticator": _authenticator(inbox), "auth_require_tls": False}
    controller = _Controller(inbox, hostname="127.0.0.1", port=port, **auth)
    connections = inbox.connections
    controller.start()
    inbox.connections = connections  # not the controller's own check that the server is up
    try:
        yield inbox, port
    finally:
        controller.stop()


MESSAGE_ID = re.compile(r"<[^<>@\s]+@[^<>@\s]+>")


def check_mime(raw: bytes) -> EmailMessage:
    """Assert that `raw` (as the server received it) is a well-formed email: SMTP line lengths
    and endings, the headers every email carries, multipart/alternative with a plain-text and an
    HTML part (inside multipart/mixed when there are attachments), every part decodable and
    free of parser defects. Returns the parsed message."""
    lines = raw.split(b"\r\n")
    assert all(b"\n" not in line and b"\r" not in line for line in lines), "bare CR or LF"
    assert all(len(line) <= 998 for line in lines), "a line longer than SMTP allows"
    message = message_from_bytes(raw, _class=EmailMessage, policy=policy.default)
    assert isinstance(message, EmailMessage)
    for name in ("From", "To", "Subject", "Date", "Message-ID", "MIME-Version"):
        assert message[name], f"missing {name}"
        assert len(message.get_all(name) or []) == 1, f"{name} more than once"
    assert MESSAGE_ID.fullmatch(str(message["Message-ID"])), message["Message-ID"]
    assert parsedate_to_datetime(str(message["Date"])).tzinfo is not None
    assert message["Auto-Submitted"] == "auto-generated"
    alternative = message
    if message.get_content_type() == "multipart/mixed":
        alternative = next(message.iter_parts())  # type: ignore[assignment]
    assert alternative.get_content_type() == "multipart/alternative"
    kinds = [part.get_content_type() for part in alternative.iter_parts()]
    assert kinds == ["text/plain", "text/html"], kinds
    for part in message.walk():
        assert not part.defects, (part.get_content_type(), part.defects)
        if part.is_multipart():
            continue
        content = part.get_content()
        assert content, f"an empty {part.get_content_type()} part"
        if part.get_content_maintype() == "text":
            assert part.get_content_charset() in ("utf-8", "us-ascii"), part.get_content_charset()
            assert isinstance(content, str) and "\ufffd" not in content
    html = alternative.get_body(preferencelist=("html",))
    assert html is not None and "<html" in html.get_content().lower()
    return message


class SilentServer:
    """Accepts TCP connections and never says a word: an SMTP server that hangs."""

    def __init__(self) -> None:
        self.connections = 0
        self.port = 0
        self._server: asyncio.AbstractServer | None = None
        self.connected = asyncio.Event()

    async def __aenter__(self) -> SilentServer:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            self.connections += 1
            self.connected.set()
            await reader.read()  # until the client gives up
            writer.close()

        self._server = await asyncio.start_server(handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()
