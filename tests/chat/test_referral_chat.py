"""Colleague referral, end to end: a supervisor forwards a signed "join as a supervisor" link
(Telegram's share URL, a URL button), a colleague opens it and registers, and the coordinators'
digest counts them for that referrer, in both languages. A forged link starts a normal
registration; the referrer's /delete never breaks the colleague's row."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from email.message import EmailMessage
from urllib.parse import parse_qs, urlsplit

import pytest

from bot.core.i18n import Translator
from bot.services import digests, referrals
from storage.models import Coordinator, Supervisor
from tests.helpers import stored
from tests.support.botapi.model import Button
from tests.support.botapi.rules import valid_button_url
from tests.support.chat import Chat, TgUser

START_PAYLOAD = re.compile(r"[A-Za-z0-9_-]{1,64}", re.ASCII)  # Telegram's limit for ?start=
SHARE_TEXT = (
    "Join me as a supervisor for medical exchange students in Norway (IFMSA): "
    "a few bounded tasks a year, answered in Telegram."
)


@pytest.fixture
def anna(fake, app) -> Chat:
    """John's colleague, who gets his link."""
    return Chat.in_process(
        fake, TgUser(id=5551077, first_name="Anna", last_name="Lund", language_code="en"), app
    )


async def register(chat: Chat, *, start: bool = True) -> None:
    """A quick research registration through the chat (verify later, no phone)."""
    if start:
        await chat.command("start")
    await chat.press("I agree")
    await finish(chat)


async def finish(chat: Chat) -> None:
    await chat.press("Research")
    await chat.press("Researcher")
    await chat.send("Oslo University Hospital")
    await chat.press("Oslo")
    await chat.press("Epidemiology")
    await chat.send(f"{chat.user.first_name.lower()}@ous-hf.no")
    await chat.press("Verify later")
    await chat.press("Confirm")


def share_button(chat: Chat) -> Button:
    buttons = [b for row in chat.last().buttons for b in row if b.url]
    assert len(buttons) == 1, chat.last().buttons
    return buttons[0]


def payload_of(share: Button) -> str:
    """The `/start` payload inside a share URL (checked against Telegram's rules on the way)."""
    assert share.url is not None and valid_button_url(share.url)
    parts = urlsplit(share.url)
    assert (parts.scheme, parts.netloc, parts.path) == ("https", "t.me", "/share/url")
    query = parse_qs(parts.query, strict_parsing=True)
    assert query["text"] == [SHARE_TEXT]
    (link,) = query["url"]
    target = urlsplit(link)
    assert (target.scheme, target.netloc, target.path) == ("https", "t.me", "/veileder_test_bot")
    (payload,) = parse_qs(target.query)["start"]
    assert START_PAYLOAD.fullmatch(payload), payload
    assert share.url.isascii() and len(share.url) < 1024
    return payload


async def _supervisor(services, chat: Chat) -> Supervisor:
    _, supervisor = await stored(services, chat.user.id)
    assert supervisor is not None
    return supervisor


async def _coordinators(services) -> None:
    """Two coordinators of Oslo's research exchange, one reading English, one bokmål."""
    async with services.db.session() as session:
        for email, language in (("nora@nmf.example", "en"), ("kjell@nmf.example", "nb")):
            now = services.clock.now() - timedelta(days=30)
            session.add(Coordinator(email=email, role="LORE", exchange_type="research",
                                    city="oslo", language=language, invited_at=now,
                                    bound_at=now))  # fmt: skip


def _text(message: EmailMessage) -> str:
    body = message.get_body(preferencelist=("plain",))
    assert body is not None
    return str(body.get_content())


def _html(message: EmailMessage) -> str:
    body = message.get_body(preferencelist=("html",))
    assert body is not None
    return str(body.get_content())


async def _digest(services, email: str):
    found = await digests.preview(
        services.db, services.settings, email, services.clock.now() + timedelta(minutes=1)
    )
    assert found is not None
    return found


