"""The registered supervisor's menu: see the profile, edit one field, switch language, verify.

An edit reuses the registration steps (`profile_draft` with `editing` set), so every field is
asked, validated and re-prompted exactly as during registration.
"""

from __future__ import annotations

from typing import Final

from telegram import Update
from telegram.ext import ContextTypes

from bot import ui
from bot.conversations import registration
from bot.conversations.steps import EDITABLE, Step, profile_lines, screen
from bot.i18n import Translator, language_from_telegram
from bot.services import services
from bot.signing import Callback, decode_callback
from storage import repository
from storage.models import Supervisor

SCOPE: Final = "p"


def _data(supervisor: Supervisor) -> dict[str, object]:
    draft = registration.profile_draft(supervisor, Step.SUMMARY, supervisor.updated_at)
    return draft.data


def menu_screen(supervisor: Supervisor) -> ui.Screen:
    tr = Translator(supervisor.language)
    rows = [
        [ui.Button(tr("profile.edit"), Callback(SCOPE, "-", "fields"))],
        [ui.Button(tr("language.switch"), Callback(SCOPE, "-", "lang"))],
    ]
    if supervisor.email_verified_at is None:
        rows.insert(1, [ui.Button(tr("profile.verify"), Callback(SCOPE, "-", "verify"))])
    return ui.Screen(tr("profile.menu", card=_card(supervisor)), rows)


def _card(supervisor: Supervisor) -> object:
    from markupsafe import Markup

    return Markup(profile_lines(Translator(supervisor.language), _data(supervisor)))


def fields_screen(supervisor: Supervisor) -> ui.Screen:
    tr = Translator(supervisor.language)
    buttons = [
        ui.Button(tr(f"edit.{step.value}"), Callback(SCOPE, "-", "edit", step.value))
        for step in EDITABLE
    ]
    rows = [buttons[i : i + 2] for i in range(0, len(buttons), 2)]
    rows.append([ui.Button(tr("btn.back"), Callback(SCOPE, "-", "menu"))])
    return ui.Screen(tr("profile.which"), rows)


async def show_menu(update: Update, context: ContextTypes.DEFAULT_TYPE, user_id: int) -> None:
    svc = services(context)
    async with svc.db.session() as session:
        supervisor = await repository.get_supervisor(session, user_id)
    if supervisor is None or update.effective_chat is None:
        return
    await ui.send(
        update.get_bot(),
        update.effective_chat.id,
        menu_screen(supervisor),
        secret=svc.secret,
        user_id=user_id,
    )


async def idle(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Text or media outside any flow: point to the right next step."""
    svc = services(context)
    user = update.effective_user
    chat = update.effective_chat
    if user is None or chat is None:
        return
    async with svc.db.session() as session:
        supervisor = await repository.get_supervisor(session, user.id)
        conv = await repository.get_conversation(session, user.id)
    language = (
        supervisor.language
        if supervisor
        else conv.language
        if conv
        else language_from_telegram(user.language_code)
    )
    tr = Translator(language)
    key = "idle.registered" if supervisor else "idle.paused" if conv else "idle.stranger"
    await ui.send(update.get_bot(), chat.id, ui.Screen(tr(key)), secret=svc.secret, user_id=user.id)


async def on_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    svc = services(context)
    query = update.callback_query
    user = update.effective_user
    if query is None or user is None:
        return
    cb = decode_callback(query.data or "", secret=svc.secret, user_id=user.id)
    now = svc.clock.now()
    conv = None
    async with svc.db.session() as session:
        supervisor = await repository.get_supervisor(session, user.id)
        if supervisor is not None and cb is not None and cb.scope == SCOPE:
            if cb.action == "lang":
                supervisor.language = "en" if supervisor.language == "nb" else "nb"
                supervisor.updated_at = now
                session.add(supervisor)
            elif cb.action == "edit" and cb.value in {s.value for s in EDITABLE}:
                conv = registration.profile_draft(supervisor, Step(cb.value), now)
                await repository.delete_conversation(session, user.id)
                await session.flush()
                await repository.save_conversation(session, conv, now)
            elif cb.action == "verify" and supervisor.email_verified_at is None:
                conv = registration.profile_draft(supervisor, Step.VERIFY, now)
                await repository.delete_conversation(session, user.id)
                await session.flush()
                await repository.save_conversation(session, conv, now)
                refused = await registration._send_code(session, svc, conv)
    language = supervisor.language if supervisor else language_from_telegram(user.language_code)
    tr = Translator(language)
    if supervisor is None or cb is None or cb.scope != SCOPE:
        await query.answer(tr("btn.stale"))
        return
    await query.answer()
    match cb.action:
        case "fields":
            await ui.replace(query, fields_screen(supervisor), secret=svc.secret, user_id=user.id)
        case "menu" | "lang":
            await ui.replace(query, menu_screen(supervisor), secret=svc.secret, user_id=user.id)
        case "edit" | "verify" if conv is not None:
            await ui.close(query, tr("profile.editing"))
            notice = None
            if cb.action == "verify":
                notice = refused.notice if refused else None
                if refused is None:
                    svc.sender.wake()
            await ui.send(
                update.get_bot(),
                conv.chat_id,
                screen(Step(conv.step), conv.data, tr, notice=notice),
                secret=svc.secret,
                user_id=user.id,
            )
