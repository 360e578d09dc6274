"""Bringing supervisors back, in chat: the invitation's "yes" and "no thanks" links, and the
pre-season question "same as last season?" with a clock that travels to February.

Everything goes through the real PTB application; the sweep is called as the scheduler calls it.
"""

from __future__ import annotations

import argparse
import dataclasses
import inspect
import re
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from typing import Any

import pytest
from sqlmodel import col, select
from telegram import Update
from telegram.ext import CallbackQueryHandler, CommandHandler, ContextTypes, filters

from bot.app import build_application, running, services_of
from bot.chat import handlers
from bot.chat.flows import campaign
from bot.chat.flows.registration.steps import CONSENT_VERSION
from bot.chat.turn import Turn
from bot.cli.supervisors import add_commands, dispatch
from bot.mail.backends import FileBackend
from bot.services import campaigns
from storage import campaigns as store
from storage import coordinators, repository
from storage.models import (
    Invitation,
    OutboxEmail,
    SeasonCheck,
    Supervisor,
    SupervisorStatus,
    Suppression,
    Task,
    TaskStatus,
)
from tests.helpers import mails
from tests.support.botapi.request import RecordingRequest
from tests.support.chat import Chat, TgUser
from tests.support.pacing import virtual_limiter

REGISTERED = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
BEFORE = datetime(2027, 1, 29, 9, 0, tzinfo=UTC)  # Friday, 10:00 in Oslo
OPENS = datetime(2027, 2, 1, 9, 0, tzinfo=UTC)  # Monday 1 February, 10:00 in Oslo


@pytest.fixture
def database_url(sqlite_url: str) -> str:
    """Chat stories; the storage they use is exercised on PostgreSQL in test_campaigns."""
    return sqlite_url


# ---- wiring, until bot.chat.handlers routes these itself ---------------------------------------


async def _start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    turn = Turn.of(update, context)
    payload = context.args[0] if context.args else ""
    if turn is None or not await campaign.route_start(turn, payload):
        await handlers.cmd_start(update, context)


@pytest.fixture
def wired(app):
    """Route `/start i_|n_|s_` and the `sc:` buttons as `bot.chat.handlers` is to do it, unless it
    does already (then the stories run through the real wiring)."""
    group = app.handlers[0]
    if not any(h.callback is campaign.on_button for h in group):
        at = next(i for i, h in enumerate(group) if h.callback is handlers._stale_button)
        group.insert(at, CallbackQueryHandler(campaign.on_button, pattern=rf"^{campaign.SCOPE}:"))
    if "campaign" not in inspect.getsource(handlers.cmd_start):
        new = filters.UpdateType.MESSAGE & filters.ChatType.PRIVATE
        group.insert(0, CommandHandler("start", _start, filters=new))
    return app


# ---- helpers -------------------------------------------------------------------------------------


