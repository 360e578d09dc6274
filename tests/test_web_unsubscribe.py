"""One-click unsubscribe over HTTP (RFC 8058): the List-Unsubscribe https target works."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from bot import unsubscribe
from bot.web import WebServer
from storage.models import Supervisor

NOW = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)


@pytest.fixture
def database_url(sqlite_url: str) -> str:
    return sqlite_url


async def _request(port: int, method: str, path: str, body: bytes = b"") -> tuple[int, str]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    head = f"{method} {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n"
    head += "Content-Type: application/x-www-form-urlencoded\r\n\r\n"
    writer.write(head.encode() + body)
    await writer.drain()
    response = (await reader.read()).decode()
    writer.close()
    return int(response.split(" ", 2)[1]), response


async def test_a_mail_client_unsubscribes_with_one_post(services):
    async with services.db.session() as s:
        s.add(
            Supervisor(
                telegram_user_id=5,
                chat_id=5,
                language="en",
                name="N",
                title="gp",
                workplace="W",
                city="oslo",
                fields=[],
                exchange_types=["clinical"],
                email="n@uio.no",
                email_verified_at=NOW,
                consent_version="x",
                consent_at=NOW,
                created_at=NOW,
                updated_at=NOW,
            )
        )
    web = WebServer(services, "127.0.0.1", 0)
    await web.start()
    try:
        token = unsubscribe.payload(services.secret, 1)
        status, page = await _request(web.port, "GET", f"/unsubscribe/{token}")
        assert status == 200 and '<form method="post">' in page
        async with services.db.session() as s:
            assert (await s.get(Supervisor, 1)).unsubscribed_at is None  # a GET changes nothing
        status, page = await _request(
            web.port, "POST", f"/unsubscribe/{token}", b"List-Unsubscribe=One-Click"
        )
        assert status == 200 and "no more emails" in page
        async with services.db.session() as s:
            assert (await s.get(Supervisor, 1)).unsubscribed_at is not None
        status, _ = await _request(web.port, "POST", f"/unsubscribe/{token[:-2]}xx")
        assert status == 404
        status, _ = await _request(web.port, "GET", "/elsewhere")
        assert status == 404
    finally:
        await web.stop()
