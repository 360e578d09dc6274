"""One-click unsubscribe over HTTPS (RFC 8058): a mail client's POST unsubscribes, a GET (a mail
scanner's prefetch, a browser) only asks, and every odd request gets a proper answer with a page
that says in both languages what went wrong.

The requests go through httpx's ASGI transport to the web app of the real application; what a
real uvicorn answers to requests that are not HTTP at all is in `test_webhook_end_to_end.py`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.app import App, services_of
from bot.core.context import Services
from bot.core.i18n import Translator
from bot.services import unsubscribe
from bot.web.app import create_app
from storage.models import Supervisor

NOW = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
WEB_MESSAGES = (
    "web.bad_request",
    "web.not_found",
    "unsubscribe.invalid",
    "web.method_not_allowed",
    "web.too_large",
)
FORM = {"List-Unsubscribe": "One-Click"}


@pytest.fixture
def database_url(sqlite_url: str) -> str:
    return sqlite_url


@pytest.fixture
async def client(app: App) -> AsyncIterator[httpx.AsyncClient]:
    web = create_app(services_of(app))
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=web), base_url="https://veileder.example"
    ) as http:
        yield http


def explains(page: str) -> bool:
    """Whether the page says in words (both languages) what went wrong."""
    return any(
        Translator("en")(message_id) in page and Translator("nb")(message_id) in page
        for message_id in WEB_MESSAGES
    )


async def add_supervisor(services: Services, n: int, language: str = "en") -> int:
    async with services.db.session() as s:
        supervisor = Supervisor(
            telegram_user_id=5000 + n,
            chat_id=5000 + n,
            language=language,
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


async def unsubscribed(services: Services, supervisor_id: int) -> datetime | None:
    async with services.db.session() as s:
        supervisor = await s.get(Supervisor, supervisor_id)
        assert supervisor is not None
        return supervisor.unsubscribed_at


async def test_a_mail_client_unsubscribes_with_one_post(services, client):
    one = await add_supervisor(services, 1)
    token = unsubscribe.payload(services.secret, one)
    page = await client.get(f"/unsubscribe/{token}")
    assert page.status_code == 200 and '<form method="post">' in page.text
    assert Translator("nb")("web.confirm") in page.text and "Stop all emails" in page.text
    assert await unsubscribed(services, one) is None  # a GET changes nothing
    done = await client.post(f"/unsubscribe/{token}", data=FORM)
    assert done.status_code == 200 and "no more emails" in done.text
    assert await unsubscribed(services, one) is not None
    forged = await client.post(f"/unsubscribe/{token[:-2]}xx", data=FORM)
    assert forged.status_code == 404 and explains(forged.text)
    elsewhere = await client.get("/elsewhere")
    assert elsewhere.status_code == 404 and explains(elsewhere.text)


async def test_a_norwegian_supervisor_is_answered_in_bokmal(services, client):
    two = await add_supervisor(services, 2, language="nb")
    token = unsubscribe.payload(services.secret, two)
    done = await client.post(f"/unsubscribe/{token}", data=FORM)
    assert done.status_code == 200
    assert Translator("nb")("web.unsubscribed") in done.text and 'lang="nb"' in done.text


async def test_an_unsubscribe_link_from_before_per_purpose_keys_still_works(services, client):
    three = await add_supervisor(services, 3)
    mac = hmac.new(services.secret, f"{three}:unsubscribe".encode(), hashlib.sha256).digest()[:6]
    old = f"u_{three}_" + base64.urlsafe_b64encode(mac).decode().rstrip("=")
    assert old != unsubscribe.payload(services.secret, three)
    done = await client.post(f"/unsubscribe/{old}", data=FORM)
    assert done.status_code == 200 and "no more emails" in done.text
    assert await unsubscribed(services, three) is not None


async def test_head_answers_like_get_without_a_body(services, client):
    four = await add_supervisor(services, 4)
    token = unsubscribe.payload(services.secret, four)
    head = await client.head(f"/unsubscribe/{token}")
    assert head.status_code == 200 and head.content == b""
    assert await unsubscribed(services, four) is None


ODD_REQUESTS = {
    "a non-ASCII token, percent-encoded": ("GET", "/unsubscribe/u_1_%C3%B8", 404),
    "a superscript, percent-encoded": ("POST", "/unsubscribe/u_%C2%B2_AAAAAAAA", 404),
    "another method": ("DELETE", "/unsubscribe/u_1_AAAAAAAA", 405),
    "the root": ("GET", "/", 404),
    "a path below a token": ("GET", "/unsubscribe/u_1_AAAAAAAA/more", 404),
    "a token over 64 characters": ("POST", "/unsubscribe/u_1_" + "A" * 70, 404),
    "a body over a megabyte": ("POST", "/unsubscribe/u_1_AAAAAAAA", 413),
}


@pytest.mark.parametrize(
    "method,path,expected", ODD_REQUESTS.values(), ids=list(ODD_REQUESTS.keys())
)
async def test_every_odd_request_gets_a_proper_answer(client, method, path, expected):
    content = b"x" * (1024 * 1024 + 1) if expected == 413 else None
    response = await client.request(method, path, content=content)
    assert response.status_code == expected
    if expected == 405:
        assert set(response.headers["Allow"].split(", ")) == {"GET", "HEAD", "POST"}
    if expected != 413:
        assert explains(response.text)


@settings(max_examples=100, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    method=st.sampled_from(["GET", "POST", "HEAD", "PUT"]),
    path=st.one_of(
        st.text(max_size=80).map(lambda t: "/unsubscribe/" + t),
        st.text(max_size=80).map(lambda t: "/unsubscribe/u_" + t),
        st.from_regex(r"/unsubscribe/u_[0-9²]{1,4}_[A-Za-z0-9_-]{8}", fullmatch=True),
    ),
)
async def test_any_path_gets_an_answer_and_unsubscribes_nobody(services, client, method, path):
    bystander = await _bystander(services)
    response = await client.request(method, quote(path, safe="/"))
    assert response.status_code in {200, 307, 404, 405}
    assert response.status_code in {200, 307} or method == "HEAD" or explains(response.text)
    assert await unsubscribed(services, bystander) is None


async def _bystander(services: Services) -> int:
    """A supervisor whom no request but one with their own link may unsubscribe."""
    async with services.db.session() as s:
        found = await s.get(Supervisor, 1)  # made by an earlier example of this test
    if found is None:
        return await add_supervisor(services, 9)
    return found.id or 0


async def test_the_header_of_every_supervisor_email_points_at_this_route(services, client):
    """Offers, reminders, thank-yous, calendar emails and the season check all take their
    List-Unsubscribe from `unsubscribe.for_supervisor` (invitations: see
    test_invitation_unsubscribe.py)."""
    five = await add_supervisor(services, 5)
    services.settings = services.settings.model_copy(
        update={"public_url": "https://veileder.example/"}
    )
    target = unsubscribe.for_supervisor(services, five)
    assert target.https is not None and target.https.startswith("https://veileder.example/")
    assert f"<{target.https}>" in target.header()
    asked = await client.get(target.https)
    assert asked.status_code == 200 and await unsubscribed(services, five) is None
    done = await client.post(target.https, data=FORM)
    assert done.status_code == 200 and await unsubscribed(services, five) is not None
