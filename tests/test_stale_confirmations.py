"""A yes/no question acts only while what it asks about is as it was when asked, and only once.

In the demo, a coordinator answered "No, keep it" to a slot's cancel question, switched person
and back, and the redisplayed question's "Yes, cancel the place" still cancelled the slot. Now
every confirmation's buttons carry the question's id (and the question remembers a fingerprint
of its subject), and `/pending`'s approve and return carry the task's fingerprint: an old button
answers "This question was already answered ..." and changes nothing."""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from datetime import date, timedelta

from sqlmodel import col, select, update

from bot.chat.flows import coordinator
from bot.core.i18n import Translator
from bot.demo import TerminalRequest
from bot.jobs.scheduler import Scheduler
from bot.services import links
from storage import repository
from storage.models import Offer, OfferStatus, Question, Slot, SlotStatus, Task, TaskStatus
from tests.support import coordinator_fixtures
from tests.support.botapi import Button, SentMessage
from tests.support.chat import Chat
from tests.support.coordinators import add_slot, bound_coordinator, supervisor_with_task

# The coordinators' stories: files served, the app wired as in production, and Nora.
fake, app, nora = coordinator_fixtures.fake, coordinator_fixtures.app, coordinator_fixtures.nora

ANSWERED = (
    "This question was already answered, or what it asks about has changed since. Nothing was done."
)


@dataclass(frozen=True)
class Shown:
    """A question as it was on screen when first shown, with the buttons it had then."""

    message: SentMessage
    buttons: list[Button]


def snapshot(chat: Chat) -> Shown:
    message = chat.last()
    return Shown(message, [b for row in message.buttons for b in row])


async def press_old(chat: Chat, shown: Shown, label: str) -> str | None:
    """Press a button of a question as it was first shown (a stale screen, a replay)."""
    button = next(b for b in shown.buttons if label in b.text)
    assert button.callback_data is not None
    query = await chat.press_data(button.callback_data, shown.message)
    return answer_to(chat, query)


def answer_to(chat: Chat, query: str) -> str | None:
    """What the person saw on the button they pressed."""
    answer = chat.fake.callback_answer(query)
    return answer.text if answer is not None else None


async def _slot(services, reference: str) -> Slot:
    async with services.db.session() as session:
        result = await session.execute(select(Slot).where(col(Slot.reference) == reference))
        return result.scalar_one()


async def _task(services, task_id: int) -> Task:
    async with services.db.session() as session:
        task = await session.get(Task, task_id)
        assert task is not None
        return task


# ---- cancel a slot ------------------------------------------------------------------------------


async def test_a_coordinator_who_kept_a_slot_cannot_cancel_it_with_the_old_question(services, nora):
    await add_slot(services, "SCOPE-2027-09-OSL-1")
    await bound_coordinator(services, nora)
    await nora.command("slots")
    await nora.press("Cancel SCOPE-2027-09-OSL-1")
    question = snapshot(nora)
    await nora.press("No, keep it")
    assert nora.last().text == "Kept: the place SCOPE-2027-09-OSL-1 is unchanged."

    answer = await press_old(nora, question, "Yes, cancel the place")
    assert answer == ANSWERED
    assert (await _slot(services, "SCOPE-2027-09-OSL-1")).status == SlotStatus.OPEN


async def test_a_cancel_question_asked_before_a_place_was_filled_cancels_nothing(
    services, nora, kari
):
    slot = await add_slot(services, "SCOPE-2027-09-OSL-1", places=2)
    await bound_coordinator(services, nora)
    await nora.command("slots")
    await nora.press("Cancel SCOPE-2027-09-OSL-1")
    assert "0" in nora.last().text  # the question as asked: no place filled yet
    task = await supervisor_with_task(services, kari, title="Hjerte", status=TaskStatus.APPROVED)
    async with services.db.session() as session:  # a supervisor accepts meanwhile
        session.add(
            Offer(
                slot_id=slot.id or 0,
                task_id=task.id or 0,
                supervisor_id=task.supervisor_id,
                status=OfferStatus.ACCEPTED,
                reply_by=date(2027, 6, 28),
                created_at=services.clock.now(),
            )
        )
        await session.execute(update(Slot).where(col(Slot.id) == slot.id).values(filled=1))
    told = len(kari.messages())

    query = await nora.press("Yes, cancel the place")
    assert answer_to(nora, query) == ANSWERED
    assert nora.last().button_texts == []  # the stale question lost its buttons
    stored = await _slot(services, "SCOPE-2027-09-OSL-1")
    assert stored.status == SlotStatus.OPEN and stored.filled == 1
    assert len(kari.messages()) == told  # nobody was told of a cancellation


