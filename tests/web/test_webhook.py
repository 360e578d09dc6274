"""Telegram's webhook on the web app: an update is answered 200 only once it is in the durable
inbox, only Telegram (with the secret token) can post one, and a database that is down is a 5xx
so that Telegram delivers the update again.

The routes are exercised through httpx's ASGI transport against the real PTB application and
inbox; `test_webhook_end_to_end.py` does the same over a real uvicorn.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot.app import App, build_application, running, services_of, webhook_for
from bot.chat.inbox import Inbox
from bot.core.settings import Settings
from bot.domain.clock import FrozenClock
from bot.domain.signing import webhook_secret
from bot.mail.backends import FileBackend
from bot.web.app import SECRET_HEADER, Webhook, create_app
from storage import inbox as stored
from tests.support.botapi.fake import FakeTelegram
from tests.support.botapi.request import RecordingRequest
from tests.support.chat import Chat, TgUser, next_update_id
from tests.support.pacing import virtual_limiter


@pytest.fixture
def database_url(sqlite_url: str) -> str:
    return sqlite_url


@pytest.fixture
def inbox(app: App) -> Inbox:
    return Inbox(app)


@pytest.fixture
def hook(app: App, inbox: Inbox) -> Webhook:
    return webhook_for(app, inbox)


@pytest.fixture
async def client(app: App, hook: Webhook) -> AsyncIterator[httpx.AsyncClient]:
    web = create_app(services_of(app), hook)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=web), base_url="http://veileder.test"
    ) as http:
        yield http


def start_update(user: TgUser, update_id: int) -> dict[str, Any]:
    return {
        "update_id": update_id,
        "message": {
            "message_id": 1,
            "from": user.to_json(),
            "chat": user.chat_json(),
            "date": 1_764_000_000,
            "text": "/start",
            "entities": [{"type": "bot_command", "offset": 0, "length": 6}],
        },
    }


KARI = TgUser(id=5551001, first_name="Kari", last_name="Nordmann", language_code="nb")


async def _stored(app: App, update_id: int) -> list[int]:
    async with services_of(app).db.session() as session:
        return [row.update_id for row in await stored.pending(session, [update_id])]


async def test_an_update_is_in_the_inbox_when_telegram_gets_its_200(app, hook, client):
    update_id = next_update_id()
    response = await client.post(
        f"/telegram/{hook.path}",
        json=start_update(KARI, update_id),
        headers={SECRET_HEADER: hook.secret},
    )
    assert response.status_code == 200
    assert await _stored(app, update_id) == [update_id]  # committed before the answer


async def test_the_default_secret_is_derived_from_the_secret_key(app, hook):
    services = services_of(app)
    assert hook.secret == webhook_secret(services.secret)
    assert hook.secret != webhook_secret(b"another-secret-key-of-at-least-32-chars")
    assert 1 <= len(hook.secret) <= 256 and hook.secret.replace("-", "").replace("_", "").isalnum()


@pytest.mark.parametrize(
    "headers",
    [{}, {SECRET_HEADER: "wrong"}, {SECRET_HEADER: ""}],
    ids=["missing", "wrong", "empty"],
)
async def test_without_the_secret_nothing_is_stored(app, hook, client, headers):
    update_id = next_update_id()
    response = await client.post(
        f"/telegram/{hook.path}", json=start_update(KARI, update_id), headers=headers
    )
    assert response.status_code == 403
    assert await _stored(app, update_id) == []


async def test_a_near_miss_secret_is_refused(app, hook, client):
    update_id = next_update_id()
    near = hook.secret[:-1] + ("A" if hook.secret[-1] != "A" else "B")
    response = await client.post(
        f"/telegram/{hook.path}",
        json=start_update(KARI, update_id),
        headers={SECRET_HEADER: near},
    )
    assert response.status_code == 403
    assert await _stored(app, update_id) == []


@pytest.mark.parametrize(
    "body,status",
    [(b"not json", 400), (b"[1, 2]", 400), (b'{"message": {}}', 400), (b'{"update_id": "7"}', 400)],
    ids=["not JSON", "a list", "no update id", "a string id"],
)
async def test_a_body_that_is_not_an_update_is_a_400(hook, client, body, status):
    response = await client.post(
        f"/telegram/{hook.path}",
        content=body,
        headers={SECRET_HEADER: hook.secret, "Content-Type": "application/json"},
    )
    assert response.status_code == status


async def test_another_bots_path_and_a_get_are_not_the_webhook(hook, client):
    other = await client.post("/telegram/12345", json={"update_id": 1})
    assert other.status_code == 404
    get = await client.get(f"/telegram/{hook.path}")
    assert get.status_code == 405 and "POST" in get.headers["Allow"]


async def test_without_a_webhook_configured_telegram_paths_are_404(app):
    web = create_app(services_of(app), None)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=web), base_url="http://veileder.test"
    ) as http:
        response = await http.post("/telegram/1", json={"update_id": 1})
    assert response.status_code == 404


async def test_a_stored_update_is_processed_and_answered_by_the_inbox(app, fake, inbox, hook):
    """The webhook hands the stored update to `Inbox.run(poll=False)`, which answers it."""
    stop = asyncio.Event()
    running_inbox = asyncio.create_task(inbox.run(stop, poll=False))
    web = create_app(services_of(app), hook)

    async def deliver(data: dict[str, Any]) -> None:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=web), base_url="http://veileder.test"
        ) as http:
            response = await http.post(
                f"/telegram/{hook.path}", json=data, headers={SECRET_HEADER: hook.secret}
            )
        assert response.status_code == 200

    kari = Chat(fake, KARI, deliver)
    try:
        await kari.command("start")
        await fake.wait_for(lambda: bool(fake.messages(KARI.id)), what="the bot's answer")
        assert "Velkommen til Veileder" in fake.last_message(KARI.id).text
        assert fake.calls_to("getUpdates") == []  # nothing polled
        assert await _stored(app, kari.updates[-1]["update_id"]) == []  # done
    finally:
        stop.set()
        await running_inbox


@contextlib.asynccontextmanager
async def unreachable_database(tmp_path: Path) -> AsyncIterator[App]:
    """The bot with its database on a server where nothing listens: every session fails."""
    settings = Settings(
        _env_file=None,
        var_dir=tmp_path / "var",
        database_url="postgresql+psycopg://veileder@127.0.0.1:1/veileder",  # type: ignore[call-arg]
        secret_key="test-secret-key-of-at-least-32-characters",
    )
    application = build_application(
        settings,
        rate_limiter=virtual_limiter(),
        request=RecordingRequest(FakeTelegram()),
        clock=FrozenClock(),
        mail_backend=FileBackend(tmp_path / "mail"),
        start_sender=False,
    )
    async with running(application):
        yield application


async def test_a_database_that_is_down_is_a_503_so_telegram_sends_it_again(tmp_path):
    async with unreachable_database(tmp_path) as down:
        hook = webhook_for(down, Inbox(down))
        web = create_app(services_of(down), hook)
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=web), base_url="http://veileder.test"
        ) as http:
            response = await http.post(
                f"/telegram/{hook.path}",
                json=start_update(KARI, next_update_id()),
                headers={SECRET_HEADER: hook.secret},
            )
            health = await http.get("/healthz")
    assert response.status_code == 503
    assert health.status_code == 503
    assert health.json()["database"] is False and "database" in health.json()["problems"]
