"""Coordinators: the yearly handover on the command line, the one-tap binding, and reviewing
submitted tasks in chat; through the real PTB application and real databases."""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
from datetime import timedelta
from email.message import EmailMessage
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.cli.coordinators import add_commands, dispatch
from bot.domain.reference import EXCHANGE_TYPES, cities
from bot.services.coordinators import ScopeError, check_scope
from storage import coordinators as store
from storage.models import Coordinator, Task, TaskStatus
from tests.helpers import mails
from tests.support import coordinator_fixtures
from tests.support.chat import Chat, TgUser
from tests.support.coordinators import bound_coordinator, supervisor_with_task

# The coordinators' stories: files served, the app wired as in production, and Nora.
fake, app, nora = coordinator_fixtures.fake, coordinator_fixtures.app, coordinator_fixtures.nora

ROOT = Path(__file__).resolve().parents[2]
OLA = TgUser(id=5551011, first_name="Ola", last_name="Berg", language_code="nb")


@pytest.fixture
def ola(fake, app) -> Chat:
    return Chat.in_process(fake, OLA, app)


def _plain(message: EmailMessage) -> str:
    body = message.get_body(preferencelist=("plain",))
    assert body is not None
    return str(body.get_content())


def cli(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bot")
    add_commands(parser.add_subparsers(dest="command", required=True))
    return parser.parse_args(["coordinators", *argv])


async def _task(services, task_id: int) -> Task:
    async with services.db.session() as session:
        task = await session.get(Task, task_id)
        assert task is not None
        return task


# ---- scopes: pure --------------------------------------------------------------------------------

CITY_CODES = [c.code for c in cities()]


@given(
    st.sampled_from(EXCHANGE_TYPES),
    st.sampled_from([*CITY_CODES, store.NATIONAL]),
    st.sampled_from(EXCHANGE_TYPES),
    st.sampled_from(CITY_CODES),
)
def test_a_scope_covers_its_own_type_in_its_city_or_everywhere_when_national(
    scope_type, scope_city, task_type, task_city
):
    scope = Coordinator(email="x@y.no", role="NEO", exchange_type=scope_type, city=scope_city)
    expected = scope_type == task_type and scope_city in (task_city, store.NATIONAL)
    assert store.covers(scope, task_type, task_city) is expected


@pytest.mark.parametrize(
    ("role", "kind", "city", "problem"),
    [
        ("LEO", "research", "oslo", "clinical"),  # a LEO works with the clinical exchange
        ("NORE", "clinical", "national", "research"),
        ("LORE", "research", "national", "local officer"),
        ("LEO", "clinical", "narvik", "city must be"),
        ("BOSS", "clinical", "oslo", "role must be"),
    ],
)
def test_a_scope_that_cannot_exist_is_refused_with_the_reason(role, kind, city, problem):
    with pytest.raises(ScopeError, match=problem):
        check_scope(email="nora@nmf.example", role=role, exchange_type=kind, city=city)


def test_a_scope_is_cleaned():
    scope = check_scope(
        email="Nora@NMF.example", role="nore", exchange_type="research", city="National"
    )
    assert (scope.email, scope.role, scope.city) == ("Nora@nmf.example", "NORE", "national")


# ---- the command line and the invitation ---------------------------------------------------------


async def test_the_yearly_handover_add_list_and_remove_from_the_command_line(
    settings, services, clock, nora, capsys
):
    assert await dispatch(cli("list"), settings, clock=clock) == 0
    assert "No coordinators yet" in capsys.readouterr().out

    add = cli("add", "--email", "nora@nmf.example", "--role", "LEO", "--type", "clinical",
              "--city", "oslo", "--language", "en",
              "--bot-username", "veileder_test_bot")  # fmt: skip
    assert await dispatch(add, settings, clock=clock) == 0
    assert "Invited nora@nmf.example as LEO · Clinical · Oslo" in capsys.readouterr().out

    await services.sender.run_once()
    [invitation] = mails(settings.mail_dir)
    assert invitation["To"] == "nora@nmf.example"
    assert invitation["Subject"] == "Your invitation as exchange coordinator in Veileder"
    body = invitation.get_body(preferencelist=("plain",))
    assert body is not None
    text = body.get_content()
    assert "LEO · Clinical · Oslo" in text and "30 days" in text
    link = re.search(r"https://t\.me/veileder_test_bot\?start=(c_[A-Za-z0-9_-]+)", text)
    assert link and len(link.group(1)) <= 64
    html = invitation.get_body(preferencelist=("html",))
    assert html is not None and link.group(0) in html.get_content()

    assert await dispatch(cli("list"), settings, clock=clock) == 0
    assert "not connected yet" in capsys.readouterr().out

    await nora.command("start", link.group(1))  # the one tap in the email
    greeting = nora.last().text
    assert "Your Telegram account is now connected" in greeting
    assert "LEO · Clinical · Oslo" in greeting and "/pending" in greeting and "/slots" in greeting

    assert await dispatch(cli("list"), settings, clock=clock) == 0
    listing = capsys.readouterr().out
    assert re.search(r"LEO\s+clinical\s+oslo\s+nora@nmf\.example\s+connected 2026-11-24", listing)

    remove = cli("remove", "--email", "NORA@nmf.example")
    assert await dispatch(remove, settings, clock=clock) == 0
    assert "Removed 1 scope of NORA@nmf.example" in capsys.readouterr().out
    assert await dispatch(remove, settings, clock=clock) == 1
    assert "No coordinator matches" in capsys.readouterr().out

    await nora.command("pending")  # the successor has the scope now; Nora is nobody here
    assert nora.last().text == "I don't know that command. /help lists what I can do."


async def test_a_bad_value_on_the_command_line_stops_with_one_line_and_exit_code_2(
    settings, clock, capsys
):
    add = cli("add", "--email", "not-an-address", "--role", "LEO", "--type", "clinical",
              "--city", "oslo")  # fmt: skip
    assert await dispatch(add, settings, clock=clock) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "not an email address" in err


async def test_adding_a_scope_again_sends_a_new_link_and_the_old_one_stops_working(
    settings, services, clock, nora, capsys
):
    add = cli("add", "--email", "nora@nmf.example", "--role", "NORE", "--type", "research",
              "--city", "national", "--bot-username", "@veileder_test_bot")  # fmt: skip
    await dispatch(add, settings, clock=clock)
    await dispatch(add, settings, clock=clock)
    assert "a new invitation replaces the earlier one" in capsys.readouterr().out
    await services.sender.run_once()
    first, second = (
        re.search(r"start=(c_[A-Za-z0-9_-]+)", _plain(m)) for m in mails(settings.mail_dir)
    )
    assert first and second and first.group(1) != second.group(1)
    invitation = mails(settings.mail_dir)[0]
    assert invitation["Subject"] == "Invitasjon som utvekslingskoordinator i Veileder"  # nb default
    assert "NORE · Forskning · hele landet" in _plain(invitation)

    await nora.command("start", first.group(1))
    assert "does not work" in nora.last().text
    await nora.command("start", second.group(1))
    assert "Telegram-kontoen din er nå koblet til" in nora.last().text  # the scope's language
    async with services.db.session() as session:
        [scope] = await store.coordinators_of_user(session, nora.user.id)
    assert scope.invite_hash is None and scope.bound_at == clock.now()


@pytest.mark.slow
def test_the_commands_work_from_a_terminal_on_a_fresh_machine(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "DATABASE_"))}
    env.update(PYTHONPATH=str(ROOT), TELEGRAM_BOT_USERNAME="nmf_veileder_bot")

    def run(*argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "bot", "coordinators", *argv],
            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
        )  # fmt: skip

    added = run("add", "--email", "lore@nmf.example", "--role", "lore", "--type", "research",
                "--city", "tromso")  # fmt: skip
    assert added.returncode == 0, added.stderr
    assert "Invited lore@nmf.example as LORE · Research · Tromsø" in added.stdout
    listed = run("list")
    assert re.search(r"LORE\s+research\s+tromso\s+lore@nmf\.example\s+invited", listed.stdout)
    assert (tmp_path / "var" / "veileder.db").exists(), "a fresh machine is migrated first"
    assert not (tmp_path / "var" / "mail").exists(), "queued: the running bot sends it"
    refused = run("add", "--email", "x@nmf.example", "--role", "LEO", "--type", "clinical",
                  "--city", "national")  # fmt: skip
    assert refused.returncode == 2 and "a LEO is a local officer" in refused.stderr
    assert run("remove", "--email", "lore@nmf.example").returncode == 0
    assert run("remove", "--email", "lore@nmf.example").returncode == 1


