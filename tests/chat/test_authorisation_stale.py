"""Every coordinator action checks the scope again when it is carried out, not only when its
button was drawn or its flow began: an Oslo clinical coordinator gets the real buttons (or starts
a flow), the scope then moves to Bergen (the yearly handover, or a correction), and every press
or answer after that is refused with nothing changed, the supervisor told nothing.

The commands, buttons and uploads are tried by each kind of party in test_authorisation.py; the
CLI (`python -m bot coordinators|slots|offers|season|digest ...`) has no caller to check: it is
the operator's, at the server's shell, and is not reachable from Telegram.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import date

import pytest
from sqlalchemy import update
from sqlmodel import col, select

from bot.chat.telegram_html import parse_html
from bot.core.i18n import Translator
from storage.models import Conversation, Coordinator, Offer, Slot, SlotStatus, Task, TaskStatus
from tests.support import coordinators as support
from tests.support.chat import Chat, TgUser
from tests.support.coordinators import add_slot, bound_coordinator, supervisor_with_task
from tests.support.files import FilesTelegram

REFERENCE = "CLIN-2027-09-OSL-1"
KARI = TgUser(id=5554001, first_name="Kari", last_name="Lie", language_code="en")
JOHN = TgUser(id=5554002, first_name="John", last_name="Berg", language_code="en")
ADA = TgUser(id=5554100, first_name="Ada", last_name="Actor", language_code="en")


def en(message_id: str) -> str:
    return parse_html(Translator("en")(message_id)).strip()


@pytest.fixture
def database_url(sqlite_url: str) -> str:
    return sqlite_url


@pytest.fixture
def fake() -> FilesTelegram:
    return FilesTelegram()


@pytest.fixture
async def app(settings, fake, clock):
    async with support.application(settings, fake, clock) as application:
        yield application


class Scene:
    def __init__(self, services, fake, ada: Chat, kari: Chat, task: Task, slot: Slot) -> None:
        self.services, self.fake, self.ada, self.kari = services, fake, ada, kari
        self.task, self.slot = task, slot

    async def move_scope_to_bergen(self) -> None:
        async with self.services.db.session() as session:
            await session.execute(
                update(Coordinator)
                .where(col(Coordinator.email) == "ada@x.no")
                .values(city="bergen")
            )

    async def press(self, label: str) -> str:
        message, button = self.ada.find_button(label)
        assert button.callback_data is not None
        query = await self.ada.press_data(button.callback_data, message)
        answer = self.fake.callback_answer(query)
        assert answer is not None
        return answer.text or ""

    async def state(self) -> tuple[object, ...]:
        async with self.services.db.session() as session:
            task = await session.get(Task, self.task.id)
            slot = await session.get(Slot, self.slot.id)
            offers = list((await session.execute(select(Offer))).scalars())
            assert task is not None and slot is not None
            return (task.status, task.title_en, task.return_reason, slot.status, len(offers))

    async def conversation(self) -> Conversation | None:
        async with self.services.db.session() as session:
            return await session.get(Conversation, ADA.id)


@pytest.fixture
async def scene(app, services, fake) -> Scene:
    kari = Chat.in_process(fake, KARI, app)
    task = await supervisor_with_task(services, kari, title="Hjertesvikt på sengepost")
    john = Chat.in_process(fake, JOHN, app)
    await supervisor_with_task(services, john, title="Kardiologi", status=TaskStatus.APPROVED)
    slot = await add_slot(services, REFERENCE, start=date(2027, 9, 6), places=2)
    ada = Chat.in_process(fake, ADA, app)
    await bound_coordinator(services, ada, email="ada@x.no")  # LEO, clinical, Oslo
    return Scene(services, fake, ada, kari, task, slot)


# Each: what the coordinator does while in scope, then (after the move) what is refused.
async def approve(s: Scene) -> None:
    await s.ada.command("pending")
    await s.move_scope_to_bergen()
    assert await s.press("Approve") == en("btn.stale")


async def return_button(s: Scene) -> None:
    await s.ada.command("pending")
    await s.move_scope_to_bergen()
    assert await s.press("Return with a note") == en("btn.stale")
    assert await s.conversation() is None


async def return_note(s: Scene) -> None:
    await s.ada.command("pending")
    await s.press("Return with a note")
    await s.move_scope_to_bergen()
    await s.ada.send("Please name the department")


async def english_button(s: Scene) -> None:
    await s.ada.command("pending")
    await s.move_scope_to_bergen()
    assert await s.press("Add English") == en("btn.stale")
    assert await s.conversation() is None


async def english_answers(s: Scene) -> None:
    await s.ada.command("pending")
    await s.press("Add English")
    await s.move_scope_to_bergen()
    await s.ada.send("Heart failure on the ward")
    await s.ada.send("Students join the heart failure ward and see patients with a consultant.")


async def cancel_slot(s: Scene) -> None:
    await s.ada.command("slots")
    await s.move_scope_to_bergen()
    assert await s.press(f"Cancel {REFERENCE}") == en("coord.slot.stale")


async def confirm_cancel(s: Scene) -> None:
    await s.ada.command("slots")
    await s.press(f"Cancel {REFERENCE}")
    await s.move_scope_to_bergen()
    assert await s.press("Yes, cancel the place") == en("coord.slot.stale")


async def add_slot_confirm(s: Scene) -> None:
    await s.ada.command("addslot")
    await s.ada.send("CLIN-2027-10-OSL-9")
    await s.ada.send("2027-10-04")
    await s.ada.send("1")
    await s.ada.press("No preference")
    await s.ada.press("Skip")
    await s.move_scope_to_bergen()
    await s.press("Add the place")
    async with s.services.db.session() as session:
        found = await session.execute(select(Slot).where(col(Slot.reference).contains("OSL-9")))
        assert list(found.scalars()) == []


STALE: dict[str, Callable[[Scene], Awaitable[None]]] = {
    "approve": approve,
    "return (button)": return_button,
    "return (the note)": return_note,
    "add English (button)": english_button,
    "add English (the answers)": english_answers,
    "cancel a slot": cancel_slot,
    "confirm cancelling a slot": confirm_cancel,
    "/addslot (confirm)": add_slot_confirm,
}


@pytest.mark.parametrize("action", list(STALE))
async def test_an_action_after_the_scope_moved_changes_nothing(scene: Scene, action: str):
    before = await scene.state()
    told = len(scene.kari.messages())
    await STALE[action](scene)
    assert await scene.state() == before
    assert before == (TaskStatus.SUBMITTED, None, None, SlotStatus.OPEN, 0)
    assert len(scene.kari.messages()) == told  # the supervisor hears of nothing
