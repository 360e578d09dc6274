"""A returned task: the coordinator names the part to change (one optional tap), the supervisor
reads the reason on top of the task's summary with one tap to that part, and the coordinators
are told it was submitted again with what changed, each in their own language; through the
real PTB application and real databases."""

from __future__ import annotations

import pytest

from storage.models import Task, TaskStatus
from tests.support import coordinator_fixtures
from tests.support.chat import Chat, TgUser
from tests.support.coordinators import bound_coordinator, supervisor_with_task

fake, app, nora = coordinator_fixtures.fake, coordinator_fixtures.app, coordinator_fixtures.nora

OLA = TgUser(id=5551011, first_name="Ola", last_name="Berg", language_code="nb")
REASON = "Name the ward <and> the team & who meets the student."


@pytest.fixture
def ola(fake, app) -> Chat:
    return Chat.in_process(fake, OLA, app)


async def _task(services, task_id: int) -> Task:
    async with services.db.session() as session:
        task = await session.get(Task, task_id)
        assert task is not None
        return task


async def _returned_with_part(services, nora: Chat, ola: Chat, kari: Chat) -> Task:
    """Kari's clinical task in Oslo, returned by Nora (English) naming the department; Ola
    (Norwegian, national) covers it too."""
    task = await supervisor_with_task(services, kari, title="Kardiologisk avdeling")
    await bound_coordinator(services, nora)
    await bound_coordinator(
        services, ola, role="NEO", exchange_type="clinical", city="national", language="nb",
        email="ola@nmf.example",
    )  # fmt: skip
    await nora.command("pending")
    await nora.press("Return with a note")
    ask = nora.last()
    assert "tap the part that needs work" in ask.text
    assert ask.button_texts[:4] == ["Department", "Student tasks", "Learning goals", "Months"]
    assert "Description" not in ask.button_texts  # a clinical task has none
    await nora.press("Department")  # the one optional tap
    assert nora.last().button_texts[0] == "✅ Department"
    await nora.send(REASON)
    assert "Returned with your note" in nora.last().text
    stored = await _task(services, task.id or 0)
    assert stored.status == TaskStatus.RETURNED
    assert (stored.return_reason, stored.return_part) == (REASON, "dept")
    return task


async def test_a_returned_task_opens_at_its_reason_one_tap_edits_the_part_named_and_the_coordinators_read_what_changed(  # noqa: E501
    services, nora, ola, kari
):
    task = await _returned_with_part(services, nora, ola, kari)

    notice = kari.last()  # Kari reads Norwegian
    assert REASON in notice.text
    assert "Del som må endres: Avdeling" in notice.text
    assert notice.button_texts == ["✏️ Åpne oppgaven"]
    await kari.press("Åpne oppgaven")
    assert REASON in notice.text, "the notice keeps its note"

    summary = kari.last()
    assert summary.text.startswith(f"↩️ Returnert av utvekslingskoordinatorene: {REASON}")
    assert "&lt;and&gt;" in summary.html  # the reason is escaped, read as typed
    assert summary.button_texts[0] == "✏️ Endre: Avdeling"  # the part named, first
    assert "Avdeling" in summary.button_texts[1:]  # the usual edits stay below it

    await kari.press("Endre: Avdeling")
    assert "Hvilken avdeling eller post" in kari.last().text
    await kari.send("Hjerte & lunge, team B")
    assert kari.last().button_texts[0] == "✏️ Endre: Avdeling"  # still returned until sent
    await kari.press("Send til godkjenning")
    assert "Hjerte & lunge, team B er sendt til utvekslingskoordinatorene" in kari.last().text

    stored = await _task(services, task.id or 0)
    assert stored.status == TaskStatus.SUBMITTED
    assert (stored.return_reason, stored.return_part) == (None, None)
    assert stored.department == "Hjerte & lunge, team B"

    told_nora, told_ola = nora.last(), ola.last()
    assert "Submitted again after it was returned: Hjerte & lunge, team B" in told_nora.text
    assert "• Department: Kardiologisk avdeling → Hjerte & lunge, team B" in told_nora.text
    assert "Hjerte &amp; lunge" in told_nora.html  # values escaped
    assert "Sendt inn på nytt etter at den ble returnert: Hjerte & lunge, team B" in told_ola.text
    assert "• Avdeling: Kardiologisk avdeling → Hjerte & lunge, team B" in told_ola.text
    assert "Months" not in told_nora.text  # only what changed


async def test_from_tasks_a_returned_task_shows_its_reason_first_and_one_tap_to_the_part(
    services, nora, ola, kari
):
    task = await _returned_with_part(services, nora, ola, kari)
    await kari.command("tasks")
    await kari.press("Kardiologisk avdeling")
    view = kari.last()
    assert view.text.startswith("💬 Koordinatorenes begrunnelse: " + REASON)
    assert view.button_texts[0] == "✏️ Endre: Avdeling"
    await kari.press("Endre: Avdeling")
    assert "Hvilken avdeling eller post" in kari.last().text  # straight to the part's question
    await kari.send("Kardiologisk avdeling, team A")
    await kari.press("Send til godkjenning")
    assert (await _task(services, task.id or 0)).status == TaskStatus.SUBMITTED
    assert "• Department: Kardiologisk avdeling → Kardiologisk avdeling, team A" in nora.last().text


async def test_a_return_without_a_part_keeps_the_usual_edit_buttons_and_a_long_change_says_changed(
    services, nora, john
):
    task = await supervisor_with_task(services, john, title="Akuttmottaket")
    await bound_coordinator(services, nora)
    await nora.command("pending")
    await nora.press("Return with a note")
    await nora.send("Please add two concrete learning goals.")
    notice = john.last()
    assert "Part to change" not in notice.text
    await john.press("Open the task")
    summary = john.last()
    assert summary.text.startswith("↩️ Returned by the exchange coordinators: Please add two")
    assert not summary.button_texts[0].startswith("✏️ Edit:")
    await john.press("Learning goals")
    await john.press("Write my own")
    await john.send("Take a full history from two new patients each day, with the team.")
    await john.press("Done")
    await john.press("Submit for approval")
    assert (await _task(services, task.id or 0)).status == TaskStatus.SUBMITTED
    told = nora.last().text
    assert "• Learning goals: changed" in told
    assert "Take a full history" not in told