async def test_the_demo_does_not_show_an_answered_questions_buttons_again(tmp_path):
    """`/as` recaps where a person was: a question answered since has no numbers to type."""
    out = io.StringIO()
    screen = TerminalRequest(out, tmp_path, Translator("en"))
    keyboard = {
        "inline_keyboard": [
            [{"text": "Yes, cancel the place", "callback_data": "c:s:cy:1.1:x"}],
            [{"text": "No, keep it", "callback_data": "c:s:cn:1.1:x"}],
        ]
    }
    sent = screen.handle(
        "sendMessage",
        {"chat_id": 7, "text": "Cancel the place?", "reply_markup": json.dumps(keyboard)},
        None,
    )
    screen.handle(
        "editMessageText",
        {"chat_id": 7, "message_id": sent["message_id"], "text": "Kept: the place is unchanged."},
        None,
    )
    out.truncate(0)
    screen.recap(7)
    assert "Kept: the place is unchanged." in out.getvalue()
    assert "Yes, cancel the place" not in out.getvalue() and "[1]" not in out.getvalue()


# ---- withdraw a task ----------------------------------------------------------------------------


async def test_a_supervisor_who_went_back_cannot_withdraw_with_the_old_question(services, john):
    task = await supervisor_with_task(services, john, title="Hjerte", status=TaskStatus.APPROVED)
    await john.command("tasks")
    await john.press("Hjerte")
    await john.press("Withdraw")
    question = snapshot(john)
    await john.press("◀️ Back")

    assert await press_old(john, question, "withdraw") == ANSWERED
    assert (await _task(services, task.id or 0)).status == TaskStatus.APPROVED


async def test_a_withdraw_question_about_a_task_changed_since_does_nothing(services, john, clock):
    task = await supervisor_with_task(services, john, title="Hjerte", status=TaskStatus.SUBMITTED)
    await john.command("tasks")
    await john.press("Hjerte")
    await john.press("Withdraw")
    async with services.db.session() as session:  # a coordinator approves it meanwhile
        await session.execute(
            update(Task).where(col(Task.id) == task.id).values(status=TaskStatus.APPROVED)
        )

    query = await john.press("withdraw")
    assert answer_to(john, query) == ANSWERED
    assert (await _task(services, task.id or 0)).status == TaskStatus.APPROVED


# ---- /delete ------------------------------------------------------------------------------------


async def test_someone_who_kept_their_data_cannot_erase_it_with_the_old_question(services, john):
    await supervisor_with_task(services, john, title="Hjerte")
    await john.command("delete")
    question = snapshot(john)
    await john.press("No")

    assert await press_old(john, question, "Yes") == ANSWERED
    async with services.db.session() as session:
        assert await repository.get_supervisor(session, john.user.id) is not None


async def test_a_delete_question_answers_once(services, john):
    await supervisor_with_task(services, john, title="Hjerte")
    await john.command("delete")
    question = snapshot(john)
    await john.press("Yes")
    async with services.db.session() as session:
        assert await repository.get_supervisor(session, john.user.id) is None
    told = len(john.messages())

    assert await press_old(john, question, "Yes") == ANSWERED
    assert len(john.messages()) == told
    async with services.db.session() as session:  # the question was erased with the rest
        assert (await session.execute(select(Question))).scalars().all() == []


async def test_delete_before_agreeing_stores_nothing_and_its_yes_cannot_erase_a_later_start(
    services, john
):
    await john.command("delete")
    question = snapshot(john)
    async with services.db.session() as session:
        assert (await session.execute(select(Question))).scalars().all() == []
    await john.command("start")
    await john.press("I agree")

    assert await press_old(john, question, "Yes") == ANSWERED
    async with services.db.session() as session:
        assert await repository.get_conversation(session, john.user.id) is not None


async def test_questions_are_forgotten_with_old_drafts(app, services, john, clock):
    await supervisor_with_task(services, john, title="Lungs")
    await john.command("delete")
    await john.press("No")
    await john.command("delete")  # asked again, never answered
    scheduler = Scheduler(app.bot, services)
    clock.advance(timedelta(days=29))
    await scheduler.run_all_once()
    async with services.db.session() as session:
        assert len((await session.execute(select(Question))).scalars().all()) == 2
    clock.advance(timedelta(days=2))
    await scheduler.run_all_once()
    async with services.db.session() as session:
        assert (await session.execute(select(Question))).scalars().all() == []
    await scheduler.stop()


# ---- give a place back --------------------------------------------------------------------------


