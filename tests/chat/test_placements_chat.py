"""Accepted places are never dropped without a word: giving one back, withdrawing its task or
/delete name each place in the question; afterwards the supervisor's calendar entry is
cancelled by email (not after /delete: the address is erased), and the coordinators are told
who gave which place back, its reply-by date, and what really happens next."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from email.message import EmailMessage
from html import unescape

import pytest
from icalendar import Calendar

from bot.services import digests
from storage import coordinators
from storage.models import Offer, Supervisor, Task, TaskStatus
from tests.chat.test_offers_chat import _propose, _slot, _supervisor
from tests.helpers import mails
from tests.support.chat import Chat, TgUser

NOW = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)  # a Tuesday, 10:00 in Oslo
REPLY_BY = "2026-12-21"  # 1 March 2027 minus 8 weeks minus the 2-week margin


@pytest.fixture
def database_url(sqlite_url: str) -> str:
    return sqlite_url


async def _coordinator(services, fake, app, language: str = "en") -> Chat:
    chat = Chat.in_process(fake, TgUser(id=7001, first_name="Nora", language_code=language), app)
    async with services.db.session() as s:
        _, token = await coordinators.add_coordinator(
            s,
            email="nore@nmf.no",
            role="NORE",
            exchange_type="research",
            city="national",
            language=language,
            now=NOW,
            secret=services.secret,
        )
        await coordinators.bind_by_token(s, services.secret, token, chat.user.id, chat.user.id, NOW)
    return chat


def _calendar(message: EmailMessage) -> tuple[str, Calendar]:
    [part] = [p for p in message.iter_attachments() if p.get_content_type() == "text/calendar"]
    return part.get_param("method"), Calendar.from_ical(part.get_payload(decode=True))


def _event(cal: Calendar):
    [event] = cal.walk("VEVENT")
    return event


async def _accepted(app, services, fake, john, clock) -> tuple[Chat, int]:
    """John Smith has accepted the one place of SCORE-2027-03-OSL-1; Nora coordinates."""
    clock.current = NOW
    await _supervisor(services, john.user, "John Smith")
    nora = await _coordinator(services, fake, app)
    slot_id = await _slot(services)
    await _propose(app, services, slot_id)
    await john.press("Yes, I'll supervise")
    return nora, slot_id


async def test_the_coordinator_is_told_who_accepted_for_which_task(
    app, services, fake, john, clock
):
    nora, _ = await _accepted(app, services, fake, john, clock)
    assert "John Smith accepted for “John Smith's registry study”" in nora.last().text


async def test_the_confirmation_is_a_calendar_invitation_for_this_offer(
    app, services, fake, john, clock, settings
):
    await _accepted(app, services, fake, john, clock)
    await services.sender.run_once()
    [confirmation] = [m for m in mails(settings.mail_dir) if "Confirmed" in m["Subject"]]
    method, cal = _calendar(confirmation)
    event = _event(cal)
    assert method == "REQUEST" and cal["METHOD"] == "REQUEST"
    assert str(event["ORGANIZER"]) == "mailto:nore@nmf.no"
    assert str(event["ATTENDEE"]) == f"mailto:{john.user.id}@uio.no"
    assert event["ATTENDEE"].params["CN"] == "John Smith"
    assert event["SEQUENCE"] == 0
    async with services.db.session() as s:
        [offer] = (await s.execute(Offer.__table__.select())).all()
    assert str(event["UID"]) == f"veileder-offer-{offer.id}@veileder"


async def test_giving_a_place_back_names_it_cancels_the_calendar_entry_and_offers_propose_now(
    app, services, fake, john, clock, settings
):
    nora, _ = await _accepted(app, services, fake, john, clock)
    await john.press("Give the place back")
    question = john.last().text
    assert "SCORE-2027-03-OSL-1: 01 Mar 2027 – 28 Mar 2027" in question
    assert "cancels it in your calendar" in question
    await john.press("Yes, give it back")

    await services.sender.run_once()
    sent = mails(settings.mail_dir)
    [confirmation] = [m for m in sent if m["Subject"].startswith("Confirmed")]
    [cancellation] = [m for m in sent if m["Subject"].startswith("Cancelled")]
    method, cal = _calendar(cancellation)
    event = _event(cal)
    assert method == "CANCEL" and cal["METHOD"] == "CANCEL"
    assert event["UID"] == _event(_calendar(confirmation)[1])["UID"]
    assert event["SEQUENCE"] == 1
    assert cancellation["Subject"] == "Cancelled: you no longer supervise SCORE-2027-03-OSL-1"
    assert "01 Mar 2027 – 28 Mar 2027" in cancellation.get_body(("plain",)).get_content()

    notice = nora.last().text
    assert "John Smith gave back the place for “John Smith's registry study”" in notice
    assert "SCORE-2027-03-OSL-1" in notice and f"reply-by date {REPLY_BY}" in notice
    assert "Nobody else has been asked" in notice
    assert "being asked" not in notice


async def test_propose_now_asks_a_task_approved_since_the_place_was_given_back(
    app, services, fake, john, kari, clock
):
    nora, _ = await _accepted(app, services, fake, john, clock)
    await john.press("Give the place back")
    await john.press("Yes, give it back")
    await _supervisor(services, kari.user, "Kari Nordmann")  # approved after the notice
    await nora.press("Propose now")
    assert "SCORE-2027-03-OSL-1" in nora.last().text
    async with services.db.session() as s:
        asked = (await s.execute(Offer.__table__.select())).all()
    kari_id = await _supervisor_id(services, kari.user.id)
    assert any(row.supervisor_id == kari_id and row.status == "sent" for row in asked)


async def _supervisor_id(services, telegram_user_id: int) -> int:
    async with services.db.session() as s:
        result = await s.execute(
            Supervisor.__table__.select().where(
                Supervisor.__table__.c.telegram_user_id == telegram_user_id
            )
        )
        return result.one().id


async def test_when_others_are_asked_at_once_the_notice_says_how_many(
    app, services, fake, john, kari, clock
):
    nora, _ = await _accepted(app, services, fake, john, clock)
    await _supervisor(services, kari.user, "Kari Nordmann")
    await john.press("Give the place back")
    await john.press("Yes, give it back")
    notice = nora.last()
    assert "Supervisors asked now and waiting to answer: 1." in notice.text
    assert not notice.reply_markup  # nothing to propose: it is being done


async def test_withdrawing_a_task_names_its_place_and_cancels_it(
    app, services, fake, john, clock, settings
):
    nora, _ = await _accepted(app, services, fake, john, clock)
    await john.command("tasks")
    await john.press("John Smith's registry study")
    await john.press("Withdraw")
    question = john.last().text
    assert "You have accepted these places" in question
    assert "SCORE-2027-03-OSL-1: 01 Mar 2027 – 28 Mar 2027" in question
    await john.press("Yes, withdraw")
    await services.sender.run_once()
    assert any(m["Subject"].startswith("Cancelled") for m in mails(settings.mail_dir))
    assert "John Smith gave back the place" in nora.last().text
    async with services.db.session() as s:
        [task] = (await s.execute(Task.__table__.select())).all()
    assert task.status == TaskStatus.WITHDRAWN


async def test_delete_names_the_place_and_the_coordinator_learns_who_left_it(
    app, services, fake, john, clock, settings
):
    nora, _ = await _accepted(app, services, fake, john, clock)
    await john.command("delete")
    question = john.last().text
    assert "SCORE-2027-03-OSL-1: 01 Mar 2027 – 28 Mar 2027" in question
    assert "Remove them from your calendar yourself" in question
    await john.press("Yes, erase everything")
    notice = nora.last().text
    assert "John Smith gave back the place" in notice and REPLY_BY in notice
    await services.sender.run_once()
    assert not any(m["Subject"].startswith("Cancelled") for m in mails(settings.mail_dir))


async def test_a_question_without_accepted_places_says_nothing_about_them(
    app, services, fake, john, clock
):
    clock.current = NOW
    await _supervisor(services, john.user, "John Smith")
    await john.command("delete")
    assert "accepted these places" not in john.last().text
    assert date(2027, 3, 1).isoformat() not in john.last().text


async def test_slots_show_who_took_each_place_and_for_which_task(app, services, fake, john, clock):
    nora, _ = await _accepted(app, services, fake, john, clock)
    await nora.command("slots")
    lines = nora.last().text.splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith("SCORE-2027-03-OSL-1"))
    assert "1 place, 1 filled, 0 open" in lines[at]
    assert lines[at + 1].strip() == "✔ John Smith: “John Smith's registry study”"


async def test_the_digest_names_who_took_each_place(app, services, fake, john, clock, settings):
    await _accepted(app, services, fake, john, clock)
    clock.advance(timedelta(hours=1))  # the digest reports up to (not including) its moment
    assert await digests.send_due_digests(services.db, settings, clock.now()) == 1
    await services.sender.run_once()
    [digest] = [m for m in mails(settings.mail_dir) if m["To"] == "nore@nmf.no"]
    text = digest.get_body(("plain",)).get_content()
    html = digest.get_body(("html",)).get_content()
    assert "✔ John Smith: “John Smith's registry study”" in text
    assert "✔ John Smith: “John Smith's registry study”" in unescape(html), html


async def test_a_slot_cancelled_by_the_coordinator_is_taken_out_of_the_calendar_too(
    app, services, fake, john, clock, settings
):
    nora, _ = await _accepted(app, services, fake, john, clock)
    await nora.command("slots")
    await nora.press("Cancel SCORE-2027-03-OSL-1")
    await nora.press("Yes, cancel the place")
    await services.sender.run_once()
    [cancellation] = [m for m in mails(settings.mail_dir) if m["Subject"].startswith("Cancelled")]
    method, cal = _calendar(cancellation)
    assert method == "CANCEL" and _event(cal)["SEQUENCE"] == 1
    text = cancellation.get_body(("plain",)).get_content()
    assert "The exchange coordinators have cancelled this place" in text
