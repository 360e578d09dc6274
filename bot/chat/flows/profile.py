"""The registered supervisor's menu: see the profile, edit one field, switch language, verify.

An edit reuses the registration questions (`answers.profile_edit` with `editing` set, in the
registration form without its summary), so every field is asked, validated and re-prompted
exactly as during registration.
"""

from __future__ import annotations

import calendar
from datetime import UTC, date, datetime, time
from typing import Final
from zoneinfo import ZoneInfo

from markupsafe import Markup
from telegram import Update
from telegram.ext import ContextTypes

from bot.chat import ui
from bot.chat.engine import screens
from bot.chat.engine.context import Ctx
from bot.chat.flows.registration.answers import draft_values, profile_edit
from bot.chat.flows.registration.steps import FORM, Step, queue_code
from bot.chat.flows.task import handlers as tasks
from bot.chat.turn import Turn
from bot.core.i18n import Translator, language_from_telegram
from bot.domain.signing import Callback
from bot.services import unsubscribe
from storage import repository
from storage.models import Conversation, Supervisor, SupervisorStatus

SCOPE: Final = "p"
PAUSES: Final = ("month", "three", "season")


def menu_screen(supervisor: Supervisor, tz: ZoneInfo) -> ui.Screen:
    tr = Translator(supervisor.language)
    data = draft_values(supervisor)
    rows = [
        [
            ui.Button(tr("tasks.mine"), Callback(SCOPE, "-", "tasks")),
            ui.Button(tr("tasks.new"), Callback(SCOPE, "-", "newtask")),
        ],
        [ui.Button(tr("profile.edit"), Callback(SCOPE, "-", "fields"))],
        [ui.Button(tr("language.switch"), Callback(SCOPE, "-", "lang"))],
    ]
    if supervisor.email_verified_at is None:
        rows.insert(1, [ui.Button(tr("profile.verify"), Callback(SCOPE, "-", "verify"))])
    text = tr("profile.menu", card=Markup(screens.card(FORM, data, tr)))
    if supervisor.status == SupervisorStatus.PAUSED:
        until = supervisor.paused_until
        text += "\n\n" + (
            tr("pause.until", date=until.astimezone(tz).strftime("%d.%m.%Y"))
            if until
            else tr("pause.season")
        )
        rows.append([ui.Button(tr("pause.resume"), Callback(SCOPE, "-", "resume"))])
    else:
        rows.append([ui.Button(tr("pause.button"), Callback(SCOPE, "-", "pause"))])
    return ui.Screen(text, rows)


def pause_screen(tr: Translator) -> ui.Screen:
    """ "Not this time" made easy: a pause with an end, so nobody is forgotten for good."""
    choices = [ui.Button(tr(f"pause.{p}"), Callback(SCOPE, "-", "pause_for", p)) for p in PAUSES]
    return ui.Screen(
        tr("pause.ask"),
        [choices[:2], choices[2:], [ui.Button(tr("btn.back"), Callback(SCOPE, "-", "menu"))]],
    )


def add_months(day: date, months: int) -> date:
    """The same day `months` calendar months later, or that month's last day when it is shorter
    (31 January + 1 month = 28 or 29 February): "a month" from the 30th is never one day."""
    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def pause_end(choice: str, today: date, tz: ZoneInfo) -> datetime:
    """Local midnight at the end of the pause, in UTC. "Not this season": until 1 April."""
    if choice == "season":
        year = today.year if today.month < 4 else today.year + 1
        end = date(year, 4, 1)
    else:
        end = add_months(today, {"month": 1, "three": 3}[choice])
    return datetime.combine(end, time(), tzinfo=tz).astimezone(UTC)


def fields_screen(supervisor: Supervisor) -> ui.Screen:
    tr = Translator(supervisor.language)
    buttons = [
        ui.Button(tr(FORM.edit_label(q)), Callback(SCOPE, "-", "edit", q.id))
        for q in FORM.editable(draft_values(supervisor))
    ]
    rows = [buttons[i : i + 2] for i in range(0, len(buttons), 2)]
    rows.append([ui.Button(tr("btn.back"), Callback(SCOPE, "-", "menu"))])
    return ui.Screen(tr("profile.which"), rows)


