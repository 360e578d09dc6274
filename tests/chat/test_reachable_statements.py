"""Every update passes the privacy gate (`bot.chat.privacy.gate`: a person who blocked the bot
and wrote again is reachable in chat, activity is recorded once a day): it reads, and writes only
when there is something to record. Counted in SQL statements, not timed."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import event

from bot.core.context import Services
from bot.services import offer_courier
from storage.models import Supervisor
from tests.services.test_offer_emails import TUESDAY_10, _world
from tests.support.botapi.fake import FakeTelegram
from tests.support.chat import Chat


@contextmanager
def statements(services: Services) -> Iterator[list[str]]:
    seen: list[str] = []

    def record(_conn: object, _cursor: object, statement: str, *_: object) -> None:
        seen.append(" ".join(statement.split()))

    engine = services.db.engine.sync_engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


def reachable_writes(seen: list[str]) -> list[str]:
    return [s for s in seen if s.startswith("UPDATE supervisor") and "chat_unreachable_at" in s]


async def test_a_normal_answer_writes_nothing_to_the_supervisor_row(
    app, services: Services, clock, john: Chat
):
    clock.current = TUESDAY_10
    await _world(services, john.user)
    await john.command("help")
    with statements(services) as seen:
        await john.command("help")
    assert "helps you supervise" in john.last().text
    assert reachable_writes(seen) == []
    assert [s for s in seen if s.startswith("UPDATE supervisor")] == []


async def test_a_blocked_chat_that_writes_again_is_marked_reachable_once(
    app, services: Services, fake: FakeTelegram, clock, john: Chat
):
    clock.current = TUESDAY_10
    await _world(services, john.user)
    fake.block(john.user.id)
    await offer_courier.deliver_pending(services)  # Telegram answers 403: marked unreachable
    fake.unblock(john.user.id)
    with statements(services) as first:
        await john.command("help")
    with statements(services) as second:
        await john.command("help")
    async with services.db.session() as s:
        supervisor = await s.get(Supervisor, 1)
    assert supervisor is not None and supervisor.chat_unreachable_at is None
    assert len(reachable_writes(first)) == 1
    assert reachable_writes(second) == []
