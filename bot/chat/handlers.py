"""Commands that work anywhere, the error handler, and the wiring of every handler.

`register_handlers` is the one place that decides which handler sees an update; order matters
and is commented there.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Sequence
from typing import Final

from sqlalchemy.ext.asyncio import AsyncSession
from telegram import BotCommand, BotCommandScopeChat, Update
from telegram.error import TelegramError
from telegram.ext import (
    Application,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    TypeHandler,
    filters,
)

from bot.chat import flood, privacy, ui
from bot.chat.engine.table import Flows
from bot.chat.flows import campaign, coordinator, offers, profile
from bot.chat.flows.registration import handlers as registration
from bot.chat.flows.registration.handlers import Flow
from bot.chat.flows.task import handlers as tasks
from bot.chat.general import (
    COMMANDS,
    FLOWS_KEY,
    flows_of,
    on_other_message,
    on_unknown_command,
    reprompt,
)
from bot.chat.questions import already_answered
from bot.chat.questions import question_id as question_tag
from bot.chat.turn import Turn
from bot.core.i18n import SUPPORTED, Translator
from bot.domain.signing import Callback
from bot.services import erasure as erasure_service
from bot.services import placements, referrals, unsubscribe
from bot.services.coordinators import INVITE_PREFIX
from bot.services.erasure import Reason
from bot.services.verification import LINK_PREFIX
from storage import placements as store_placements
from storage import questions, repository
from storage.coordinators import coordinators_of_user
from storage.placements import Placement

log = logging.getLogger(__name__)

DELETE_SCOPE: Final = "x"


async def _language(turn: Turn) -> str:
    """The person's language: profile, then draft, then Telegram's setting."""
    return await turn.language()


async def cmd_start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    turn = Turn.of(update, context)
    if turn is None:
        return
    payload = context.args[0] if context.args else ""
    if await campaign.route_start(turn, payload):  # invitations and the season check
        return
    if payload.startswith(LINK_PREFIX):
        await registration.verify_link(turn, payload.removeprefix(LINK_PREFIX))
        return
    if payload.startswith(INVITE_PREFIX):
        await coordinator.bind(turn, payload.removeprefix(INVITE_PREFIX))
        return
    if payload.startswith(unsubscribe.PREFIX):
        await profile.unsubscribe_link(turn, payload)
        return
    if payload.startswith(offers.LINK_PREFIX):
        await offers.show_from_link(turn, payload)
        return
    if payload.startswith(referrals.PREFIX):
        await registration.open_referral(turn, payload)
        return
    async with turn.svc.db.session() as session:
        supervisor = await repository.get_supervisor(session, turn.user.id)
        conv = await repository.get_conversation(session, turn.user.id)
        if conv is not None and update.update_id == conv.last_update_id:
            pass  # processed again after a crash: nothing is written twice, the screen is shown
        elif supervisor is not None and conv is not None and conv.flow == Flow.PROFILE:
            await repository.delete_conversation(session, turn.user.id)  # abandons a profile edit
        elif conv is not None:
            await repository.mark_handled(session, turn.user.id, update.update_id)
    if supervisor is not None:
        await profile.show_menu(turn)
    else:
        await registration.start(turn, conv)


async def cmd_help(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    turn = Turn.of(update, context)
    if turn is None:
        return
    async with turn.svc.db.session() as session:
        scopes = await coordinators_of_user(session, turn.user.id)
        supervisor = await repository.get_supervisor(session, turn.user.id)
    if scopes:  # a coordinator learns their own commands; the supervisors' only if one too
        tr = Translator(scopes[0].language)
        await turn.say(coordinator.commands_text(scopes, tr, "coord.help"))
    await reprompt(
        turn, "help.general" if scopes and supervisor is None else "help.text", flows_of(context)
    )


async def cmd_cancel(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    turn = Turn.of(update, context)
    if turn is None:
        return
    key = await flows_of(context).cancel(turn) or "cancel.nothing"
    await turn.say(Translator(await _language(turn))(key), remove_keyboard=True)


async def cmd_mydata(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    turn = Turn.of(update, context)
    if turn is None:
        return
    async with turn.svc.db.session() as session:
        data = await repository.export_person(session, turn.user.id)
    tr = Translator(await _language(turn))
    document = json.dumps(data, ensure_ascii=False, indent=2).encode()
    await update.get_bot().send_document(
        turn.chat_id, document, filename="veileder-my-data.json", caption=tr("mydata.caption")
    )
    await reprompt(turn, "mydata.sent", flows_of(context))


def _delete_screen(language: str, question_id: int, held: Sequence[Placement] = ()) -> ui.Screen:
    tr = Translator(language)
    value = str(question_id)
    return ui.Screen(
        tr("delete.confirm") + placements.held_notice(held, tr, "delete.held"),
        [
            [ui.Button(tr("delete.yes"), Callback(DELETE_SCOPE, "-", "yes", value))],
            [ui.Button(tr("delete.no"), Callback(DELETE_SCOPE, "-", "no", value))],
        ],
    )


async def cmd_delete(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    if turn := Turn.of(update, context):
        async with turn.svc.db.session() as session:
            supervisor = await repository.get_supervisor(session, turn.user.id)
            held = (
                await store_placements.held(session, supervisor_id=supervisor.id or 0)
                if supervisor
                else []
            )
            question_id = (  # 0: nothing is stored, and asking stores nothing before consent
                await questions.ask(session, turn.user.id, "person", "", turn.svc.clock.now())
                if await _holds_data(session, turn.user.id)
                else 0
            )
        await turn.show(_delete_screen(await _language(turn), question_id, held))


async def _holds_data(session: AsyncSession, user_id: int) -> bool:
    return (
        await repository.get_supervisor(session, user_id) is not None
        or await repository.get_conversation(session, user_id) is not None
        or bool(await coordinators_of_user(session, user_id))
    )


async def on_delete_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    turn = Turn.of(update, context)
    if turn is None or turn.query is None:
        return
    tr = Translator(await _language(turn))
    cb = turn.callback
    if cb is None or cb.scope != DELETE_SCOPE:
        await turn.query.answer(tr("btn.stale"))
        return
    question_id = question_tag(cb.value)
    now = turn.svc.clock.now()
    erasure: erasure_service.Erasure | None = None
    # The answer and the erasure are one transaction, committed before the button is answered:
    # the update is done from its first answer on (`bot.chat.inbox`), so a crash in between
    # must find both made, or neither (and then the update is processed again).
    async with turn.svc.db.session() as session:
        if question_id == 0:  # asked when nothing was stored: only while that is still so
            current = not await _holds_data(session, turn.user.id)
        else:
            question = (
                await questions.answer(session, question_id, turn.user.id, now)
                if question_id is not None
                else None
            )
            current = question is not None and question.subject == "person"
        if current and cb.action == "yes":
            erasure = await erasure_service.erase_within(session, turn.user.id, Reason.REQUEST, now)
    if not current:
        await already_answered(turn, tr)
        return
    await turn.query.answer()
    if erasure is None:
        await turn.close(tr("delete.kept"))
        await reprompt(turn, "delete.kept_continue", flows_of(context))
        return
    await erasure_service.tidy(turn.svc, erasure, Reason.REQUEST)
    await turn.close(tr("delete.done"))
    # A coordinator's chat menu goes back to everyone's (their scope stays, unbound).
    await update.get_bot().delete_my_commands(scope=BotCommandScopeChat(turn.chat_id))
    await erasure_service.reopen(turn.svc, erasure)


async def on_contact(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A shared contact card: for the flow that asks one, else like any other message."""
    if not await flows_of(context).on_contact(update, context):
        await on_other_message(update, context)