# ---- binding -------------------------------------------------------------------------------------


async def test_an_invitation_link_works_once_and_only_for_thirty_days(services, clock, nora, ola):
    async with services.db.session() as session:
        _, token = await store.add_coordinator(
            session, email="nora@nmf.example", role="LEO", exchange_type="clinical",
            city="oslo", language="nb", now=clock.now(), secret=services.secret,
        )  # fmt: skip
        _, late = await store.add_coordinator(
            session, email="ola@nmf.example", role="LEO", exchange_type="clinical",
            city="bergen", language="nb", now=clock.now(), secret=services.secret,
        )  # fmt: skip

    await nora.command("start", "c_" + token)
    assert "Telegram-kontoen din er nå koblet til" in nora.last().text  # the scope's language
    assert "LEO · Klinisk · Oslo" in nora.last().text

    await ola.command("start", "c_" + token)  # a forwarded email: already used
    assert "Denne invitasjonslenken virker ikke" in ola.last().text
    await ola.command("start", "c_forged-token")
    assert "virker ikke" in ola.last().text

    clock.advance(timedelta(days=30))
    await ola.command("start", "c_" + late)
    assert "virker ikke" in ola.last().text
    async with services.db.session() as session:
        assert await store.coordinators_of_user(session, ola.user.id) == []
        [bound] = await store.coordinators_of_user(session, nora.user.id)
    assert bound.city == "oslo"


