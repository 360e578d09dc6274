"""Email through the outbox, received by a real SMTP server: valid MIME, the code the person types
comes from the received message, and a broken mail server never holds up a chat."""

from __future__ import annotations

import asyncio
import re

import pytest

from bot.app import build_application, running, services_of
from bot.core.settings import Settings
from bot.mail.backends import FileBackend, SmtpBackend
from storage.models import OutboxEmail, OutboxStatus
from tests.helpers import code_in, mails
from tests.smtp_server import SilentServer, check_mime, smtp_server
from tests.support.botapi.request import RecordingRequest
from tests.support.chat import Chat, TgUser
from tests.support.pacing import virtual_limiter


def _smtp_settings(settings: Settings, port: int, timeout: float = 10.0) -> Settings:
    return settings.model_copy(
        update={
            "mail_backend": "smtp",
            "smtp_host": "127.0.0.1",
            "smtp_port": port,
            "smtp_timeout_seconds": timeout,
        }
    )


async def _to_email(chat: Chat) -> None:
    await chat.command("start")
    await chat.press("I agree")
    await chat.press("Research")
    await chat.press("Researcher")
    await chat.send("Oslo University Hospital")
    await chat.press("Oslo")
    await chat.press("Epidemiology")


async def _outbox(app) -> list[OutboxEmail]:
    from sqlmodel import select

    async with services_of(app).db.session() as session:
        return list((await session.execute(select(OutboxEmail))).scalars())


@pytest.fixture
def database_url(sqlite_url: str) -> str:
    """Mail delivery does not depend on the database: these stories run on SQLite only."""
    return sqlite_url


async def test_the_verification_email_arrives_over_smtp_as_multipart_mime(settings, fake, clock):
    with smtp_server() as (inbox, port):
        smtp = _smtp_settings(settings, port)
        app = build_application(
            smtp,
            rate_limiter=virtual_limiter(),
            request=RecordingRequest(fake),
            clock=clock,
            mail_backend=SmtpBackend(smtp),
            start_sender=False,
        )
        async with running(app):
            john = Chat.in_process(
                fake, TgUser(id=77, first_name="John", last_name="<Smith>", language_code="en"), app
            )
            await _to_email(john)
            await john.send("john@ous-hf.no")
            await services_of(app).sender.run_once()
            [raw] = inbox.raw
            message = check_mime(raw)
            assert message.get_content_type() == "multipart/alternative"
            assert [p.get_content_type() for p in message.iter_parts()] == [
                "text/plain",
                "text/html",
            ]
            assert (
                message["To"] == "john@ous-hf.no"
                and message["From"] == "Veileder <veileder@nmf.example>"
            )
            assert re.fullmatch(r"<[0-9a-f]{12}\.[0-9a-f]{32}@nmf\.example>", message["Message-ID"])
            html = message.get_body(preferencelist=("html",)).get_content()
            assert "&lt;Smith&gt;" in html and "<Smith>" not in html  # the name is escaped in HTML
            assert 'href="https://t.me/veileder_test_bot?start=v_' in html
            assert message["Subject"] == "Your Veileder verification code"  # no code in it
            code = code_in(message)
            await john.send(code)
            assert "Please check your details" in john.last().text
            [row] = await _outbox(app)
            assert row.status == OutboxStatus.SENT and row.attempts == 1
            assert row.message_id == message["Message-ID"]
            assert code not in row.message + row.subject  # sent: the code is not kept


async def test_a_refused_recipient_fails_for_good_with_the_servers_reason(settings, fake, clock):
    with smtp_server() as (inbox, port):
        inbox.refuse_rcpt = "550 5.1.1 No such user"
        smtp = _smtp_settings(settings, port)
        app = build_application(
            smtp,
            rate_limiter=virtual_limiter(),
            request=RecordingRequest(fake),
            clock=clock,
            mail_backend=SmtpBackend(smtp),
            start_sender=False,
        )
        async with running(app):
            john = Chat.in_process(fake, TgUser(id=78, first_name="John", language_code="en"), app)
            await _to_email(john)
            await john.send("nobody@ous-hf.no")
            await services_of(app).sender.run_once()
            [row] = await _outbox(app)
            assert row.status == OutboxStatus.FAILED and "No such user" in (row.last_error or "")
            assert await services_of(app).sender.run_once() == 0  # never retried


async def test_a_temporary_refusal_is_retried_later_and_then_delivered(settings, fake, clock):
    from datetime import timedelta

    with smtp_server() as (inbox, port):
        inbox.temporary_failures = 1
        smtp = _smtp_settings(settings, port)
        app = build_application(
            smtp,
            rate_limiter=virtual_limiter(),
            request=RecordingRequest(fake),
            clock=clock,
            mail_backend=SmtpBackend(smtp),
            start_sender=False,
        )
        async with running(app):
            john = Chat.in_process(fake, TgUser(id=79, first_name="John", language_code="en"), app)
            await _to_email(john)
            await john.send("john@ous-hf.no")
            sender = services_of(app).sender
            assert await sender.run_once() == 0
            [row] = await _outbox(app)
            assert row.status == OutboxStatus.PENDING and "451" in (row.last_error or "")
            assert await sender.run_once() == 0  # not due yet: backoff
            clock.advance(timedelta(minutes=5))
            assert await sender.run_once() == 1
            assert len(inbox.received) == 1


async def test_a_hanging_mail_server_does_not_hold_up_the_chat(settings, fake, clock):
    async with SilentServer() as silent:
        smtp = _smtp_settings(settings, silent.port, timeout=30)
        app = build_application(
            smtp,
            rate_limiter=virtual_limiter(),
            request=RecordingRequest(fake),
            clock=clock,
            mail_backend=SmtpBackend(smtp),
            start_sender=True,
            poll_seconds=0.05,
        )
        async with running(app):
            john = Chat.in_process(fake, TgUser(id=80, first_name="John", language_code="en"), app)
            await _to_email(john)
            await john.send("john@ous-hf.no")
            await asyncio.wait_for(silent.connected.wait(), 10)  # the sender is now stuck in SMTP
            assert "6-digit code" in john.last().text
            await john.press("Verify later")  # the chat goes on while the email hangs
            assert "Please check your details" in john.last().text
            [row] = await _outbox(app)
            assert row.status == OutboxStatus.SENDING


async def test_the_file_backend_writes_a_parseable_eml(john, services, settings):
    await _to_email(john)
    await john.send("john@uio.no")
    await services.sender.run_once()
    [message] = mails(settings.mail_dir)
    assert message.is_multipart() and message["Subject"] == "Your Veileder verification code"
    assert isinstance(services.sender.backend, FileBackend)
