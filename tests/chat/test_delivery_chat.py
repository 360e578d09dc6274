"""Coordinators hear about email that did not arrive in their chat, within the working day,
with the person's name: a supervisor's bounced address goes to the coordinators of their city,
a refused relay (the operator's problem) to the national coordinators, and a coordinator whose
own address bounces is told in chat and keeps getting digests. Real SMTP (aiosmtpd) and the
real PTB application."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import pytest
from sqlmodel import select

from bot.core.settings import Settings
from bot.mail.backends import SmtpBackend
from bot.mail.sender import OutboxSender
from bot.services import delivery, digests
from storage import outbox
from storage.models import OutboxEmail, OutboxStatus, Suppression
from tests.smtp_server import smtp_server
from tests.support import coordinator_fixtures
from tests.support.chat import Chat, TgUser
from tests.support.coordinators import bound_coordinator, supervisor_with_task
from tests.support.outbox_worker import email_row

# The coordinators' stories: files served, the app wired as in production, and Nora.
fake, app, nora = coordinator_fixtures.fake, coordinator_fixtures.app, coordinator_fixtures.nora

NILS = TgUser(id=5551011, first_name="Nils", last_name="Berg", language_code="nb")
EVENING = datetime(2026, 11, 24, 20, 30, tzinfo=UTC)  # Tuesday 21:30 in Oslo: after hours
NEXT_MORNING = datetime(2026, 11, 25, 7, 1, tzinfo=UTC)  # Wednesday 08:01 in Oslo


@pytest.fixture
def nils(fake, app) -> Chat:
    return Chat.in_process(fake, NILS, app)


async def queue(services, kind: str, recipient: str, user_id: int | None = None) -> None:
    async with services.db.session() as session:
        number = len(recipient) * 100 + len(kind)  # a distinct idempotency key per email here
        row = email_row(number, services.clock.now(), recipient=recipient)
        row.kind, row.telegram_user_id = kind, user_id
        assert await outbox.queue_email(session, row)


async def send_refused(services, settings: Settings, refusal: str) -> None:
    with smtp_server() as (inbox, port):
        inbox.refuse_rcpt = refusal
        smtp = settings.model_copy(
            update={"mail_backend": "smtp", "smtp_host": "127.0.0.1", "smtp_port": port}
        )
        sender = OutboxSender(services.db, SmtpBackend(smtp), services.clock, rng=random.Random(2))
        assert await sender.run_once() == 0


async def test_a_bounced_supervisor_is_named_to_her_coordinators_the_next_working_morning(
    services, settings, clock, app, kari, nora, nils
):
    await bound_coordinator(services, nora)  # Oslo, clinical (English)
    await bound_coordinator(
        services, nils, role="NEO", city="national", language="nb", email="nils@nmf.example"
    )
    await supervisor_with_task(services, kari, title="Hjertesvikt")
    clock.current = EVENING
    await queue(services, "offer", "kari@ous-hf.example", kari.user.id)
    await send_refused(services, settings, "550 5.1.1 <kari@ous-hf.example>: User unknown")
    nora_mark, nils_mark = nora.mark(), nils.mark()

    assert await delivery.report_sweep(services) == 0  # 21:30: it waits for morning
    assert nora.since(nora_mark) == [] and nils.since(nils_mark) == []

    clock.current = NEXT_MORNING
    assert await delivery.report_sweep(services) == 2
    [told] = nora.since(nora_mark)
    assert told.text.startswith("📭 Email that did not arrive\n")
    assert (
        "• Kari Nordmann (kari@ous-hf.example): 550 5.1.1 <kari@ous-hf.example>: User unknown"
        in told.text
    )
    [norsk] = nils.since(nils_mark)
    assert "E-post som ikke kom fram" in norsk.text and "Kari Nordmann" in norsk.text

    assert await delivery.report_sweep(services) == 0  # told once
    assert len(nora.since(nora_mark)) == 1


async def test_a_refused_relay_is_told_to_the_national_coordinators_as_held_not_as_bounces(
    services, settings, clock, app, kari, nora, nils
):
    await bound_coordinator(services, nora)
    await bound_coordinator(
        services, nils, role="NEO", city="national", language="en", email="nils@nmf.example"
    )
    await supervisor_with_task(services, kari, title="Hjertesvikt")
    await queue(services, "offer", "kari@ous-hf.example", kari.user.id)
    await queue(services, "invitation", "per@unn.example")
    await send_refused(services, settings, "554 5.7.1 <kari@ous-hf.example>: Relay access denied")
    nora_mark, nils_mark = nora.mark(), nils.mark()

    assert await delivery.report_sweep(services) == 1
    assert nora.since(nora_mark) == []
    [told] = nils.since(nils_mark)
    assert told.text.startswith("⚠️ 2 emails are held back: the mail server refuses to send them")
    assert "Relay access denied" in told.text and "nothing is lost" in told.text
    async with services.db.session() as session:
        assert (await session.execute(select(Suppression))).first() is None
        statuses = (await session.execute(select(OutboxEmail.status))).scalars().all()
    assert set(statuses) == {OutboxStatus.HELD}


async def test_a_coordinator_whose_digest_bounces_is_told_in_chat_and_not_suppressed(
    services, settings, clock, app, nora
):
    await bound_coordinator(services, nora, city="national")
    await queue(services, "digest", "nora@nmf.example")
    await send_refused(services, settings, "550 5.1.1 Mailbox unknown")
    mark = nora.mark()
    assert await delivery.report_sweep(services) == 1
    [told] = nora.since(mark)
    assert "• nora@nmf.example (nora@nmf.example): 550 5.1.1 Mailbox unknown" in told.text
    async with services.db.session() as session:
        assert (await session.execute(select(Suppression))).first() is None
    next_monday = datetime(2026, 11, 30, 7, 0, tzinfo=UTC)  # 08:00 in Oslo
    due = await digests.due(services.db, settings, next_monday)
    assert [rows[0].email for rows, _ in due] == ["nora@nmf.example"]  # digests keep coming
