"""Who is a coordinator, and binding their Telegram account: what every coordinator feature
shares (their scopes, the flows' names, the buttons' scope) and the answer anyone else gets."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Final

from markupsafe import Markup
from sqlalchemy.ext.asyncio import AsyncSession
from telegram import BotCommand, BotCommandScopeChat, Update
from telegram.ext import ContextTypes

from bot.chat import general
from bot.chat.engine.context import Ctx
from bot.chat.engine.flow import Done, Finish, Flow
from bot.chat.engine.form import Form
from bot.chat.engine.rows import Applied, Data
from bot.chat.turn import Turn
from bot.core.i18n import Translator
from bot.services import coordinators as service
from storage import coordinators as store
from storage import repository
from storage.models import Conversation, Coordinator

log = logging.getLogger(__name__)

SCOPE: Final = "cr"  # the buttons of /pending, /slots and /digest
ADDSLOT_SCOPE: Final = "ca"  # the /addslot questions' buttons (run by the flow engine)
RETURN_SCOPE: Final = "cn"  # the return note's "Cancel"
ENGLISH_SCOPE: Final = "ce"  # the English title and description's buttons
RETURN_FLOW: Final = "coord_return"
ADDSLOT_FLOW: Final = "coord_addslot"
ENGLISH_FLOW: Final = "coord_english"
FLOWS: Final = frozenset({RETURN_FLOW, ADDSLOT_FLOW, ENGLISH_FLOW})
RETURN_STEP: Final = "r_reason"
ENGLISH_STEP: Final = "e_title"
COMMANDS: Final = ("pending", "slots", "addslot", "propose", "digest", "target")


# ---- scopes --------------------------------------------------------------------------------------


def reviewer_of(scopes: Sequence[Coordinator], exchange_type: str, city: str) -> Coordinator | None:
    return next((s for s in scopes if store.covers(s, exchange_type, city)), None)


async def scopes_of(turn: Turn) -> list[Coordinator]:
    async with turn.svc.db.session() as session:
        return await store.coordinators_of_user(session, turn.user.id)


async def as_unknown(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """What anyone who is not a coordinator gets: exactly the unknown-command answer. A
    coordinator removed since (`coordinators remove`) may still see the coordinators' menu in
    this chat: it goes back to everyone's."""
    await general.on_unknown_command(update, context)
    if update.effective_chat is not None:
        await update.get_bot().delete_my_commands(
            scope=BotCommandScopeChat(update.effective_chat.id)
        )


def translator(scopes: Sequence[Coordinator]) -> Translator:
    return Translator(scopes[0].language)


async def coordinator_turn(
    update: Update, context: ContextTypes.DEFAULT_TYPE
) -> tuple[Turn, list[Coordinator], Translator] | None:
    """A coordinator's command: the turn, their scopes and their language; None (after the
    unknown-command answer, for anyone else) when it is not for a coordinator."""
    turn = Turn.of(update, context)
    if turn is None:
        return None
    scopes = await scopes_of(turn)
    if not scopes:
        await as_unknown(update, context)
        return None
    return turn, scopes, translator(scopes)


# ---- binding -------------------------------------------------------------------------------------


def commands_text(scopes: Sequence[Coordinator], tr: Translator, heading: str) -> str:
    """`heading` says why this is shown: just connected, already connected, or /help."""
    lines = "\n".join(
        tr("coord.scope_line", scope=service.scope_label(s, tr.language)) for s in scopes
    )
    return tr(heading, scopes=Markup(lines)) + "\n\n" + tr("coord.commands")


async def bind(turn: Turn, token: str) -> None:
    """`/start c_<token>` from the invitation email: bind this Telegram account, then greet."""
    now = turn.svc.clock.now()
    async with turn.svc.db.session() as session:
        bound = await store.bind_by_token(
            session, turn.svc.secret, token, turn.user.id, turn.chat_id, now
        )
        scopes = await store.coordinators_of_user(session, turn.user.id) if bound else []
    if bound is None:
        await _not_bound(turn)
        return
    log.info("coordinator %s bound to a Telegram account", bound.id)
    await turn.say(commands_text(scopes, Translator(bound.language), "coord.bound"))
    await set_menu(turn, bound.language)


async def _not_bound(turn: Turn) -> None:
    """A link that binds nothing: a coordinator tapping their used invitation again is told
    they are connected already; anyone else that the link does not work."""
    async with turn.svc.db.session() as session:
        scopes = await store.coordinators_of_user(session, turn.user.id)
    if scopes:
        await turn.say(commands_text(scopes, translator(scopes), "coord.already_bound"))
        return
    tr = Translator(await turn.language())
    await turn.say(tr("coord.link_invalid", days=store.INVITE_VALIDITY.days))


async def set_menu(turn: Turn, language: str) -> None:
    """This chat's command menu also lists the coordinators' commands, in their language."""
    tr = Translator(language)
    commands = [BotCommand(name, tr(f"command.{name}")) for name in (*general.COMMANDS, *COMMANDS)]
    await turn.update.get_bot().set_my_commands(commands, scope=BotCommandScopeChat(turn.chat_id))


async def replace_conversation(
    session: AsyncSession, turn: Turn, conv: Conversation, had: bool
) -> None:
    if had:
        await repository.delete_conversation(session, turn.user.id)
        await session.flush()
    await repository.save_conversation(session, conv, turn.svc.clock.now())


# ---- what both flows share: "Cancel" under every question ---------------------------------------


def cancel_row(data: Data, tr: Translator) -> list[list[tuple[str, str]]]:
    return [[(tr("coord.btn.stop"), "stop")]]


async def _stop(ctx: Ctx, value: str) -> Applied:
    return Applied(ctx.conv.step, left=True)


STOP: Final = {"stop": _stop}  # the action behind `cancel_row`: leave the flow, drop the draft


async def stopped(turn: Turn, conv: Conversation) -> None:
    """After "Cancel": the question says so instead (the draft is gone)."""
    await turn.close(Translator(conv.language)("coord.cancelled"))


def small_flow(name: str, form: Form, finish: Finish, done: Done) -> Flow:
    """A coordinator's short flow (/addslot, a return note, the English for the portal): nothing
    in its draft is worth keeping, so /cancel, "Cancel" and Back out of it all drop it."""
    return Flow(
        name=name,
        form=form,
        finish=finish,
        done=done,
        cancelled="coord.cancelled",
        keep_on_cancel=False,
        left=stopped,
        drop_on_leave=True,
    )
