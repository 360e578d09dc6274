"""The web app on a real uvicorn in the bot's own event loop, as `python -m bot run --webhook`
runs it: the bot registers its webhook with Telegram (URL, secret token, update types), an update
posted to it over HTTP is answered in the chat, /healthz answers 200 and then 503 once no process
leads the scheduler, and stopping closes the port. A `worker` (the application without `run`)
binds no port at all.
"""

from __future__ import annotations

import asyncio
import socket
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from telegram import Update

from bot.app import build_application, run_bot, running, services_of
from bot.core.settings import Settings
from bot.domain.clock import FrozenClock
from bot.jobs.scheduler import LEASE_NAME
from bot.mail.backends import FileBackend
from bot.web.app import SECRET_HEADER
from storage import leases
from tests.support.botapi.fake import FakeTelegram
from tests.support.botapi.request import RecordingRequest
from tests.support.chat import Chat, TgUser
from tests.support.pacing import virtual_limiter

TOKEN = "999000:AAH-not-a-real-token-but-shaped-like-one"
ODD_REQUESTS = [
    b"hello there\r\n\r\n",
    b"GET /unsubscribe/x\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost x\r\n\r\n",
    b"GET /unsubscribe/u_1_\xc3\xb8 HTTP/1.1\r\nHost: x\r\n\r\n",
    b"POST /unsubscribe/x HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n",
    b"POST /unsubscribe/x HTTP/1.1\r\nHost: x\r\nContent-Length: 50\r\n\r\nab",
    b"GET / HTTP/1.1\r\nX: " + b"a" * 100_000 + b"\r\n\r\n",
]


@pytest.fixture
def database_url(sqlite_url: str) -> str:
    return sqlite_url


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def web_settings(tmp_path: Path, migrated_url: str, port: int) -> Settings:
    return Settings(
        _env_file=None,
        var_dir=tmp_path / "var",
        database_url=migrated_url,  # type: ignore[call-arg]
        secret_key="test-secret-key-of-at-least-32-characters",
        telegram_bot_token=TOKEN,
        webhook_url="https://veileder.example/bot/",
        web_host="127.0.0.1",
        web_port=port,
    )


async def raw_exchange(port: int, raw: bytes) -> bytes:
    """Send `raw` as it is, read until the server closes (uvicorn runs in this loop)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(raw)
    await writer.drain()
    writer.write_eof()
    try:
        async with asyncio.timeout(10):
            return await reader.read()
    finally:
        writer.close()


async def test_a_webhook_update_is_answered_and_healthz_tells_the_truth(tmp_path, migrated_url):
    port = free_port()
    settings = web_settings(tmp_path, migrated_url, port)
    fake = FakeTelegram()
    app = build_application(
        settings,
        rate_limiter=virtual_limiter(),
        request=RecordingRequest(fake),
        clock=FrozenClock(),
        mail_backend=FileBackend(settings.mail_dir),
        start_sender=False,
        start_scheduler=True,
    )
    base = f"http://127.0.0.1:{port}"
    async with running(app), httpx.AsyncClient(base_url=base, timeout=10) as http:
        stop = asyncio.Event()
        bot = asyncio.create_task(run_bot(app, stop, webhook=True))
        try:
            await fake.wait_for(lambda: bool(fake.calls_to("setWebhook")), what="setWebhook")
            [registered] = fake.calls_to("setWebhook")
            assert registered.params["url"] == "https://veileder.example/bot/telegram/999000"
            secret = registered.params["secret_token"]
            assert set(registered.params["allowed_updates"]) == set(Update.ALL_TYPES)
            assert int(registered.params["max_connections"]) == 1  # each person's order kept

            async def deliver(data: dict[str, Any]) -> None:
                response = await http.post(
                    "/telegram/999000", json=data, headers={SECRET_HEADER: secret}
                )
                assert response.status_code == 200

            kari = Chat(fake, TgUser(id=5551001, first_name="Kari", language_code="nb"), deliver)
            await kari.command("start")
            await fake.wait_for(lambda: bool(fake.messages(kari.chat_id)), what="an answer")
            assert "Velkommen til Veileder" in fake.last_message(kari.chat_id).text

            forged = await http.post("/telegram/999000", json={"update_id": 10**9})
            assert forged.status_code == 403

            # The scheduler takes its lease at start: healthy (within a moment).
            for _ in range(200):
                health = await http.get("/healthz")
                if health.status_code == 200:
                    break
                await asyncio.sleep(0.05)
            assert health.status_code == 200, health.json()
            assert health.json()["last_bot_api_call"] is not None

            # Nobody sweeps any more: the scheduler stopped and its lease is long expired.
            services = services_of(app)
            assert services.scheduler is not None
            await services.scheduler.stop()
            async with services.db.session() as session:
                lease = await leases.current(session, LEASE_NAME)
                assert lease is not None
                long_ago = datetime.now(UTC) - timedelta(minutes=10)
                await leases.release(session, LEASE_NAME, lease.holder, long_ago)
            unhealthy = await http.get("/healthz")
            assert unhealthy.status_code == 503
            assert unhealthy.json()["problems"] == ["scheduler_leader"]

            # uvicorn (h11) answers what is not HTTP with a status, never a dropped connection.
            for odd in ODD_REQUESTS:
                assert (await raw_exchange(port, odd)).startswith(b"HTTP/1.1 4"), odd[:40]
        finally:
            stop.set()
            await bot
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=2).close()


async def test_without_run_no_port_is_bound(tmp_path, migrated_url):
    """What `worker` runs: the application, its senders and sweeps, and no web app."""
    port = free_port()
    settings = web_settings(tmp_path, migrated_url, port)
    app = build_application(
        settings,
        rate_limiter=virtual_limiter(),
        request=RecordingRequest(FakeTelegram()),
        clock=FrozenClock(),
        mail_backend=FileBackend(settings.mail_dir),
        start_sender=True,
    )
    async with running(app):
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", port))  # free: nothing listens there