async def test_one_tap_binds_every_scope_the_person_holds(services, clock, nora):
    async with services.db.session() as session:
        _, token = await store.add_coordinator(
            session, email="nora@nmf.example", role="LEO", exchange_type="clinical",
            city="oslo", language="en", now=clock.now(), secret=services.secret,
        )  # fmt: skip
        await store.add_coordinator(
            session, email="Nora@nmf.example", role="LORE", exchange_type="research",
            city="oslo", language="en", now=clock.now(), secret=services.secret,
        )  # fmt: skip
    await nora.command("start", "c_" + token)
    assert "LEO · Clinical · Oslo" in nora.last().text
    assert "LORE · Research · Oslo" in nora.last().text
    menu = nora.fake.calls_to("setMyCommands")[-1].params
    assert [c["command"] for c in menu["commands"]][-6:] == [
        "pending",
        "slots",
        "addslot",
        "propose",
        "digest",
        "target",
    ]
    assert menu["scope"]["type"] == "chat" and int(menu["scope"]["chat_id"]) == nora.user.id


# ---- reviewing submitted tasks -------------------------------------------------------------------


async def test_a_coordinator_approves_a_task_and_the_supervisor_hears_it_in_bokmal(
    services, clock, nora, kari
):
    task = await supervisor_with_task(services, kari, title="Hjertesvikt-poliklinikken")
    await supervisor_with_task(services, kari, title="Research elsewhere", exchange_type="research")
    await supervisor_with_task(services, kari, title="In Bergen", city="bergen")
    await bound_coordinator(services, nora)

    await nora.command("pending")
    header, card = nora.messages()[-2:]
    assert header.text == "Tasks waiting for approval: 1"  # only her scope: clinical, Oslo
    assert "Hjertesvikt-poliklinikken" not in header.text and "Kardiologisk avdeling" in card.text
    assert "Kari Nordmann, Senior consultant, Oslo universitetssykehus" in card.text
    assert "kari@ous-hf.example" in card.text
    assert card.button_texts == ["✅ Approve", "↩️ Return with a note", "🇬🇧 Add English"]

    await nora.press("Approve")
    assert "✅ Approved. The supervisor has been told." in nora.last().text
    assert nora.last().button_texts == []
    assert "er godkjent av utvekslingskoordinatorene" in kari.last().text
    assert "Hjertesvikt-poliklinikken" in kari.last().text
    stored = await _task(services, task.id or 0)
    async with services.db.session() as session:
        [scope] = await store.coordinators_of_user(session, nora.user.id)
    assert stored.status == TaskStatus.APPROVED
    assert stored.reviewed_by == scope.id and stored.reviewed_at == clock.now()

    await nora.command("pending")
    assert nora.last().text == "No tasks are waiting for approval in your area."


