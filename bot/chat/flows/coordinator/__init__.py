"""The coordinators' side of the chat: approve tasks, keep the slots, send offers.

A coordinator's Telegram account is bound by the one-tap link in their invitation email
(`/start c_<token>`, see `bind`). From then on, and only for them, the bot understands:

- `/pending`: the submitted tasks of their scope, one message each with approve / return. A
  return asks for a note first (flow `coord_return`); the supervisor is told either way, in the
  supervisor's language.
- `/slots`: the slots of their scope by start month, with places, filled and open, and a cancel
  button per open slot (with a confirmation; offered or accepted supervisors are told).
- `/addslot`: a short guided flow (flow `coord_addslot`), checked by the CSV importer's own rules.
- a CSV file sent as a document: the same importer as `python -m bot slots import`.
- `/propose REF`: offers for one slot now (the offer courier delivers them).
- `/digest`: the digest email every morning or every Monday (see `bot.services.digests`).

To anyone else each of these commands answers exactly as an unknown command does, and a file is
treated like any other message: nothing reveals that coordinator commands exist. Every button
press checks the scope again (it may have been removed, or the task may have been reviewed by
someone else meanwhile); a stale, forwarded or replayed press changes nothing and says so.

```mermaid
stateDiagram-v2
    state "/addslot" as add {
        [*] --> a_ref
        a_ref --> a_type: reference (new)
        a_type --> a_city: skipped with one type in scope
        a_city --> a_start: skipped with one city in scope
        a_start --> a_weeks: YYYY-MM-DD
        a_weeks --> a_places: research only (clinical is 4 weeks)
        a_places --> a_field
        a_field --> a_country
        a_country --> a_confirm
        a_confirm --> [*]: add (import of one row)
    }
    state "return with a note" as ret {
        [*] --> r_reason: "return" on a pending task
        r_reason --> [*]: the note (task returned, supervisor told)
    }
```
Both flows live in the `conversation` table like registration (the step and answers are stored
with every answer) and end with "Cancel" or /cancel. They never replace someone's registration,
task or profile draft: a coordinator in the middle of one is asked to finish it first.

A module per feature: `access` (binding, scopes, what anyone else gets), `review` (/pending and
returning with a note), `slots`, `propose`, `digest`, `upload` (a CSV file) and `addslot`. This
package routes the buttons and typed text of both flows to them and wires the handlers.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from telegram import Update
from telegram.ext import (
    BaseHandler,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    filters,
)
from telegram.ext.filters import BaseFilter

from bot.chat import ui
from bot.chat.engine.table import Foreign
from bot.chat.flows.coordinator.access import (
    ADDSLOT_FLOW,
    COMMANDS,
    FLOWS,
    RETURN_FLOW,
    SCOPE,
    bind,
    commands_text,
    scopes_of,
    set_menu,
    translator,
)
from bot.chat.flows.coordinator.addslot import (
    TYPED,
    AStep,
    addslot_answer,
    addslot_finish,
    addslot_screen,
    cmd_addslot,
)
from bot.chat.flows.coordinator.digest import cmd_digest, on_digest_button
from bot.chat.flows.coordinator.propose import cmd_propose
from bot.chat.flows.coordinator.review import (
    cmd_pending,
    on_more_pending,
    on_task_button,
    return_screen,
    return_text,
)
from bot.chat.flows.coordinator.slots import cmd_slots, on_slot_button
from bot.chat.flows.coordinator.upload import on_document
from bot.chat.turn import Turn
from bot.core.i18n import Translator
from bot.domain.signing import Callback
from storage import repository
from storage.models import Conversation

__all__ = [
    "ADDSLOT_FLOW",
    "COMMANDS",
    "FLOWS",
    "RETURN_FLOW",
    "SCOPE",
    "bind",
    "commands_text",
    "flows",
    "on_button",
    "on_text",
    "register",
    "set_menu",
]


# ---- typed text and buttons ----------------------------------------------------------------------


def _conv_screen(conv: Conversation, notice: str | None) -> ui.Screen:
    if conv.flow == RETURN_FLOW:
        return return_screen(conv, notice)
    return addslot_screen(AStep(conv.step), conv.data, Translator(conv.language), notice)


def _reprompt_id(conv: Conversation) -> str:
    if conv.flow == RETURN_FLOW:
        return "coord.return.reprompt"
    return "coord.addslot.reprompt" if AStep(conv.step) in TYPED else "coord.addslot.choose"


async def on_text(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Typed text while in one of the coordinators' flows (routed here by the flow table)."""
    turn = Turn.of(update, context)
    text = update.effective_message.text if update.effective_message else None
    if turn is None or text is None:
        return
    async with turn.svc.db.session() as session:
        conv = await repository.get_conversation(session, turn.user.id)
    if conv is None or conv.flow not in FLOWS or update.update_id <= conv.last_update_id:
        return
    if conv.flow == RETURN_FLOW:
        await return_text(turn, conv, text, update.update_id)
    elif AStep(conv.step) in TYPED:
        await addslot_answer(turn, text, update.update_id, None)
    else:
        notice = Translator(conv.language)("coord.addslot.choose")
        await turn.show(
            addslot_screen(AStep(conv.step), conv.data, Translator(conv.language), notice)
        )