async def show_menu(turn: Turn) -> None:
    async with turn.svc.db.session() as session:
        supervisor = await repository.get_supervisor(session, turn.user.id)
    if supervisor is not None:
        await turn.show(menu_screen(supervisor, turn.svc.settings.tz))


async def idle(turn: Turn) -> None:
    """Text or media outside any flow: point to the right next step."""
    async with turn.svc.db.session() as session:
        supervisor = await repository.get_supervisor(session, turn.user.id)
        conv = await repository.get_conversation(session, turn.user.id)
    if supervisor is not None:
        language, key = supervisor.language, "idle.registered"
    elif conv is not None:
        language, key = conv.language, "idle.paused"
    else:
        language, key = language_from_telegram(turn.user.language_code), "idle.stranger"
    await turn.say(Translator(language)(key))


async def on_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    turn = Turn.of(update, context)
    if turn is None or turn.query is None:
        return
    cb = turn.callback
    now = turn.svc.clock.now()
    edit: Conversation | None = None
    notice: str | None = None
    async with turn.svc.db.session() as session:
        supervisor = await repository.get_supervisor(session, turn.user.id)
        if supervisor is not None and cb is not None and cb.scope == SCOPE:
            if cb.action == "pause_for" and cb.value in PAUSES:
                local_today = now.astimezone(turn.svc.settings.tz).date()
                supervisor.status = SupervisorStatus.PAUSED
                supervisor.paused_until = pause_end(cb.value, local_today, turn.svc.settings.tz)
                supervisor.updated_at = now
                session.add(supervisor)
            elif cb.action == "resume":
                supervisor.status = SupervisorStatus.ACTIVE
                supervisor.paused_until = None
                supervisor.updated_at = now
                session.add(supervisor)
            elif cb.action == "lang":
                supervisor.language = "en" if supervisor.language == "nb" else "nb"
                supervisor.updated_at = now
                session.add(supervisor)
            elif cb.action == "edit" and cb.value in {
                q.id for q in FORM.editable(draft_values(supervisor))
            }:
                edit = profile_edit(supervisor, cb.value, now)
            elif cb.action == "verify" and supervisor.email_verified_at is None:
                edit = profile_edit(supervisor, Step.VERIFY, now)
            if edit is not None:
                await repository.delete_conversation(session, turn.user.id)
                await session.flush()
                await repository.save_conversation(session, edit, now)
                if cb.action == "verify":
                    notice = await queue_code(Ctx(session, turn.svc, edit))
    language = (
        supervisor.language if supervisor else language_from_telegram(turn.user.language_code)
    )
    tr = Translator(language)
    if supervisor is None or cb is None or cb.scope != SCOPE:
        await turn.query.answer(Translator(await turn.language())("btn.stale"))
        return
    await turn.query.answer()
    if cb.action == "fields":
        await turn.replace(fields_screen(supervisor))
    elif cb.action in ("menu", "lang", "pause_for", "resume"):
        await turn.replace(menu_screen(supervisor, turn.svc.settings.tz))
    elif cb.action == "pause":
        await turn.replace(pause_screen(tr))
    elif cb.action == "tasks":
        await turn.close(tr("profile.editing_tasks"))
        await tasks.show_list(turn)
    elif cb.action == "newtask":
        await turn.close(tr("profile.editing_tasks"))
        await tasks.start_new(turn)
    elif edit is not None:
        if cb.action == "verify" and notice is None:
            turn.svc.sender.wake()
        await turn.close(tr("profile.editing"))
        shown = tr(notice) if notice else None
        await turn.show(screens.screen(FORM, edit.step, edit.data, tr, notice=shown))


async def unsubscribe_link(turn: Turn, payload: str) -> None:
    """`/start u_<supervisor>_<signature>` from an email footer: no more emails, in one tap.

    Only the supervisor's own Telegram account can use it; the address also goes on the
    suppression list, so an invitation or reminder never reaches it again.
    """
    supervisor = await unsubscribe.by_token(turn.svc, payload, account=turn.user.id)
    done = supervisor is not None
    language = supervisor.language if supervisor is not None else await turn.language()
    await turn.say(Translator(language)("unsubscribe.done" if done else "unsubscribe.invalid"))