async def test_a_coordinator_returns_a_task_with_a_note_the_supervisor_reads_in_english(
    services, ola, john
):
    task = await supervisor_with_task(
        services, john, title="Antibiotics after hip surgery", exchange_type="research",
        city="bergen",
    )  # fmt: skip
    await bound_coordinator(
        services, ola, role="NORE", exchange_type="research", city="national", language="nb"
    )
    await ola.command("pending")
    assert "Oppgaver som venter på godkjenning: 1" in ola.messages()[-2].text
    await ola.press("Returner med en merknad")
    assert "Hvorfor returnerer du <b>Antibiotics after hip surgery</b>" in ola.last().html
    await ola.send("   ")
    assert "Hvorfor returnerer du" in ola.last().text  # asked again, nothing stored
    assert (await _task(services, task.id or 0)).status == TaskStatus.SUBMITTED

    await ola.send("Please add <b>two</b> concrete learning goals & the ethics approval number.")
    assert "Returnert med merknaden din" in ola.last().text
    [card] = [m for m in ola.messages() if "Oslo universitetssykehus" in m.text]
    assert card.button_texts == [], "the returned task's card lost its buttons"
    notice = john.last()
    assert "returned your task <b>Antibiotics after hip surgery</b>" in notice.html
    assert (
        "Please add <b>two</b> concrete learning goals & the ethics approval number." in notice.text
    )
    assert "/tasks" in notice.text
    stored = await _task(services, task.id or 0)
    assert stored.status == TaskStatus.RETURNED
    assert stored.return_reason == (
        "Please add <b>two</b> concrete learning goals & the ethics approval number."
    )
    async with services.db.session() as session:
        from storage import repository

        assert await repository.get_conversation(session, ola.user.id) is None

    await ola.send("more text after the flow ended")  # not taken as another note
    assert (await _task(services, task.id or 0)).return_reason == stored.return_reason


async def test_cancelling_a_return_changes_nothing(services, nora, kari):
    task = await supervisor_with_task(services, kari, title="Akuttmottaket")
    await bound_coordinator(services, nora)
    await nora.command("pending")
    await nora.press("Return with a note")
    await nora.press("Cancel")
    assert nora.last().text == "Cancelled. Nothing was changed."
    assert (await _task(services, task.id or 0)).status == TaskStatus.SUBMITTED
    await nora.send("This is not a note any more")
    assert (await _task(services, task.id or 0)).return_reason is None


async def test_a_return_does_not_overwrite_a_registration_in_progress(services, nora, kari):
    await supervisor_with_task(services, kari, title="Akuttmottaket")
    await bound_coordinator(services, nora)
    await nora.command("start")  # Nora also begins to register as a supervisor...
    await nora.press("I agree")
    async with services.db.session() as session:
        from storage import repository

        draft = await repository.get_conversation(session, nora.user.id)
    assert draft is not None and draft.flow == "registration"

    await nora.command("pending")
    await nora.press("Return with a note")
    assert "You are in the middle of something else" in nora.last().text
    async with services.db.session() as session:
        kept = await repository.get_conversation(session, nora.user.id)
    assert kept is not None and kept.flow == "registration" and kept.step == draft.step


# ---- nobody else ---------------------------------------------------------------------------------


@pytest.mark.parametrize("command", ["pending", "slots", "addslot", "propose SCOPE-2027-01-OSL-1"])
async def test_to_anyone_else_a_coordinator_command_is_an_unknown_command(kari, command):
    await kari.command("frobnicate")
    unknown = kari.last()
    await kari.send("/" + command)
    assert (kari.last().text, kari.last().button_texts) == (unknown.text, unknown.button_texts)

    await kari.command("start")  # mid-registration, the current question is asked again
    await kari.press("Jeg samtykker")
    await kari.command("frobnicate")
    unknown = kari.last()
    await kari.send("/" + command)
    assert (kari.last().text, kari.last().button_texts) == (unknown.text, unknown.button_texts)


async def test_an_unbound_or_removed_coordinator_is_nobody(services, clock, nora):
    async with services.db.session() as session:
        await store.add_coordinator(
            session, email="nora@nmf.example", role="LEO", exchange_type="clinical",
            city="oslo", language="en", now=clock.now(), secret=services.secret,
        )  # fmt: skip
    await nora.command("pending")  # invited, but the link was never opened
    assert nora.last().text == "I don't know that command. /help lists what I can do."


# ---- stale, forged and replayed buttons ----------------------------------------------------------


