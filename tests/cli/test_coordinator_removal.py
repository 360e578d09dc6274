"""A coordinator removed with `python -m bot coordinators remove` loses their chat binding: their
chat answers as anyone's, their unfinished coordinator flow is gone, and nothing more about
the coordinators' business reaches it. A scope left over keeps the binding."""

from __future__ import annotations

import argparse

from bot.chat.flows.coordinator.access import ADDSLOT_FLOW, ENGLISH_FLOW, RETURN_FLOW
from bot.cli import coordinators as cli
from bot.jobs.scheduler import Scheduler
from storage import privacy, repository
from storage.coordinators import coordinators_of_user
from tests.chat.test_authorisation import en
from tests.support import coordinator_fixtures
from tests.support.coordinators import add_slot, bound_coordinator, supervisor_with_task

fake, app, nora = coordinator_fixtures.fake, coordinator_fixtures.app, coordinator_fixtures.nora


def _remove(**scope: str | None) -> argparse.Namespace:
    values = {"role": None, "exchange_type": None, "city": None, **scope}
    return argparse.Namespace(
        command="coordinators", coordinators_action="remove", email="nora@nmf.example", **values
    )


async def test_a_removed_coordinators_chat_no_longer_gets_coordinator_answers(
    services, settings, fake, nora, john, capsys
):
    await bound_coordinator(services, nora)
    await supervisor_with_task(services, john, title="Heart failure clinic")
    await nora.command("pending")
    assert "Supervisor: John Smith" in nora.last().text
    await nora.command("addslot")  # left unfinished
    assert "New exchange place" in nora.last().text

    assert await cli.dispatch(_remove(), settings) == 0
    assert "nora@nmf.example" in capsys.readouterr().out

    async with services.db.session() as session:
        assert await coordinators_of_user(session, nora.user.id) == []
        assert await repository.get_conversation(session, nora.user.id) is None
    mark = nora.mark()
    await add_slot(services, "SCORE-2027-09-OSL-9")
    await supervisor_with_task(services, john, title="Another task")
    scheduler = Scheduler(services)
    await scheduler.run_all_once()
    await scheduler.stop()
    assert nora.since(mark) == []  # told nothing further

    menu = {"type": "chat", "chat_id": nora.chat_id}
    assert any(c["command"] == "pending" for c in fake.commands(scope=menu))
    await nora.command("pending")
    assert nora.last().text == en("unknown.command")
    assert fake.commands(scope=menu) == []  # the menu is everyone's again
    await nora.command("help")
    assert "/pending" not in nora.last().text and "/addslot" not in nora.last().text


async def test_removing_one_of_two_scopes_keeps_the_binding_for_the_other(services, settings, nora):
    await bound_coordinator(services, nora)
    await bound_coordinator(services, nora, exchange_type="research")
    assert await cli.dispatch(_remove(exchange_type="research"), settings) == 0
    async with services.db.session() as session:
        left = await coordinators_of_user(session, nora.user.id)
    assert [(c.exchange_type, c.city) for c in left] == [("clinical", "oslo")]
    await nora.command("pending")
    assert nora.last().text != en("unknown.command")


def test_every_coordinator_flow_is_named_so_its_draft_goes_with_the_scopes():
    for name in (ADDSLOT_FLOW, ENGLISH_FLOW, RETURN_FLOW):
        assert name.startswith(privacy.COORDINATOR_FLOWS)