async def on_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    turn = Turn.of(update, context)
    if turn is None or turn.query is None:
        return
    cb = turn.callback
    scopes = await scopes_of(turn) if cb is not None and cb.scope == SCOPE else []
    if cb is None or not scopes:
        await turn.query.answer(Translator(await turn.language())("btn.stale"))
        return
    if cb.step == "t":
        await on_task_button(turn, cb, scopes)
    elif cb.step == "s":
        await on_slot_button(turn, cb, scopes)
    elif cb.step == "p":
        await on_more_pending(turn, cb, scopes)
    elif cb.step == "d":
        await on_digest_button(turn, cb, scopes)
    elif cb.action == "stop":
        await _stop(turn, cb, translator(scopes))
    elif cb.step == AStep.CONFIRM and cb.action == "add":
        await addslot_finish(turn, update.update_id)
    elif cb.step in {s.value for s in AStep} and cb.action == "v":
        await addslot_answer(turn, cb.value, update.update_id, cb.step)
    else:
        await turn.query.answer(translator(scopes)("btn.stale"))


async def _stop(turn: Turn, cb: Callback, tr: Translator) -> None:
    assert turn.query is not None
    async with turn.svc.db.session() as session:
        conv = await repository.get_conversation(session, turn.user.id)
        mine = conv is not None and conv.flow in FLOWS and conv.step == cb.step
        if mine:
            await repository.delete_conversation(session, turn.user.id)
    if not mine:
        await turn.query.answer(tr("btn.stale"))
        return
    await turn.query.answer()
    await turn.close(tr("coord.cancelled"))


def flows() -> list[Foreign]:
    """The coordinators' flows for the flow table (/cancel drops them: nothing worth keeping)."""
    return [Foreign(f, on_text, _conv_screen, _reprompt_id, "coord.cancelled") for f in FLOWS]


# ---- wiring --------------------------------------------------------------------------------------


def register(
    add: Callable[[BaseHandler[Any, Any, Any]], None], new_messages_filter: BaseFilter
) -> None:
    """Add the coordinators' handlers. Call before the unknown-command catch-all and before the
    generic handler for other messages (documents are taken here, coordinators' or not)."""
    new = new_messages_filter
    add(CommandHandler("pending", cmd_pending, filters=new))
    add(CommandHandler("slots", cmd_slots, filters=new))
    add(CommandHandler("addslot", cmd_addslot, filters=new))
    add(CommandHandler("propose", cmd_propose, filters=new))
    add(CommandHandler("digest", cmd_digest, filters=new))
    add(CallbackQueryHandler(on_button, pattern=rf"^{SCOPE}:"))
    add(MessageHandler(new & filters.Document.ALL, on_document))