async def test_two_coordinators_review_the_same_task_only_the_first_counts(
    services, nora, ola, kari
):
    task = await supervisor_with_task(services, kari, title="Akuttmottaket")
    await bound_coordinator(services, nora)
    await bound_coordinator(
        services, ola, role="NEO", city="national", language="nb", email="ola@nmf.example"
    )
    await nora.command("pending")
    await ola.command("pending")
    await nora.press("Approve")
    told = len(kari.messages())

    query = await ola.press("Returner med en merknad")  # stale now: it changes nothing
    answer = ola.fake.callback_answer(query)
    assert answer is not None and answer.text == "Denne oppgaven venter ikke lenger på godkjenning."
    assert "Allerede behandlet: godkjent." in ola.last().text and ola.last().button_texts == []
    assert (await _task(services, task.id or 0)).status == TaskStatus.APPROVED
    assert len(kari.messages()) == told, "the supervisor is told once"


async def test_a_forwarded_or_replayed_button_does_nothing(services, fake, nora, kari, john):
    task = await supervisor_with_task(services, kari, title="Akuttmottaket")
    await bound_coordinator(services, nora)
    await nora.command("pending")
    card, approve = nora.find_button("Approve")
    assert approve.callback_data is not None

    await john.command("help")
    query = await john.press_data(approve.callback_data)  # someone else sends the same data
    answer = fake.callback_answer(query)
    assert answer is not None and answer.text == "This button is no longer active."
    assert (await _task(services, task.id or 0)).status == TaskStatus.SUBMITTED

    await nora.press_data(approve.callback_data, card)
    told = len(kari.messages())
    query = await nora.press_data(approve.callback_data, card)  # a replay
    answer = fake.callback_answer(query)
    assert answer is not None and answer.text == "This task is no longer waiting for approval."
    assert len(kari.messages()) == told


async def test_a_press_after_the_scope_was_removed_does_nothing(services, fake, nora, kari):
    task = await supervisor_with_task(services, kari, title="Akuttmottaket")
    await bound_coordinator(services, nora)
    await nora.command("pending")
    async with services.db.session() as session:
        assert await store.remove_coordinator(session, "nora@nmf.example") == 1
    query = await nora.press("Approve")
    answer = fake.callback_answer(query)
    assert answer is not None and answer.text == "This button is no longer active."
    assert (await _task(services, task.id or 0)).status == TaskStatus.SUBMITTED


async def test_a_withdrawn_task_cannot_be_approved(services, fake, nora, kari):
    task = await supervisor_with_task(services, kari, title="Akuttmottaket")
    await bound_coordinator(services, nora)
    await nora.command("pending")
    async with services.db.session() as session:
        stored = await session.get(Task, task.id)
        assert stored is not None
        stored.status = TaskStatus.WITHDRAWN
    await nora.press("Approve")
    assert "Already handled: withdrawn by the supervisor." in nora.last().text
    assert (await _task(services, task.id or 0)).status == TaskStatus.WITHDRAWN


# ---- the scope in SQL is the scope in Python -------------------------------------------------


@pytest.mark.parametrize(
    "held",
    [
        [("LEO", "clinical", "oslo")],
        [("NEO", "clinical", "national")],
        [("LORE", "research", "bergen"), ("LEO", "clinical", "tromso")],
        [("NORE", "research", "national"), ("LEO", "clinical", "oslo")],
    ],
)
async def test_pending_tasks_are_exactly_those_the_scopes_cover(services, kari, held):
    everywhere = [
        await supervisor_with_task(
            services, kari, title=f"{kind} {city}", exchange_type=kind, city=city
        )
        for kind in EXCHANGE_TYPES
        for city in CITY_CODES
    ]
    await supervisor_with_task(services, kari, title="done", status=TaskStatus.APPROVED)
    scopes = [
        Coordinator(email="c@nmf.example", role=role, exchange_type=kind, city=city)
        for role, kind, city in held
    ]
    async with services.db.session() as session:
        pending = await store.pending_tasks(session, scopes)
    expected = {
        t.id for t in everywhere if any(store.covers(s, t.exchange_type, t.city) for s in scopes)
    }
    assert {task.id for task, _ in pending} == expected
    assert all(supervisor.telegram_user_id == kari.user.id for _, supervisor in pending)


async def test_unbinding_a_person_keeps_the_scope_for_a_new_invitation(services, clock, nora):
    await bound_coordinator(services, nora)
    async with services.db.session() as session:
        assert await store.unbind_user(session, nora.user.id) == 1
    async with services.db.session() as session:
        assert await store.coordinators_of_user(session, nora.user.id) == []
        [kept] = await store.list_coordinators(session)
    assert (kept.email, kept.telegram_user_id, kept.chat_id) == ("nora@nmf.example", None, None)
    await nora.command("pending")
    assert nora.last().text == "I don't know that command. /help lists what I can do."
