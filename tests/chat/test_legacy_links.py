"""Links and buttons sent before each purpose had its own key keep working: an unsubscribe link
for ever, everything else for 90 days after it was sent, and then says it is no longer valid."""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import UTC, date, datetime, timedelta

import pytest

from bot.services import links, unsubscribe
from storage.models import Invitation, Offer, Supervisor
from tests.support import slots as build

NOW = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)


@pytest.fixture
def database_url(sqlite_url: str) -> str:
    return sqlite_url


def legacy(secret: bytes, user_id: int, body: str) -> str:
    """A signature as made before per-purpose keys: the raw secret signed everything."""
    mac = hmac.new(secret, f"{user_id}:{body}".encode(), hashlib.sha256).digest()[:6]
    return base64.urlsafe_b64encode(mac).decode().rstrip("=")


async def _john_with_offer(services, john) -> Offer:
    async with services.db.session() as s:
        person = await build.supervisor(s, 1, telegram_user_id=john.user.id, chat_id=john.chat_id)
        task = await build.task(s, person)
        slot = await build.slot(s, start_date=date(2027, 9, 6))
        offer = Offer(
            slot_id=slot.id or 0,
            task_id=task.id or 0,
            supervisor_id=person.id or 0,
            reply_by=date(2027, 6, 1),
            created_at=NOW,
        )
        s.add(offer)
        await s.flush()
        return offer


async def test_an_unsubscribe_link_from_an_old_email_works_years_later(services, clock, john):
    async with services.db.session() as s:
        await build.supervisor(s, 1, telegram_user_id=john.user.id, chat_id=john.chat_id)
    old = f"u_1_{legacy(services.secret, 1, 'unsubscribe')}"
    assert old != unsubscribe.payload(services.secret, 1)
    clock.current = NOW + timedelta(days=3 * 365)
    await john.command("start", old)
    assert "no more emails" in john.last().text
    async with services.db.session() as s:
        assert (await s.get(Supervisor, 1)).unsubscribed_at == clock.current


async def test_an_old_offer_link_opens_the_offer_for_90_days_after_it_was_made(
    services, clock, john
):
    offer = await _john_with_offer(services, john)
    old = f"o_{offer.id}_{legacy(services.secret, john.user.id, f'offer:{offer.id}')}"
    assert old != links.offer_payload(services.secret, offer.id or 0, john.user.id)
    clock.current = NOW + timedelta(days=89)
    await john.command("start", old)
    assert "A student needs a supervisor" in john.last().text
    clock.current = NOW + timedelta(days=91)
    await john.command("start", old)
    assert "not valid" in john.last().text
    await john.command("start", links.offer_payload(services.secret, offer.id or 0, john.user.id))
    assert "A student needs a supervisor" in john.last().text  # the new form has no such limit


async def test_an_old_invitation_link_works_for_90_days(services, clock, kari):
    async with services.db.session() as s:
        s.add(Invitation(email="old@uio.no", name="Old Hand", created_at=NOW, sent_at=NOW))
    old = f"i_1_{legacy(services.secret, 1, 'invite')}"
    clock.current = NOW + timedelta(days=91)
    await kari.command("start", old)
    assert "ikke gyldig" in kari.last().text
    clock.current = NOW + timedelta(days=30)
    await kari.command("start", old)
    assert "ikke gyldig" not in kari.texts()[-2]
    async with services.db.session() as s:
        assert (await s.get(Invitation, 1)).answer == "yes"


async def test_a_button_signed_the_old_way_works_for_90_days_after_its_message(
    services, clock, john
):
    async with services.db.session() as s:
        await build.supervisor(s, 1, telegram_user_id=john.user.id, chat_id=john.chat_id)
    await john.command("start")
    menu = john.last()
    sent = datetime.fromtimestamp(menu.date, UTC)
    body = "p:-:pause:"
    old = f"{body}:{legacy(services.secret, john.user.id, body)}"
    clock.current = sent + timedelta(days=91)
    query = await john.press_data(old, menu)
    assert john.fake.callback_answer(query).text == "This button is no longer active."
    assert "1 month" not in menu.button_texts
    clock.current = sent + timedelta(days=10)
    query = await john.press_data(old, menu)
    assert john.fake.callback_answer(query).text is None
    assert "1 month" in john.fake.get_message(john.chat_id, menu.message_id).button_texts
