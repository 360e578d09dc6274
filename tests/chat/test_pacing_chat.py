"""The chat limiter between the bot and (fake) Telegram: a 429 is waited out and the same
message sent again, bulk waits behind replies, and an offer Telegram did not take is sent on
the courier's next round. The limiter runs on virtual time: order and counts, never timings."""

from __future__ import annotations

import asyncio

import pytest
from sqlmodel import select
from telegram.error import RetryAfter

from bot.app import App
from bot.chat.pacing import ChatLimiter, VirtualTimer, bulk
from bot.domain.pacing import Limits, Priority
from bot.services import offer_courier, offers
from storage.models import Offer
from tests.chat.test_offers_chat import NOW, _slot, _supervisor
from tests.support.botapi.fake import FakeTelegram
from tests.support.chat import Chat


def sends(fake: FakeTelegram, chat_id: int) -> list[tuple[int, str]]:
    return [
        (call.status, call.params.get("text", ""))
        for call in fake.calls
        if call.method == "sendMessage" and call.params.get("chat_id") == chat_id
    ]


async def test_a_send_refused_with_retry_after_is_sent_again_and_arrives(
    app: App, fake: FakeTelegram, john: Chat
):
    await john.send("/start")
    fake.floods.next(john.user.id, times=2, retry_after=3)
    await app.bot.send_message(john.user.id, "after the flood")
    attempts = [status for status, text in sends(fake, john.user.id) if text == "after the flood"]
    assert attempts == [429, 429, 200]
    assert john.last().text == "after the flood"


async def test_the_limiter_gives_up_after_its_retries_and_raises_retry_after(
    fake: FakeTelegram, app: App, john: Chat
):
    await john.send("/start")
    limiter = app.bot.rate_limiter
    assert isinstance(limiter, ChatLimiter)
    fake.floods.next(john.user.id, times=limiter.max_retries + 1)
    with pytest.raises(RetryAfter):
        await app.bot.send_message(john.user.id, "never")


async def test_a_waiting_reply_goes_before_waiting_bulk_sends(fake: FakeTelegram, app: App):
    limiter = ChatLimiter(Limits(overall=1), timer=VirtualTimer())
    calls: list[str] = []

    async def call(name: str) -> bool:
        calls.append(name)
        return True

    async def request(name: str, chat: int, priority: Priority | None) -> None:
        await limiter.process_request(call, (name,), {}, "sendMessage", {"chat_id": chat}, priority)

    await limiter.initialize()
    try:
        first = asyncio.create_task(request("first", 1, Priority.BULK))
        await asyncio.sleep(0)
        waiting = [
            asyncio.create_task(request(f"bulk {n}", 10 + n, Priority.BULK)) for n in range(3)
        ]
        reply = asyncio.create_task(request("reply", 99, None))
        await asyncio.gather(first, *waiting, reply)
    finally:
        await limiter.shutdown()
    assert calls == ["first", "reply", "bulk 0", "bulk 1", "bulk 2"]


async def test_the_notifier_marks_its_sends_bulk(app: App):
    assert bulk(app.bot) == {"rate_limit_args": Priority.BULK}


async def test_an_offer_telegram_did_not_take_is_sent_on_the_next_round(
    app: App, services, fake: FakeTelegram, john: Chat, clock
):
    clock.current = NOW
    await john.send("/start")
    await _supervisor(services, john.user, "John Smith")
    slot_id = await _slot(services)
    async with services.db.session() as s:
        await offers.propose(s, services.settings, slot_id, NOW)
    limiter = app.bot.rate_limiter
    assert isinstance(limiter, ChatLimiter)
    fake.floods.next(john.user.id, times=limiter.max_retries + 1)

    assert await offer_courier.deliver_pending(services) == 0
    async with services.db.session() as s:
        (offer,) = (await s.execute(select(Offer))).scalars().all()
        assert offer.delivered_at is None

    assert await offer_courier.deliver_pending(services) == 1
    assert sum("A student needs" in m.text for m in john.messages()) == 1
    assert await offer_courier.deliver_pending(services) == 0
