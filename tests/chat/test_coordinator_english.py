"""A coordinator adds a task's English title and description while reviewing it ("Add English"
on the card): two skippable typed questions, then the card again with the English on it; the
export carries them. Through the real application, in both languages."""

from __future__ import annotations

import pytest

from bot.services import exports
from storage.models import Task, TaskStatus
from tests.support import coordinator_fixtures
from tests.support.chat import Chat, TgUser
from tests.support.coordinators import bound_coordinator, supervisor_with_task

fake, app, nora = coordinator_fixtures.fake, coordinator_fixtures.app, coordinator_fixtures.nora
OLA = TgUser(id=5551011, first_name="Ola", last_name="Berg", language_code="nb")


@pytest.fixture
def ola(fake, app) -> Chat:
    return Chat.in_process(fake, OLA, app)


async def _task(services, task_id: int) -> Task:
    async with services.db.session() as session:
        task = await session.get(Task, task_id)
        assert task is not None
        return task


async def test_a_coordinator_adds_english_then_approves(services, nora, kari):
    task = await supervisor_with_task(services, kari, title="Hjertesvikt-poliklinikken")
    await bound_coordinator(services, nora)
    await nora.command("pending")
    await nora.press("Add English")
    assert "Type an English title for <b>Hjertesvikt-poliklinikken</b>" in nora.last().html
    assert "⏭ Skip" in nora.last().button_texts and "Cancel" in nora.last().button_texts
    await nora.send("Heart failure outpatient clinic")
    assert "one paragraph in English" in nora.last().text
    await nora.send("x")  # too short for a description: asked again
    assert "at least 20 characters" in nora.last().text or "too short" in nora.last().text
    await nora.send("Students join the heart failure clinic and see patients with a consultant.")
    assert "English title and description are saved" in nora.messages()[-2].text
    card = nora.last()
    assert "Heart failure outpatient clinic" in card.text
    assert card.button_texts[0] == "✅ Approve"
    stored = await _task(services, task.id or 0)
    assert stored.title_en == "Heart failure outpatient clinic"
    assert stored.description_en is not None and stored.description_en.startswith("Students join")
    assert stored.status == TaskStatus.SUBMITTED

    await nora.press("Approve")  # the new card's button: approves the version with English
    assert "Approved" in nora.last().text
    async with services.db.session() as session:
        [row] = await exports.tasks_rows(session)
    assert row["title_en"] == "Heart failure outpatient clinic"
    assert str(row["description_en"]).startswith("Students join")


async def test_skipping_keeps_the_task_as_it_was(services, nora, kari):
    task = await supervisor_with_task(services, kari, title="Hjertesvikt-poliklinikken")
    await bound_coordinator(services, nora)
    await nora.command("pending")
    await nora.press("Add English")
    await nora.press("Skip")
    await nora.press("Skip")
    stored = await _task(services, task.id or 0)
    assert (stored.title_en, stored.description_en) == (None, None)
    assert nora.last().button_texts[0] == "✅ Approve"


async def test_a_changed_task_does_not_take_the_english(services, nora, kari):
    task = await supervisor_with_task(services, kari, title="Hjertesvikt-poliklinikken")
    await bound_coordinator(services, nora)
    await nora.command("pending")
    await nora.press("Add English")
    await nora.send("Heart failure outpatient clinic")
    async with services.db.session() as session:  # the supervisor edits it meanwhile
        row = await session.get(Task, task.id)
        assert row is not None
        row.updated_at = services.clock.now().replace(microsecond=1)
        row.description = "Endret beskrivelse av poliklinikken."
    await nora.send("Students join the heart failure clinic and see patients with a consultant.")
    assert "was not saved" in nora.messages()[-2].text
    assert (await _task(services, task.id or 0)).title_en is None


async def test_in_norwegian(services, ola, kari):
    await supervisor_with_task(services, kari, title="Hjertesvikt-poliklinikken")
    await bound_coordinator(services, ola, language="nb", email="ola@nmf.example")
    await ola.command("pending")
    assert "🇬🇧 Legg til engelsk" in ola.last().button_texts
    await ola.press("Legg til engelsk")
    assert "Skriv en engelsk tittel for" in ola.last().text
    await ola.send("Heart failure outpatient clinic")
    assert "Veilederen skrev" in ola.last().text
    await ola.press("Hopp over")
    assert "lagret på oppgaven" in ola.messages()[-2].text
    assert "Heart failure outpatient clinic" in ola.last().text