async def test_a_colleague_registers_through_the_link_and_the_digest_counts_them(
    john, anna, services
):
    await register(john)
    # Beside "define a task now?": the share button, a URL under Telegram's limits.
    assert "Invite a colleague" in john.last().button_texts
    payload = payload_of(share_button(john))
    john_row = await _supervisor(services, john)
    assert referrals.parse(services.secret, payload) == john_row.id
    assert not john_row.referred and john_row.referred_by is None

    await anna.command("start", payload)
    assert "A colleague invited you to supervise exchange students." in anna.texts()[-2]
    assert "Welcome to Veileder" in anna.last().text
    assert await stored(services, anna.user.id) == (None, None), "nothing before consent"

    await anna.press("I agree")
    conv, _ = await stored(services, anna.user.id)
    assert conv is not None and conv.data["referred_by"] == john_row.id  # survives a restart
    await finish(anna)

    anna_row = await _supervisor(services, anna)
    assert anna_row.referred and anna_row.referred_by == john_row.id

    await _coordinators(services)
    digest, message = await _digest(services, "nora@nmf.example")
    assert digest.referred == 1
    assert [(r.name, r.count) for r in digest.referrers] == [("John Smith", 1)]
    assert "1 new supervisor came through colleagues." in _text(message)
    assert "- John Smith: 1 colleague\n" in _text(message)
    assert "John Smith: 1 colleague</li>" in _html(message)
    _, message = await _digest(services, "kjell@nmf.example")
    assert "1 ny veileder kom via kolleger." in _text(message)
    assert "- John Smith: 1 kollega\n" in _text(message)

    # Anna's own data says she came through a link, not whose.
    await anna.command("mydata")
    (_, document), *_ = anna.documents()[-1:]
    profile = json.loads(document)["profile"]
    assert profile["referred"] is True and "referred_by" not in profile
    # John is never told who came through his link.
    assert not any("Anna" in text for text in john.texts())


async def test_the_share_button_follows_an_accepted_offer_too(services):
    """`accepted_screen` carries the same URL button (the offer stories press "Accept")."""
    button = referrals.share_button(services, 42, Translator("nb"))
    assert button.label == "Inviter en kollega" and button.callback is None
    assert button.url is not None and "start%3Dj_42_" in button.url


async def test_a_forged_link_starts_a_normal_registration_with_a_notice(john, anna, services):
    await register(john)
    payload = payload_of(share_button(john))
    forged = payload[:-1] + ("A" if payload[-1] != "A" else "B")

    await anna.command("start", forged)
    assert "This invitation link is not valid" in anna.texts()[-2]
    assert "Welcome to Veileder" in anna.last().text
    await anna.press("I agree")
    conv, _ = await stored(services, anna.user.id)
    assert conv is not None and "referred_by" not in conv.data
    await finish(anna)
    anna_row = await _supervisor(services, anna)
    assert not anna_row.referred and anna_row.referred_by is None

    # Another purpose's signature on the same ids does not verify either.
    assert referrals.parse(services.secret, "j_1_" + "A" * 8) is None
    assert referrals.parse(services.secret, "j_01_" + payload[-8:]) is None


async def test_a_registered_supervisor_opening_a_link_sees_their_menu(john, services):
    await register(john)
    payload = payload_of(share_button(john))
    await john.command("start", payload)
    assert "A colleague invited you" not in john.last().text
    assert (await _supervisor(services, john)).referred is False


async def test_the_referrers_delete_keeps_the_colleagues_row(john, anna, kari, services):
    await register(john)
    payload = payload_of(share_button(john))
    john_id = (await _supervisor(services, john)).id
    await anna.command("start", payload)
    await register(anna, start=False)
    # Kari agreed through the link, but John erases his data before she confirms.
    await kari.command("start", payload)
    await kari.press("Jeg samtykker")
    assert (await stored(services, kari.user.id))[0].data["referred_by"] == john_id

    await john.command("delete")
    await john.press("Yes, erase everything")
    assert await stored(services, john.user.id) == (None, None)

    anna_row = await _supervisor(services, anna)
    assert anna_row.referred and anna_row.referred_by is None
    await kari.press("Forskning")
    await kari.press("Forsker")
    await kari.send("Oslo universitetssykehus")
    await kari.press("Oslo")
    await kari.press("Epidemiologi")
    await kari.send("kari@ous-hf.no")
    await kari.press("Bekreft senere")
    await kari.press("Bekreft")
    kari_row = await _supervisor(services, kari)
    assert kari_row.referred and kari_row.referred_by is None

    await _coordinators(services)
    digest, message = await _digest(services, "nora@nmf.example")
    assert digest.referred == 2 and digest.referrers == ()
    assert "2 new supervisors came through colleagues." in _text(message)
    assert "John" not in _text(message)
