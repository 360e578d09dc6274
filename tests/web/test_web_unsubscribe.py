"""One-click unsubscribe over HTTP (RFC 8058): the List-Unsubscribe https target works, and
every odd request gets a proper HTTP answer instead of a closed connection.

Everything here talks to a real port with plain sockets, as a mail client or a browser would:
the tests say nothing about how the server is built.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import re
import socket
import threading
from collections.abc import Iterator
from concurrent.futures import Future
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.app import App, build_application, running, services_of
from bot.core.context import Services
from bot.core.i18n import Translator
from bot.core.settings import Settings
from bot.domain.clock import FrozenClock
from bot.mail.backends import FileBackend
from bot.services import unsubscribe
from storage.models import Supervisor
from tests.support.botapi.fake import FakeTelegram
from tests.support.botapi.request import RecordingRequest
from tests.support.databases import copy_sqlite_template
from tests.support.pacing import virtual_limiter

NOW = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
WEB_MESSAGES = (
    "web.bad_request",
    "web.not_found",
    "unsubscribe.invalid",
    "web.method_not_allowed",
    "web.too_large",
    "web.timeout",
)
STATUS = re.compile(rb"HTTP/1\.1 ([1-5][0-9][0-9]) [^\r\n]+\r\n")


class Server:
    """The bot with `WEB_PORT` set, on its own event loop in a thread: the tests are clients."""

    def __init__(self, tmp_path: Path, sqlite_template: Path) -> None:
        url = copy_sqlite_template(sqlite_template, tmp_path / "var" / "veileder.db")
        self.settings = Settings(
            _env_file=None,
            var_dir=tmp_path / "var",
            database_url=url,  # type: ignore[call-arg]
            secret_key="a-test-secret-key-of-at-least-32-chars",
            mail_from="v@nmf.example",
            web_port=0,
        )
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.fake = FakeTelegram()
        self.app: App = build_application(
            self.settings,
            rate_limiter=virtual_limiter(),
            request=RecordingRequest(self.fake),
            clock=FrozenClock(NOW),
            mail_backend=FileBackend(self.settings.mail_dir),
        )
        self._running = running(self.app)
        self.call(self._running.__aenter__())
        web = self.services.web
        assert web is not None
        self.port = web.port

    @property
    def services(self) -> Services:
        return services_of(self.app)

    def call(self, coro: Any, timeout: float = 30) -> Any:
        future: Future[Any] = asyncio.run_coroutine_threadsafe(coro, self.loop)
        return future.result(timeout)

    def close(self) -> None:
        self.call(self._running.__aexit__(None, None, None))
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()

    def exchange(self, raw: bytes, *, half_close: bool = True, timeout: float = 15) -> bytes:
        """Send `raw`, (optionally) say we are done sending, read until the server closes."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=timeout) as sock:
            sock.sendall(raw)
            if half_close:
                sock.shutdown(socket.SHUT_WR)
            chunks = []
            while chunk := sock.recv(65536):
                chunks.append(chunk)
        return b"".join(chunks)

    def request(self, method: str, path: str, body: bytes = b"") -> tuple[int, str]:
        head = f"{method} {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n"
        head += "Content-Type: application/x-www-form-urlencoded\r\n\r\n"
        response = self.exchange(head.encode() + body)
        return status_of(response), response.decode()


def status_of(response: bytes) -> int:
    match = STATUS.match(response)
    assert match is not None, f"not an HTTP response: {response[:80]!r}"
    head, _, body = response.partition(b"\r\n\r\n")
    length = re.search(rb"\r\nContent-Length: ([0-9]+)\r\n", head + b"\r\n")
    assert (length is not None and int(length.group(1)) == len(body)) or body == b""
    return int(match.group(1))


def explains(response: bytes) -> bool:
    """Whether the page says in words (both languages) what went wrong."""
    return any(
        Translator("en")(message_id).encode() in response
        and Translator("nb")(message_id).encode() in response
        for message_id in WEB_MESSAGES
    )


@pytest.fixture(scope="module")
def bystander(server: Server) -> int:
    """A supervisor whom no request but one with their own link may unsubscribe."""
    return int(server.call(_add_supervisor(server.services, 9)))


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path) -> Iterator[Server]:
    running_server = Server(tmp_path_factory.mktemp("web"), sqlite_template)
    yield running_server
    running_server.close()


async def _add_supervisor(services: Services, n: int) -> int:
    async with services.db.session() as s:
        supervisor = Supervisor(
            telegram_user_id=5000 + n,
            chat_id=5000 + n,
            language="en",
            name="N",
            title="gp",
            workplace="W",
            city="oslo",
            fields=[],
            exchange_types=["clinical"],
            email=f"n{n}@uio.no",
            email_verified_at=NOW,
            consent_version="x",
            consent_at=NOW,
            created_at=NOW,
            updated_at=NOW,
        )
        s.add(supervisor)
        await s.flush()
        return supervisor.id or 0


async def _unsubscribed(services: Services, supervisor_id: int) -> datetime | None:
    async with services.db.session() as s:
        supervisor = await s.get(Supervisor, supervisor_id)
        assert supervisor is not None
        return supervisor.unsubscribed_at


def test_a_mail_client_unsubscribes_with_one_post(server):
    one = server.call(_add_supervisor(server.services, 1))
    token = unsubscribe.payload(server.services.secret, one)
    status, page = server.request("GET", f"/unsubscribe/{token}")
    assert status == 200 and '<form method="post">' in page
    assert server.call(_unsubscribed(server.services, one)) is None  # a GET changes nothing
    status, page = server.request("POST", f"/unsubscribe/{token}", b"List-Unsubscribe=One-Click")
    assert status == 200 and "no more emails" in page
    assert server.call(_unsubscribed(server.services, one)) is not None
    status, _ = server.request("POST", f"/unsubscribe/{token[:-2]}xx")
    assert status == 404
    status, _ = server.request("GET", "/elsewhere")
    assert status == 404


