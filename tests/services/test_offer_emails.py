"""Offer emails through a real SMTP server: the offer, a humane follow-up, the confirmation with
a calendar file, the thank-you afterwards; unsubscribing and answering stop them."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlmodel import select

from bot.app import build_application, running, services_of
from bot.chat.flows.registration.steps import CONSENT_VERSION
from bot.mail.backends import SmtpBackend
from bot.services import offer_courier, offer_reminders, offers
from storage import coordinators
from storage.models import Slot, Supervisor, Task, TaskStatus
from tests.smtp_server import smtp_server
from tests.support.botapi.request import RecordingRequest
from tests.support.chat import Chat, TgUser
from tests.support.pacing import virtual_limiter

TUESDAY_10 = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)  # 10:00 in Oslo


@pytest.fixture
def database_url(sqlite_url: str) -> str:
    return sqlite_url


async def _world(services, john: TgUser, *, verified: bool = True) -> int:
    now = TUESDAY_10
    async with services.db.session() as s:
        sup = Supervisor(
            telegram_user_id=john.id,
            chat_id=john.id,
            language="en",
            name="John <Smith>",
            title="researcher",
            workplace="UiO",
            city="oslo",
            fields=["epidemiology"],
            exchange_types=["research"],
            email="john@uio.no",
            email_verified_at=now if verified else None,
            consent_version=CONSENT_VERSION,
            consent_at=now,
            created_at=now,
            updated_at=now,
        )
        s.add(sup)
        await s.flush()
        s.add(
            Task(
                supervisor_id=sup.id,
                season=2026,
                exchange_type="research",
                title="Registry study",
                field="epidemiology",
                city="oslo",
                site="UiO",
                weeks=4,
                months=["2027-03"],
                capacity=1,
                backup_contact="Dr. B",
                status=TaskStatus.APPROVED,
                created_at=now,
                updated_at=now,
            )
        )
        slot = Slot(
            reference="SCORE-2027-03-OSL-1",
            exchange_type="research",
            city="oslo",
            start_date=date(2027, 3, 1),
            weeks=4,
            places=1,
            partner_country="Morocco",
            created_at=now,
            updated_at=now,
        )
        s.add(slot)
        _, token = await coordinators.add_coordinator(
            s,
            email="nore@nmf.no",
            role="NORE",
            exchange_type="research",
            city="national",
            language="nb",
            now=now,
            secret=services.secret,
        )
        await coordinators.bind_by_token(s, services.secret, token, 7001, 7001, now)
        await s.flush()
        await offers.propose(s, services.settings, slot.id or 0, now)
        return slot.id or 0


async def _sweep(app) -> None:
    services = services_of(app)
    await offer_reminders.reminder_sweep(services)
    await services.sender.run_once()


async def test_an_offer_email_a_follow_up_a_confirmation_and_a_thank_you(settings, fake, clock):
    clock.current = TUESDAY_10
    with smtp_server() as (inbox, port):
        smtp = settings.model_copy(
            update={
                "mail_backend": "smtp",
                "smtp_host": "127.0.0.1",
                "smtp_port": port,
                "public_url": "https://veileder.example",
            }
        )
        app = build_application(
            smtp,
            rate_limiter=virtual_limiter(),
            request=RecordingRequest(fake),
            clock=clock,
            mail_backend=SmtpBackend(smtp),
            start_sender=False,
        )
        async with running(app):
            services = services_of(app)
            john = Chat.in_process(
                fake, TgUser(id=5551002, first_name="John", language_code="en"), app
            )
            fake.register_chat(7001)
            await _world(services, john.user)
            await offer_courier.deliver_pending(services)
            await _sweep(app)
            [first] = inbox.received
            assert first["Subject"] == "An exchange student needs a supervisor: can you?"
            assert first["Reply-To"] == "nore@nmf.no"
            assert (
                "<mailto:veileder@nmf.example?subject=unsubscribe%20u_" in first["List-Unsubscribe"]
            )
            assert "<https://veileder.example/unsubscribe/u_" in first["List-Unsubscribe"]
            assert first["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
            html = first.get_body(("html",)).get_content()
            text = first.get_body(("plain",)).get_content()
            assert "John &lt;Smith&gt;" in html and "John <Smith>" in text
            assert re.search(r"https://t\.me/veileder_test_bot\?start=o_\d+_", text)
            assert "registered as a supervisor with Veileder" in text  # why they receive it

            await _sweep(app)  # the same day: nothing more
            clock.advance(timedelta(days=6))
            await _sweep(app)  # six days later: still nothing
            assert len(inbox.received) == 1
            clock.advance(timedelta(days=1))
            before = john.mark()
            await _sweep(app)
            assert len(inbox.received) == 2 and "Reminder" in inbox.received[1]["Subject"]
            assert any(
                "Reminder" in m.text for m in john.new_messages(before)
            )  # a nudge in chat too

            await john.press("Yes, I'll supervise")
            await services.sender.run_once()
            confirmation = inbox.received[2]
            assert confirmation["Subject"] == "Confirmed: you supervise SCORE-2027-03-OSL-1"
            assert confirmation.get_content_type() == "multipart/mixed"
            assert confirmation["Content-Language"] == "en"  # on the message, not only a part
            [ics] = [
                p
                for p in confirmation.iter_attachments()
                if p.get_content_type() == "text/calendar"
            ]
            calendar = ics.get_content()
            calendar = calendar.decode() if isinstance(calendar, bytes) else calendar
            assert (
                "DTSTART;VALUE=DATE:20270301" in calendar
                and "DTEND;VALUE=DATE:20270329" in calendar
            )

            clock.advance(timedelta(days=8))
            await _sweep(app)
            assert len(inbox.received) == 3  # answered: no more follow-ups

            clock.current = datetime(2027, 3, 30, 9, 0, tzinfo=UTC)
            await offer_reminders.thanks_sweep(services)
            await offer_reminders.thanks_sweep(services)  # once only
            await services.sender.run_once()
            assert len(inbox.received) == 4
            thanks = inbox.received[3].get_body(("plain",)).get_content()
            assert "This confirms that John <Smith> (UiO) supervised" in thanks
            assert "01 Mar 2027 – 28 Mar 2027" in thanks


async def test_unsubscribed_and_unverified_supervisors_get_no_offer_email(
    app, services, fake, clock, john, settings
):
    from tests.helpers import mails

    clock.current = TUESDAY_10
    await _world(services, john.user, verified=False)
    await _sweep(app)
    assert mails(settings.mail_dir) == []  # unverified: nothing but verification
    async with services.db.session() as s:
        sup = await s.get(Supervisor, 1)
        sup.email_verified_at = TUESDAY_10
    from bot.services import unsubscribe

    await john.command("start", unsubscribe.payload(services.secret, 1))
    assert "no more emails" in john.last().text
    await _sweep(app)
    assert mails(settings.mail_dir) == []


async def test_someone_elses_unsubscribe_link_does_nothing(app, services, clock, john, kari):
    from bot.services import unsubscribe

    clock.current = TUESDAY_10
    await _world(services, john.user)
    await kari.command("start", unsubscribe.payload(services.secret, 1))
    assert "ikke gyldig" in kari.last().text
    async with services.db.session() as s:
        sup = await s.get(Supervisor, 1)
    assert sup is not None and sup.unsubscribed_at is None


async def test_a_blocked_bot_marks_the_supervisor_unreachable_in_chat(
    app, services, fake, clock, john
):
    clock.current = TUESDAY_10
    slot_id = await _world(services, john.user)
    fake.block(john.user.id)
    await offer_courier.deliver_pending(services)
    async with services.db.session() as s:
        sup = await s.get(Supervisor, 1)
        slot = await s.get(Slot, slot_id)
    assert sup is not None and sup.chat_unreachable_at is not None
    assert slot is not None


async def test_writing_to_the_bot_again_makes_the_chat_reachable(app, services, fake, clock, john):
    clock.current = TUESDAY_10
    await _world(services, john.user)
    fake.block(john.user.id)
    await offer_courier.deliver_pending(services)
    fake.unblock(john.user.id)
    await john.command("help")
    async with services.db.session() as s:
        sup = await s.get(Supervisor, 1)
    assert sup is not None and sup.chat_unreachable_at is None


async def test_unsubscribing_also_stops_mail_already_queued(app, services, clock, john, settings):
    from bot.services import unsubscribe
    from storage.models import OutboxEmail, OutboxStatus

    clock.current = TUESDAY_10
    await _world(services, john.user)
    await offer_reminders.reminder_sweep(services)  # queued, not sent yet (say SMTP is down)
    await john.command("start", unsubscribe.payload(services.secret, 1))
    await services.sender.run_once()
    async with services.db.session() as s:
        result = await s.execute(select(OutboxEmail).where(OutboxEmail.kind == "offer"))
        offer_mail = result.scalar_one()
    assert offer_mail.status == OutboxStatus.FAILED and "unsubscribed" in (
        offer_mail.last_error or ""
    )