def cli(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bot")
    add_commands(parser.add_subparsers(dest="command", required=True))
    return parser.parse_args(["supervisors", *argv])


def _plain(message: EmailMessage) -> str:
    body = message.get_body(preferencelist=("plain",))
    assert body is not None
    return str(body.get_content())


def _payload(text: str, prefix: str) -> str:
    found = re.search(rf"\?start=({prefix}[A-Za-z0-9_-]+)", text)
    assert found, f"no {prefix} link in the email"
    return found.group(1)


async def _invite(settings, services, clock, tmp_path, email: str) -> EmailMessage:
    people = tmp_path / "former.csv"
    people.write_text(f"name,email,city\nFormer Supervisor,{email},oslo\n")
    assert await dispatch(cli("invite", str(people)), settings, clock=clock) == 0
    await services.sender.run_once()
    [message] = [m for m in mails(settings.mail_dir) if m["To"] == email]
    return message


async def _supervisor(
    services,
    user: TgUser,
    *,
    language: str,
    verified: bool = True,
    seasons: tuple[int, ...] = (2026,),
    task_status: TaskStatus = TaskStatus.APPROVED,
    **changes: Any,
) -> int:
    """A supervisor registered in March 2026 with one research task in Oslo per season."""
    async with services.db.session() as s:
        supervisor = Supervisor(
            telegram_user_id=user.id,
            chat_id=user.id,
            language=language,
            name=f"{user.first_name} {user.last_name}",
            title="researcher",
            workplace="Oslo universitetssykehus",
            city="oslo",
            fields=["epidemiology"],
            exchange_types=["research"],
            email=f"{user.first_name.lower()}@ous-hf.no",
            email_verified_at=REGISTERED if verified else None,
            consent_version=CONSENT_VERSION,
            consent_at=REGISTERED,
            created_at=REGISTERED,
            updated_at=REGISTERED,
            **changes,
        )
        s.add(supervisor)
        await s.flush()
        for season in seasons:
            s.add(
                Task(
                    supervisor_id=supervisor.id or 0,
                    season=season,
                    exchange_type="research",
                    title=f"{user.first_name}'s registry study {season}",
                    field="epidemiology",
                    city="oslo",
                    site="Oslo universitetssykehus",
                    activities=["data_collection", "analysis"],
                    learning_goals=["Plan and run a registry analysis"],
                    products=["report"],
                    weeks=4,
                    months=[f"{season}-10", f"{season + 1}-03"],
                    capacity=1,
                    backup_contact="Dr. B, same group",
                    status=task_status,
                    created_at=REGISTERED,
                    updated_at=REGISTERED,
                )
            )
        return supervisor.id or 0


async def _coordinator(services, fake, app) -> Chat:
    chat = Chat.in_process(fake, TgUser(id=7001, first_name="Nora", language_code="en"), app)
    async with services.db.session() as s:
        _, token = await coordinators.add_coordinator(
            s,
            email="nore@nmf.example",
            role="NORE",
            exchange_type="research",
            city="national",
            language="en",
            now=REGISTERED,
            secret=services.secret,
        )
        await coordinators.bind_by_token(
            s, services.secret, token, chat.user.id, chat.user.id, REGISTERED
        )
    return chat


async def _sweep(app) -> int:
    return await campaigns.season_check_sweep(services_of(app))


async def _get(services, model, *where):
    async with services.db.session() as s:
        return list((await s.execute(select(model).where(*where))).scalars())


# ---- the invitation ------------------------------------------------------------------------------


async def test_yes_in_the_invitation_opens_the_usual_registration(
    wired, settings, services, clock, tmp_path, kari
):
    message = await _invite(settings, services, clock, tmp_path, "kari@ous-hf.no")
    await kari.command("start", _payload(_plain(message), "i_"))
    welcome, consent = kari.messages()[-2:]
    assert welcome.text == "👋 Takk for at du åpnet invitasjonen – så fint å ha deg tilbake!"
    assert "Velkommen til Veileder" in consent.text
    assert "✅ Jeg samtykker, la oss starte" in consent.button_texts
    [invitation] = await _get(services, Invitation)
    assert invitation.answer == "yes"

    assert "Denne invitasjonen er til <b>Former Supervisor</b>" in consent.html
    assert "🙅 Dette er ikke meg" in consent.button_texts

    await kari.press("Jeg samtykker")  # registration, given what the invitation holds
    assert "Steg 1 av 4" in kari.last().text  # type, title, workplace, field (none sent)
    conv = await _draft(services, kari)
    assert (conv.data["name"], conv.data["email"], conv.data["city"]) == (
        "Former Supervisor",
        "kari@ous-hf.no",
        "oslo",
    )
    assert conv.data["email_verified_at"], "the signed link proves the address"


async def _draft(services, chat):
    async with services.db.session() as session:
        conv = await repository.get_conversation(session, chat.user.id)
    assert conv is not None
    return conv


async def test_the_join_link_works_once_and_a_second_opening_prefills_nothing(
    wired, settings, services, clock, tmp_path, kari, john
):
    message = await _invite(settings, services, clock, tmp_path, "kari@ous-hf.no")
    join = _payload(_plain(message), "i_")
    await kari.command("start", join)
    [invitation] = await _get(services, Invitation)
    assert invitation.used_at is not None

    await john.command("start", join)  # forwarded to a colleague
    used, consent = john.messages()[-2:]
    assert "has been used already" in used.text
    assert "Welcome to Veileder" in consent.text and "This invitation is for" not in consent.text
    await john.press("I agree")
    conv = await _draft(services, john)
    assert "email" not in conv.data and "city" not in conv.data
    assert conv.data["name"] == "John Smith"  # his own Telegram name, not the invitation's


async def test_this_isnt_me_registers_with_nothing_from_the_invitation(
    wired, settings, services, clock, tmp_path, john
):
    message = await _invite(settings, services, clock, tmp_path, "kari@ous-hf.no")
    await john.command("start", _payload(_plain(message), "i_"))
    await john.press("This isn't me")
    assert "This invitation is for" not in john.last().text
    assert "This isn't me" not in john.last().button_texts
    await john.press("I agree")
    assert "Step 1 of 6" in john.last().text
    conv = await _draft(services, john)
    assert "email" not in conv.data and "city" not in conv.data and "fields" not in conv.data


async def test_no_thanks_is_remembered_and_opening_it_again_changes_nothing(
    wired, settings, services, clock, tmp_path, john
):
    message = await _invite(settings, services, clock, tmp_path, "john@uio.no")
    no = _payload(_plain(message), "n_")
    await john.command("start", no)
    await john.command("start", no)
    goodbye = (
        "Thank you for letting us know. We will not invite you again. If you change your mind, "
        "you are always welcome: just send /start."
    )
    assert john.texts()[-2:] == [goodbye, goodbye]
    [invitation] = await _get(services, Invitation)
    assert invitation.answer == "no"
    assert [(x.email, x.reason) for x in await _get(services, Suppression)] == [
        ("john@uio.no", "declined")
    ]

    await john.command("start", _payload(_plain(message), "i_"))  # a changed mind
    [invitation] = await _get(services, Invitation)
    assert invitation.answer == "yes"
    assert await _get(services, Suppression) == []


@pytest.mark.parametrize(
    "payload", ["i_1_AAAAAAAA", "n_1_AAAAAAAA", "i_999_x", "s_1_2027_AAAAAAAA"]
)
async def test_a_forged_link_does_nothing(wired, services, john, payload):
    await john.command("start", payload)
    assert john.last().text == "This link is not valid. Send /start to see what I can do."
    assert await _get(services, Suppression) == []


# ---- the season check ----------------------------------------------------------------------------


async def test_the_question_comes_once_from_the_first_of_february_even_after_a_restart(
    wired, settings, fake, services, clock, kari, john
):
    await _supervisor(services, kari.user, language="nb")
    await _supervisor(services, john.user, language="en")
    clock.current = BEFORE
    assert await _sweep(wired) == 0
    assert kari.messages() == [] and john.messages() == []

    clock.current = OPENS
    assert await _sweep(wired) == 2
    [asked_kari] = kari.messages()
    assert "Utvekslingssesongen 2027/28 starter 1. april." in asked_kari.text
    assert "• Kari's registry study 2026" in asked_kari.text
    assert asked_kari.button_texts == ["✅ Ja, som forrige sesong", "Ikke denne sesongen"]
    [asked_john] = john.messages()
    assert "The 2027/28 exchange season starts on 1 April." in asked_john.text
    assert asked_john.button_texts == ["✅ Yes, same as last season", "Not this season"]

    clock.advance(timedelta(minutes=5))
    assert await _sweep(wired) == 0
    restarted = build_application(
        settings,
        rate_limiter=virtual_limiter(),
        request=RecordingRequest(fake),
        clock=clock,
        mail_backend=FileBackend(settings.mail_dir),
        start_sender=False,
    )
    async with running(restarted):
        clock.advance(timedelta(days=7))
        assert await _sweep(restarted) == 0
    assert len(kari.messages()) == 1 and len(john.messages()) == 1
    assert len(await _get(services, SeasonCheck)) == 2

    assert await services.sender.run_once() == 2
    assert sorted(m["To"] for m in mails(settings.mail_dir)) == ["john@ous-hf.no", "kari@ous-hf.no"]
    keys = sorted(e.idempotency_key for e in await _get(services, OutboxEmail))
    ids = sorted(
        f"season:{s.id}:2027" for s in await _get(services, Supervisor) if s.id is not None
    )
    assert keys == ids


async def test_no_question_outside_working_hours_or_after_the_season_started(
    wired, services, clock, kari
):
    await _supervisor(services, kari.user, language="nb")
    clock.current = datetime(2027, 2, 6, 10, 0, tzinfo=UTC)  # Saturday
    assert await _sweep(wired) == 0
    clock.current = datetime(2027, 2, 8, 5, 0, tzinfo=UTC)  # Monday, 06:00 in Oslo
    assert await _sweep(wired) == 0
    clock.current = datetime(2027, 4, 1, 9, 0, tzinfo=UTC)  # the season has started
    assert await _sweep(wired) == 0
    assert kari.messages() == []


async def test_without_the_bot_the_sweep_asks_nobody(services, clock, kari):
    await _supervisor(services, kari.user, language="nb")
    clock.current = OPENS
    # A process without the chat adapter has no notifier to ask with.
    assert await campaigns.season_check_sweep(dataclasses.replace(services, notifier=None)) == 0
    assert await _get(services, SeasonCheck) == []


async def test_only_those_who_may_be_asked_are_asked(wired, fake, app, services, clock):
    people = {
        name: Chat.in_process(fake, TgUser(id=9000 + i, first_name=name, last_name="T"), app)
        for i, name in enumerate(
            ["Asked", "Unverified", "Left", "Unsubscribed", "Paused", "Resumes", "Planned",
             "Withdrawn", "Newcomer", "Suppressed"]
        )
    }  # fmt: skip
    lang = {"language": "en"}
    await _supervisor(services, people["Asked"].user, **lang)
    await _supervisor(services, people["Unverified"].user, verified=False, **lang)
    await _supervisor(services, people["Left"].user, status=SupervisorStatus.LEFT, **lang)
    await _supervisor(services, people["Unsubscribed"].user, unsubscribed_at=REGISTERED, **lang)
    await _supervisor(
        services,
        people["Paused"].user,
        status=SupervisorStatus.PAUSED,
        paused_until=datetime(2027, 6, 1, tzinfo=UTC),
        **lang,
    )
    await _supervisor(
        services,
        people["Resumes"].user,
        status=SupervisorStatus.PAUSED,
        paused_until=datetime(2027, 3, 31, 22, 0, tzinfo=UTC),  # 1 April in Oslo
        **lang,
    )
    await _supervisor(services, people["Planned"].user, seasons=(2026, 2027), **lang)
    await _supervisor(services, people["Withdrawn"].user, task_status=TaskStatus.WITHDRAWN, **lang)
    await _supervisor(services, people["Newcomer"].user, seasons=(2027,), **lang)
    await _supervisor(services, people["Suppressed"].user, **lang)
    async with services.db.session() as s:
        await store.suppress(s, "suppressed@ous-hf.no", "bounced", REGISTERED)

    clock.current = OPENS
    assert await _sweep(wired) == 4
    asked = {name for name, chat in people.items() if chat.messages()}
    assert asked == {"Asked", "Unverified", "Resumes", "Suppressed"}
    emailed = {e.recipient for e in await _get(services, OutboxEmail)}
    assert emailed == {"asked@ous-hf.no", "resumes@ous-hf.no"}  # verified and not suppressed


async def test_same_as_last_season_copies_the_tasks_and_tells_the_coordinators(
    wired, fake, services, clock, kari
):
    sid = await _supervisor(services, kari.user, language="nb", seasons=(2025, 2026))
    nora = await _coordinator(services, fake, wired)
    clock.current = OPENS
    await _sweep(wired)
    question = kari.last()
    # what "same" copies, before it is tapped: months as they will be, weeks, places
    assert "• Kari's registry study 2026: okt 27, mar 28, 4 uker, 1 student om gangen" in (
        question.text
    )
    buttons = list(question.callback_data)  # the message loses them when answered
    await kari.press("Ja, som forrige sesong")
    assert "✔️ ✅ Ja, som forrige sesong" in kari.messages()[-2].text
    assert not kari.messages()[-2].has_inline_keyboard
    assert kari.last().text == (
        "✅ Tusen takk! 1 oppgave er kopiert inn i sesongen 2027/28 og sendt til "
        "koordinatorene for godkjenning. Du finner den under /tasks."
    )
    [copy] = await _get(services, Task, col(Task.season) == 2027)
    [last] = await _get(services, Task, col(Task.season) == 2026)
    assert copy.supervisor_id == sid and copy.status == TaskStatus.SUBMITTED
    assert copy.months == ["2027-10", "2028-03"]
    assert (copy.title, copy.activities, copy.learning_goals, copy.backup_contact) == (
        last.title,
        last.activities,
        last.learning_goals,
        last.backup_contact,
    )
    assert "Kari Nordmann is back for the 2027/28 season" in nora.last().text
    assert "Kari's registry study 2026" in nora.last().text

    shown = len(kari.messages())
    query = await kari.press_data(buttons[0], question)  # a double tap
    assert fake.callback_answer(query) is not None
    assert len(await _get(services, Task, col(Task.season) == 2027)) == 1
    assert kari.last().text == "Du har allerede svart for sesongen 2027/28: som forrige sesong."
    assert len(kari.messages()) == shown + 1
    [check] = await _get(services, SeasonCheck)
    assert (check.answer, check.answered_at) == ("same", OPENS)


async def test_not_this_season_pauses_until_the_april_after(wired, fake, services, clock, john):
    await _supervisor(services, john.user, language="en")
    clock.current = OPENS
    await _sweep(wired)
    question = john.last()
    buttons = list(question.callback_data)
    await john.press("Not this season")
    assert john.last().text.startswith("Understood: we will not ask you during the 2027/28 season.")
    assert "paused until 01.04.2028" in john.last().text
    [supervisor] = await _get(services, Supervisor)
    assert supervisor.status == SupervisorStatus.PAUSED
    assert supervisor.paused_until == datetime(2028, 3, 31, 22, 0, tzinfo=UTC)  # Oslo midnight

    same = next(d for d in buttons if ":same:" in d)
    await john.press_data(same, question)  # the other button of the old message
    assert await _get(services, Task, col(Task.season) == 2027) == []
    assert john.last().text == (
        "You have already answered for the 2027/28 season: not this season."
    )

    await john.press_data(same.replace(":2027:", ":2026:"), question)  # forged: signature fails
    assert await _get(services, Task, col(Task.season) == 2027) == []


async def test_a_blocked_bot_marks_the_chat_unreachable_and_the_email_still_goes(
    wired, settings, fake, services, clock, kari
):
    await _supervisor(services, kari.user, language="nb")
    fake.block(kari.chat_id)
    clock.current = OPENS
    assert await _sweep(wired) == 1
    [supervisor] = await _get(services, Supervisor)
    assert supervisor.chat_unreachable_at == OPENS
    assert await services.sender.run_once() == 1
    [message] = mails(settings.mail_dir)
    assert message["To"] == "kari@ous-hf.no"
    assert message["Subject"] == "Er du med igjen i utvekslingssesongen 2027/28?"

    fake.unblock(kari.chat_id)  # she comes back through the email's link
    await kari.command("start", _payload(_plain(message), "s_"))
    await kari.press("Ja, som forrige sesong")
    assert len(await _get(services, Task, col(Task.season) == 2027)) == 1


async def test_the_email_link_shows_the_question_to_its_supervisor_only(
    wired, settings, fake, services, clock, kari, john
):
    await _supervisor(services, kari.user, language="nb")
    await _coordinator(services, fake, wired)
    clock.current = OPENS
    await _sweep(wired)
    await services.sender.run_once()
    [message] = mails(settings.mail_dir)
    assert message.get_content_type() == "multipart/alternative"
    assert message["List-Unsubscribe"] and "u_" in message["List-Unsubscribe"]
    assert message["Reply-To"] == "nore@nmf.example"  # the coordinator of her task's scope
    text = _plain(message)
    assert "Hei Kari Nordmann," in text and "- Kari's registry study 2026" in text
    assert "Du får denne e-posten fordi du er registrert som veileder" in text
    payload = _payload(text, "s_")
    assert len(payload) <= 64

    await john.command("start", payload)  # a forwarded email
    assert john.last().text == "This link is not valid. Send /start to see what I can do."

    await kari.command("start", payload)
    assert kari.last().button_texts == ["✅ Ja, som forrige sesong", "Ikke denne sesongen"]
    await kari.press("Ikke denne sesongen")
    await kari.command("start", payload)
    assert kari.last().text == "Du har allerede svart for sesongen 2027/28: ikke denne sesongen."