async def on_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Log the failure (never message texts or addresses) and tell the person what to do."""
    update_id = update.update_id if isinstance(update, Update) else None
    log.error("handler failed for update %s", update_id, exc_info=context.error)
    if not isinstance(update, Update) or update.effective_chat is None:
        return
    try:
        turn = Turn.of(update, context)
        tr = Translator(await _language(turn) if turn else "en")
        if update.callback_query is not None:
            with contextlib.suppress(TelegramError):  # the handler may have answered it already
                await update.callback_query.answer()
        await update.get_bot().send_message(update.effective_chat.id, tr("errors.generic"))
    except Exception:  # the error path must never raise again
        log.exception("could not tell the person about the failure")


async def set_commands(application: Application) -> None:
    """The command menu in each supported language (Telegram picks by the client's language)."""
    for language in SUPPORTED:
        tr = Translator(language)
        commands = [BotCommand(name, tr(f"command.{name}")) for name in COMMANDS]
        codes: tuple[str | None, ...] = ("nb", "nn", "no") if language == "nb" else (None,)
        for code in codes:
            await application.bot.set_my_commands(commands, language_code=code)


def flow_table() -> Flows:
    """Every flow, by name: the one table the handlers consult (built once, immutable)."""
    return Flows(
        [tasks.FLOW, registration.FLOW, registration.PROFILE, *coordinator.flows()],
        idle=profile.idle,
    )


def register_handlers(application: Application) -> None:
    flows = flow_table()
    application.bot_data[FLOWS_KEY] = flows
    private = filters.ChatType.PRIVATE
    # Only new messages: an edited message is never taken as an answer.
    new = filters.UpdateType.MESSAGE & private
    add = application.add_handler
    # Per-person flood control before anything else: an update over the limit goes no further.
    application.add_handler(TypeHandler(Update, flood.check), group=-2)
    # Before everything (group -1): activity (a chat that works again after a 403 too), and
    # consent asked again when its text changed; then /privacy and its buttons.
    privacy.register(application, new)
    # Global commands first, so they work in the middle of any flow.
    add(CommandHandler("start", cmd_start, filters=new))
    add(CommandHandler("help", cmd_help, filters=new))
    add(CommandHandler("cancel", cmd_cancel, filters=new))
    add(CommandHandler("mydata", cmd_mydata, filters=new))
    add(CommandHandler("delete", cmd_delete, filters=new))
    add(CommandHandler("newtask", tasks.cmd_newtask, filters=new))
    add(CommandHandler("tasks", tasks.cmd_tasks, filters=new))
    # Buttons, routed by the scope prefix of their (signed) callback data.
    add(CallbackQueryHandler(registration.on_consent, pattern=rf"^{registration.CONSENT_SCOPE}:"))
    add(CallbackQueryHandler(registration.on_resume, pattern=rf"^{registration.RESUME_SCOPE}:"))
    for scope in sorted(flows.scopes):  # every question of every flow on the engine
        add(CallbackQueryHandler(flows.on_button, pattern=rf"^{scope}:"))
    add(CallbackQueryHandler(profile.on_button, pattern=rf"^{profile.SCOPE}:"))
    add(CallbackQueryHandler(tasks.on_list_button, pattern=rf"^{tasks.LIST_SCOPE}:"))
    add(CallbackQueryHandler(offers.on_button, pattern=rf"^{offers.SCOPE}:"))
    # Coordinators' commands, buttons and CSV uploads; to anyone else their commands answer
    # exactly as unknown commands do. Before the catch-alls below.
    coordinator.register(add, new)
    campaign.register(add)
    add(CallbackQueryHandler(on_delete_button, pattern=rf"^{DELETE_SCOPE}:"))
    add(CallbackQueryHandler(_stale_button))
    # Answers. Unknown commands must come before plain text (a command is text too).
    add(MessageHandler(new & filters.COMMAND, on_unknown_command))
    add(MessageHandler(new & filters.TEXT, flows.on_text))
    add(MessageHandler(new & filters.CONTACT, on_contact))
    add(MessageHandler(new, on_other_message))
    application.add_error_handler(on_error)


async def _stale_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    turn = Turn.of(update, context)
    if turn is not None and turn.query is not None:
        await turn.query.answer(Translator(await _language(turn))("btn.stale"))
