"""What the whole-bot fuzz test (tests/chat/test_fuzz.py) found, each as a story of its own."""

from __future__ import annotations

import pytest

from storage.models import Task, TaskStatus
from tests.support import coordinator_fixtures
from tests.support.chat import Chat, TgUser
from tests.support.coordinators import bound_coordinator, supervisor_with_task

fake, app, nora = coordinator_fixtures.fake, coordinator_fixtures.app, coordinator_fixtures.nora
KARI = TgUser(id=5555001, first_name="Kari", last_name="Lie", language_code="en")


@pytest.fixture
def database_url(sqlite_url: str) -> str:
    return sqlite_url


@pytest.fixture
def kari(fake, app) -> Chat:
    return Chat.in_process(fake, KARI, app)


@pytest.mark.parametrize("flow", ["Add English", "Return with a note"])
async def test_a_card_closed_by_approving_is_not_edited_again_when_the_draft_ends(
    services, fake, nora, kari, flow
):
    """Begun on a card ("Add English", "Return with a note"), then the card's own "Approve":
    the card lost its buttons then, so ending the draft must not take them off again (Telegram
    answers an edit that changes nothing with an error; the fake counts it as a broken rule)."""
    task = await supervisor_with_task(services, kari, title="Hjertesvikt på sengepost")
    await bound_coordinator(services, nora)
    await nora.command("pending")
    card = nora.last()
    await nora.press(flow, card)
    await nora.press("Approve", card)
    [closed] = [m for m in nora.messages() if m.message_id == card.message_id]
    assert "Approved" in closed.text and not closed.buttons
    if flow == "Add English":
        await nora.send("Heart failure on the ward")
        await nora.send("Students join the heart failure ward and see patients with a consultant.")
    else:
        await nora.send("Please name the department")
    assert fake.violations == []
    async with services.db.session() as session:
        stored = await session.get(Task, task.id)
    assert stored is not None and stored.status == TaskStatus.APPROVED
