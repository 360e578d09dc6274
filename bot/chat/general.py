"""What every chat shares, whoever writes: the general commands, asking the current question
again, and the answer to an unknown command or an unexpected message.

Kept apart from `bot.chat.handlers` (which wires every handler) so that flows answering as the
general chat does (the coordinators' commands to anyone else) need not import the wiring.
"""

from __future__ import annotations

from typing import Any, Final

from telegram import Update
from telegram.ext import CallbackContext, ContextTypes

from bot.chat.engine.table import Flows
from bot.chat.flows import profile
from bot.chat.turn import Turn
from bot.core.i18n import Translator
from storage import repository

COMMANDS: Final = (
    "start",
    "newtask",
    "tasks",
    "help",
    "cancel",
    "mydata",
    "delete",
    "privacy",
)
FLOWS_KEY: Final = "flows"


def flows_of(context: CallbackContext[Any, Any, Any, Any]) -> Flows:
    """The flow table, put in `bot_data` when the handlers were wired."""
    flows: Flows = context.bot_data[FLOWS_KEY]
    return flows


async def reprompt(turn: Turn, message_id: str, flows: Flows) -> None:
    """Say a catalog message, then ask the current question again if a flow is running."""
    async with turn.svc.db.session() as session:
        conv = await repository.get_conversation(session, turn.user.id)
    if conv is not None and conv.active:
        await turn.show(flows.screen(conv, Translator(conv.language)(message_id)))
    else:
        await turn.say(Translator(await turn.language())(message_id))


async def on_unknown_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    if turn := Turn.of(update, context):
        await reprompt(turn, "unknown.command", flows_of(context))


async def on_other_message(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Stickers, photos, voice notes...: the current step's own re-prompt, state unchanged."""
    turn = Turn.of(update, context)
    if turn is None:
        return
    async with turn.svc.db.session() as session:
        conv = await repository.get_conversation(session, turn.user.id)
    if conv is None or not conv.active:
        await profile.idle(turn)
    else:
        await reprompt(turn, flows_of(context).reprompt(conv), flows_of(context))