async def _accepted_place(services, john) -> tuple[int, int]:
    """Kari has accepted a place; she opens it from the offer's deep link."""
    slot = await add_slot(services, "SCOPE-2027-09-OSL-1", places=1, filled=1)
    task = await supervisor_with_task(services, john, title="Hjerte", status=TaskStatus.APPROVED)
    async with services.db.session() as session:
        offer = Offer(
            slot_id=slot.id or 0,
            task_id=task.id or 0,
            supervisor_id=task.supervisor_id,
            status=OfferStatus.ACCEPTED,
            reply_by=date(2027, 6, 28),
            created_at=services.clock.now(),
            delivered_at=services.clock.now(),
            answered_at=services.clock.now(),
        )
        session.add(offer)
        await session.flush()
        offer_id = offer.id or 0
    await john.command("start", links.offer_payload(services.secret, offer_id, john.user.id))
    return slot.id or 0, offer_id


async def test_a_supervisor_who_kept_a_place_cannot_give_it_back_with_the_old_question(
    services, john
):
    slot_id, offer_id = await _accepted_place(services, john)
    await john.press("Give the place back")
    question = snapshot(john)
    await john.press("◀️ Back")

    assert await press_old(john, question, "Yes, give it back") == ANSWERED
    async with services.db.session() as session:
        offer = await session.get(Offer, offer_id)
        slot = await session.get(Slot, slot_id)
    assert offer is not None and offer.status == OfferStatus.ACCEPTED
    assert slot is not None and slot.filled == 1


async def test_a_give_back_question_about_a_cancelled_place_does_nothing(services, john, nora):
    _, offer_id = await _accepted_place(services, john)
    await bound_coordinator(services, nora)
    await john.press("Give the place back")
    async with services.db.session() as session:  # the coordinator cancelled the slot meanwhile
        await session.execute(
            update(Offer).where(col(Offer.id) == offer_id).values(status=OfferStatus.CANCELLED)
        )
    told = len(nora.messages())

    query = await john.press("Yes, give it back")
    assert answer_to(john, query) == ANSWERED
    assert len(nora.messages()) == told  # no "place given back" for coordinators


# ---- /pending: approve and return ---------------------------------------------------------------


async def _edit_task(services, task_id: int, clock, department: str) -> None:
    """The supervisor edits the task (and so submits it again) while the card is on screen."""
    clock.advance(timedelta(minutes=5))
    async with services.db.session() as session:
        await session.execute(
            update(Task)
            .where(col(Task.id) == task_id)
            .values(department=department, updated_at=clock.now(), submitted_at=clock.now())
        )


async def test_approve_on_a_card_of_a_task_edited_since_approves_nothing(
    services, nora, kari, clock
):
    task = await supervisor_with_task(services, kari, title="Hjerte")
    await bound_coordinator(services, nora)
    await nora.command("pending")
    card = nora.last()
    await _edit_task(services, task.id or 0, clock, "Lungeavdelingen")
    told = len(kari.messages())

    query = await nora.press("Approve", card)
    assert answer_to(nora, query) == (
        "This task was changed after this card was shown, so nothing was done. "
        "Here it is as it is now."
    )
    assert (await _task(services, task.id or 0)).status == TaskStatus.SUBMITTED
    assert len(kari.messages()) == told
    fresh = nora.last()
    assert "Lungeavdelingen" in fresh.text

    await nora.press("Approve", fresh)  # the card as it is now approves
    assert (await _task(services, task.id or 0)).status == TaskStatus.APPROVED
    assert len(kari.messages()) == told + 1


async def test_return_on_a_card_of_a_task_edited_since_returns_nothing(services, nora, kari, clock):
    task = await supervisor_with_task(services, kari, title="Hjerte")
    await bound_coordinator(services, nora)
    await nora.command("pending")
    card = nora.last()
    await nora.press("Return", card)
    await _edit_task(services, task.id or 0, clock, "Lungeavdelingen")
    told = len(kari.messages())

    await nora.send("Please name the department's contact person.")
    assert any("changed after this card was shown" in m.text for m in nora.messages()[-2:])
    assert "Lungeavdelingen" in nora.last().text
    stored = await _task(services, task.id or 0)
    assert stored.status == TaskStatus.SUBMITTED and stored.return_reason is None
    assert len(kari.messages()) == told


async def test_an_approved_card_cannot_also_return_the_task(services, nora, kari):
    task = await supervisor_with_task(services, kari, title="Hjerte")
    await bound_coordinator(services, nora)
    await nora.command("pending")
    card = snapshot(nora)
    await nora.press("Approve")
    assert (await _task(services, task.id or 0)).status == TaskStatus.APPROVED

    await press_old(nora, card, "Return")
    assert (await _task(services, task.id or 0)).status == TaskStatus.APPROVED
    async with services.db.session() as session:
        asked = await repository.get_conversation(session, nora.user.id)
    assert asked is None or asked.flow != coordinator.RETURN_FLOW  # no reason is asked for
