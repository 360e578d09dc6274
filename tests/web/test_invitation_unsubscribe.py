"""An invited person (no account, no Telegram) says "no thanks" with one click in their mail
client (RFC 8058) when PUBLIC_URL is configured (`bot.web.unsubscribe`), and every email's footer
offers to unsubscribe in words spam filters do not hold against it."""

from __future__ import annotations

import re

import httpx
import pytest
from sqlmodel import select

from bot.services import campaigns
from bot.web.app import create_app
from storage.models import Invitation, Suppression
from tests.helpers import mails
from tests.support.outbox_worker import email_row

# After SpamAssassin's END_FUTURE_EMAILS ("stop these emails", "end future mailings", ...).
END_FUTURE_EMAILS = re.compile(
    r"\b(?:stop|end|cease|discontinue|prevent|avoid|halt|quit|terminate)"
    r"(?: (?:receiving|getting))?(?: (?:these|those|this|such|our|any|all|further|future|more))?"
    r" (?:e-?mail|message|newsletter|mailing|correspondence)s?\b",
    re.IGNORECASE,
)


@pytest.fixture
def database_url(sqlite_url: str) -> str:
    return sqlite_url


async def test_an_invited_person_declines_with_one_click_in_their_mail_client(
    services, settings, clock
):
    services.settings = settings.model_copy(update={"public_url": "https://veileder.example/"})
    rows, _ = campaigns.parse_invitations("name,email\nSiri Berg,Siri@helse-bergen.no\n")
    async with services.db.session() as session:
        await campaigns.invite(
            session,
            rows,
            settings=services.settings,
            secret=services.secret,
            bot_username="veileder_test_bot",
            now=clock.now(),
        )
    await services.sender.run_once()
    [message] = mails(settings.mail_dir)
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    https = re.search(
        r"<https://veileder\.example(/unsubscribe/n_[^>]+)>", message["List-Unsubscribe"]
    )
    assert https, message["List-Unsubscribe"]
    text = message.get_body(("plain",)).get_content()
    assert "Meld deg av (ett trykk i boten)" in text

    web = create_app(services)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=web), base_url="https://veileder.example"
    ) as client:
        asked = await client.get(https.group(1))  # a mail scanner's prefetch declines nothing
        assert asked.status_code == 200 and '<form method="post">' in asked.text
        async with services.db.session() as session:
            assert (await session.execute(select(Suppression))).scalars().all() == []
        done = await client.post(https.group(1), data={"List-Unsubscribe": "One-Click"})
        assert done.status_code == 200 and "will not invite you or email you again" in done.text
        assert "Veileder vil ikke invitere deg" in done.text
        forged = https.group(1)[:-2] + ("aa" if not https.group(1).endswith("aa") else "bb")
        assert (await client.post(forged)).status_code == 404
    async with services.db.session() as session:
        [invitation] = (await session.execute(select(Invitation))).scalars().all()
        [suppressed] = (await session.execute(select(Suppression))).scalars().all()
    assert invitation.answer == "no"
    assert (suppressed.email, suppressed.reason) == ("siri@helse-bergen.no", "declined")


def test_the_english_footer_says_unsubscribe_not_stop_these_emails(clock):
    row = email_row(3, clock.now())  # a verification email in English, with the footer
    assert "Unsubscribe (one tap in the bot)" in row.message
    assert END_FUTURE_EMAILS.search("Stop these emails")  # the pattern does catch the old one
    assert not END_FUTURE_EMAILS.search(row.message)
