"""The registered supervisor's menu: see the profile, edit one field, switch language, verify.

An edit reuses the registration steps (`answers.profile_edit` with `editing` set), so every field
is asked, validated and re-prompted exactly as during registration.
"""

from __future__ import annotations

from typing import Final

from markupsafe import Markup
from telegram import Update
from telegram.ext import ContextTypes

from bot import ui
from bot.conversations import answering
from bot.conversations.answers import profile_edit
from bot.conversations.steps import EDITABLE, Step, profile_lines, screen
from bot.i18n import Translator, language_from_telegram
from bot.signing import Callback, decode_callback
from bot.turn import Turn
from storage import repository
from storage.models import Conversation, Supervisor

SCOPE: Final = "p"


def menu_screen(supervisor: Supervisor) -> ui.Screen:
    tr = Translator(supervisor.language)
    data = profile_edit(supervisor, Step.SUMMARY, supervisor.updated_at).data
    rows = [
        [ui.Button(tr("profile.edit"), Callback(SCOPE, "-", "fields"))],
        [ui.Button(tr("language.switch"), Callback(SCOPE, "-", "lang"))],
    ]
    if supervisor.email_verified_at is None:
        rows.insert(1, [ui.Button(tr("profile.verify"), Callback(SCOPE, "-", "verify"))])
    return ui.Screen(tr("profile.menu", card=Markup(profile_lines(tr, data))), rows)


def fields_screen(supervisor: Supervisor) -> ui.Screen:
    tr = Translator(supervisor.language)
    buttons = [
        ui.Button(tr(f"edit.{step.value}"), Callback(SCOPE, "-", "edit", step.value))
        for step in EDITABLE
    ]
    rows = [buttons[i : i + 2] for i in range(0, len(buttons), 2)]
    rows.append([ui.Button(tr("btn.back"), Callback(SCOPE, "-", "menu"))])
    return ui.Screen(tr("profile.which"), rows)


async def show_menu(turn: Turn) -> None:
    async with turn.svc.db.session() as session:
        supervisor = await repository.get_supervisor(session, turn.user.id)
    if supervisor is not None:
        await turn.show(menu_screen(supervisor))


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
    cb = decode_callback(turn.query.data or "", secret=turn.svc.secret, user_id=turn.user.id)
    now = turn.svc.clock.now()
    edit: Conversation | None = None
    notice: str | None = None
    async with turn.svc.db.session() as session:
        supervisor = await repository.get_supervisor(session, turn.user.id)
        if supervisor is not None and cb is not None and cb.scope == SCOPE:
            if cb.action == "lang":
                supervisor.language = "en" if supervisor.language == "nb" else "nb"
                supervisor.updated_at = now
                session.add(supervisor)
            elif cb.action == "edit" and cb.value in {s.value for s in EDITABLE}:
                edit = profile_edit(supervisor, Step(cb.value), now)
            elif cb.action == "verify" and supervisor.email_verified_at is None:
                edit = profile_edit(supervisor, Step.VERIFY, now)
            if edit is not None:
                await repository.delete_conversation(session, turn.user.id)
                await session.flush()
                await repository.save_conversation(session, edit, now)
                if cb.action == "verify":
                    notice = await answering.queue_code(session, turn.svc, edit)
    language = (
        supervisor.language if supervisor else language_from_telegram(turn.user.language_code)
    )
    tr = Translator(language)
    if supervisor is None or cb is None or cb.scope != SCOPE:
        await turn.query.answer(tr("btn.stale"))
        return
    await turn.query.answer()
    if cb.action == "fields":
        await turn.replace(fields_screen(supervisor))
    elif cb.action in ("menu", "lang"):
        await turn.replace(menu_screen(supervisor))
    elif edit is not None:
        if cb.action == "verify" and notice is None:
            turn.svc.sender.wake()
        await turn.close(tr("profile.editing"))
        await turn.show(screen(Step(edit.step), edit.data, tr, notice=notice))