def test_an_unsubscribe_link_from_before_per_purpose_keys_still_works(server):
    two = server.call(_add_supervisor(server.services, 2))
    secret = server.services.secret
    mac = hmac.new(secret, f"{two}:unsubscribe".encode(), hashlib.sha256).digest()[:6]
    old = f"u_{two}_" + base64.urlsafe_b64encode(mac).decode().rstrip("=")
    assert old != unsubscribe.payload(secret, two)
    status, page = server.request("POST", f"/unsubscribe/{old}", b"List-Unsubscribe=One-Click")
    assert status == 200 and "no more emails" in page
    assert server.call(_unsubscribed(server.services, two)) is not None


ODD_REQUESTS = {
    "a non-ASCII token, raw": (b"GET /unsubscribe/u_1_\xc3\xb8 HTTP/1.1\r\nHost: x\r\n\r\n", 400),
    "a superscript digit, raw": (b"POST /unsubscribe/u_\xc2\xb2_AAAAAAAA HTTP/1.1\r\n\r\n", 400),
    "a non-ASCII token, percent-encoded": (b"GET /unsubscribe/u_1_%C3%B8 HTTP/1.1\r\n\r\n", 404),
    "a superscript, percent-encoded": (
        b"POST /unsubscribe/u_%C2%B2_AAAAAAAA HTTP/1.1\r\n\r\n",
        404,
    ),
    "another method": (b"DELETE /unsubscribe/u_1_AAAAAAAA HTTP/1.1\r\n\r\n", 405),
    "a lowercase method": (b"get /unsubscribe/u_1_AAAAAAAA HTTP/1.1\r\n\r\n", 405),
    "OPTIONS *": (b"OPTIONS * HTTP/1.1\r\n\r\n", 405),
    "the root": (b"GET / HTTP/1.1\r\n\r\n", 404),
    "a path below a token": (b"GET /unsubscribe/u_1_AAAAAAAA/more HTTP/1.1\r\n\r\n", 404),
    "not HTTP at all": (b"hello there\r\n\r\n", 400),
    "a bare line": (b"GET /unsubscribe/x\r\n\r\n", 400),
    "HTTP/2": (b"GET /unsubscribe/x HTTP/2.0\r\n\r\n", 505),
    "a header without a colon": (b"GET / HTTP/1.1\r\nHost x\r\n\r\n", 400),
    "a folded header": (b"GET / HTTP/1.1\r\nHost: x\r\n y\r\n\r\n", 400),
    "a length that is not a number": (b"POST /u HTTP/1.1\r\nContent-Length: -1\r\n\r\n", 400),
    "two different lengths": (
        b"POST /u HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
        400,
    ),
    "a huge body": (b"POST /u HTTP/1.1\r\nContent-Length: 99999999\r\n\r\n", 413),
    "a chunked body": (b"POST /u HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 411),
    "a body shorter than its length": (b"POST /u HTTP/1.1\r\nContent-Length: 50\r\n\r\nab", 400),
    "a head that never ends": (b"GET /unsubscribe/x HTTP/1.1\r\nHost: x\r\n", 400),
    "nothing at all": (b"", 400),
    "headers over 16 KiB": (b"GET / HTTP/1.1\r\nX: " + b"a" * 20_000 + b"\r\n\r\n", 431),
}


@pytest.mark.parametrize("raw,expected", ODD_REQUESTS.values(), ids=ODD_REQUESTS.keys())
def test_every_odd_request_gets_a_proper_http_answer(server, raw, expected):
    response = server.exchange(raw)
    assert status_of(response) == expected
    if expected == 405:
        assert b"\r\nAllow: GET, HEAD, POST\r\n" in response
    assert explains(response)


def test_head_answers_like_get_without_a_body(server):
    three = server.call(_add_supervisor(server.services, 3))
    token = unsubscribe.payload(server.services.secret, three)
    response = server.exchange(f"HEAD /unsubscribe/{token} HTTP/1.1\r\n\r\n".encode())
    assert status_of(response) == 200 and response.endswith(b"\r\n\r\n")
    assert server.call(_unsubscribed(server.services, three)) is None


def test_a_client_that_stops_sending_is_told_it_took_too_long(server, monkeypatch):
    from bot.web import server as web

    monkeypatch.setattr(web, "TIMEOUT", 0.3)
    response = server.exchange(b"GET /unsubscribe/x HTTP/1.1\r\nHo", half_close=False)
    assert status_of(response) == 408 and explains(response)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    method=st.one_of(
        st.sampled_from([b"GET", b"POST", b"HEAD", b"PUT"]), st.binary(min_size=1, max_size=8)
    ),
    path=st.one_of(
        st.binary(max_size=120),
        st.text(max_size=80).map(lambda t: ("/unsubscribe/" + t).encode()),
        st.text(max_size=80).map(lambda t: ("/unsubscribe/u_" + t).encode()),
        st.from_regex(r"/unsubscribe/u_[0-9²]{1,4}_[A-Za-z0-9_-]{8}", fullmatch=True).map(
            str.encode
        ),
    ),
)
def test_any_path_gets_an_http_answer_and_unsubscribes_nobody(server, bystander, method, path):
    response = server.exchange(method + b" " + path + b" HTTP/1.1\r\nHost: x\r\n\r\n")
    status = status_of(response)
    assert status in {200, 400, 404, 405, 505}
    assert status == 200 or method == b"HEAD" or explains(response)  # HEAD: no page
    assert server.call(_unsubscribed(server.services, bystander)) is None
