"""The reciprocity meter in chat: /target sets a season's hosting target (national coordinators
only), and /slots opens with "hosted X of Y needed" per exchange type, in the coordinator's
language, as they read it; through the real PTB application."""

from __future__ import annotations

from datetime import date

import pytest
from sqlmodel import select

from bot.chat.flows.coordinator.target import parse
from storage.models import SeasonTarget
from tests.support import coordinator_fixtures
from tests.support.chat import Chat, TgUser
from tests.support.coordinators import add_slot, bound_coordinator

fake, app, nora = coordinator_fixtures.fake, coordinator_fixtures.app, coordinator_fixtures.nora
OLA = TgUser(id=5551020, first_name="Ola", last_name="Dahl", language_code="nb")


@pytest.fixture
def database_url(sqlite_url: str) -> str:
    return sqlite_url  # chat stories; the queries run on both databases in the CLI and digests


@pytest.fixture
def ola(fake, app) -> Chat:
    """The national clinical exchange officer, who reads Norwegian."""
    return Chat.in_process(fake, OLA, app)


async def targets(services) -> dict[tuple[int, str], int]:
    async with services.db.session() as session:
        rows = (await session.execute(select(SeasonTarget))).scalars()
        return {(t.season, t.exchange_type): t.needed for t in rows}


async def _places(services) -> None:
    await add_slot(services, "SCOPE-2027-09-OSL-1", places=2, filled=1)
    await add_slot(services, "SCOPE-2027-10-BGO-1", city="bergen", start=date(2027, 10, 4),
                   places=1, filled=1)  # another city: the target is national  # fmt: skip
    await add_slot(services, "SCORE-2027-09-OSL-1", exchange_type="research", filled=2)


async def test_a_national_coordinator_sets_a_target_and_slots_opens_with_the_meter(
    services, ola, nora
):
    await _places(services)
    await bound_coordinator(services, ola, role="NEO", city="national", language="nb",
                            email="ola@nmf.example")  # fmt: skip

    await ola.command("slots")
    hint = ola.messages()[-3]  # the hint, then September and October
    assert hint.text == (
        "🤝 Ingen mål for mottak i sesong 2026/27 ennå: sett et med /target SESONG TYPE ANTALL, "
        "f.eks. /target 2026 klinisk 10."
    )

    await ola.command("target", "2027 klinisk 10")
    assert ola.last().text.splitlines() == [
        "✅ Lagret: sesong 2027/28.",
        "",
        "🤝 Mottak av studenter, sesong 2027/28",
        "Klinisk: tatt imot 2 av 10 som trengs",
        "██░░░░░░░░ 20%",
        "8 til må tas imot · 1 ledig plass i sep 2027 · ingen plasser ennå i apr 2027–aug 2027, "
        "nov 2027–mar 2028",
    ]
    assert await targets(services) == {(2027, "clinical"): 10}

    await ola.command("slots")
    meter, september = ola.messages()[-3:-1]
    assert meter.text.splitlines()[1:3] == [
        "Klinisk: tatt imot 2 av 10 som trengs",
        "██░░░░░░░░ 20%",
    ]
    assert "<b>Mottak av studenter, sesong 2027/28</b>" in meter.html
    assert september.text.startswith("sep 2027")

    # Nora, the local officer in Oslo, sees the national meter in English, and cannot set it.
    await bound_coordinator(services, nora)
    await nora.command("slots")
    meter = [m for m in nora.messages() if "Hosting in return" in m.text][-1]
    assert meter.text.splitlines() == [
        "🤝 Hosting in return, season 2027/28",
        "Clinical: hosted 2 of 10 needed",
        "██░░░░░░░░ 20%",
        "8 more to host · 1 open place in Sep 2027 · no places yet in Apr 2027–Aug 2027, "
        "Nov 2027–Mar 2028",
    ]
    await nora.command("target", "2027 clinical 2")
    assert nora.last().text == "Only a national coordinator for Clinical can set its target."
    assert await targets(services) == {(2027, "clinical"): 10}


async def test_a_met_target_and_removing_it(services, ola):
    await _places(services)
    await bound_coordinator(services, ola, role="NEO", city="national", language="nb",
                            email="ola@nmf.example")  # fmt: skip
    await ola.command("target", "2027 clinical 2")
    assert "Klinisk: tatt imot 2 av 2 som trengs\n██████████ 100%\nmålet er nådd ✔" in (
        ola.last().text
    )
    await ola.command("target", "2027 forskning 3")  # not her exchange type
    assert ola.last().text == "Bare en nasjonal koordinator for Forskning kan sette målet."
    await ola.command("target", "2027 clinical 0")
    assert "Ingen mål for mottak i sesong 2027/28 ennå." in ola.last().text
    assert await targets(services) == {}


async def test_a_local_coordinator_without_a_target_sees_no_meter(services, nora):
    await add_slot(services, "SCOPE-2027-09-OSL-1", places=2, filled=1)
    await bound_coordinator(services, nora)
    await nora.command("slots")
    assert nora.last().text.startswith("Sep 2027")
    assert not any("🤝" in m.text for m in nora.messages())
    await nora.command("target")  # alone: how to set one
    assert nora.last().text.startswith("National coordinators set how many incoming students")


async def test_target_is_an_unknown_command_to_anyone_else(services, john):
    await john.command("nonsense")
    unknown = john.last().text
    await john.command("target", "2027 clinical 10")
    assert john.last().text == unknown
    assert await targets(services) == {}


def test_the_command_reads_codes_and_names_in_both_languages():
    assert parse(["2027", "clinical", "10", "Forskning", "4"]) == (
        2027,
        {"clinical": 10, "research": 4},
    )
    assert parse(["2027", "klinisk", "0"]) == (2027, {"clinical": 0})
    for bad in ([], ["2027"], ["2027", "clinical"], ["x", "clinical", "1"],
                ["2027", "surgery", "1"], ["2027", "clinical", "-1"], ["1999", "clinical", "1"],
                ["2027", "clinical", "100001"]):  # fmt: skip
        assert parse(bad) is None
