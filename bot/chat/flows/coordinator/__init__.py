"""The coordinators' side of the chat: approve tasks, keep the slots, send offers.

A coordinator's Telegram account is bound by the one-tap link in their invitation email
(`/start c_<token>`, see `bind`). From then on, and only for them, the bot understands:

- `/pending`: the submitted tasks of their scope, one message each with approve / return / "Add
  English". A return asks for a note first (flow `coord_return`); the supervisor is told either
  way, in the supervisor's language.
- `/slots`: the slots of their scope by start month, with places, filled and open, and a cancel
  button per open slot (with a confirmation; offered or accepted supervisors are told).
- `/addslot`: a short guided flow (flow `coord_addslot`), checked by the CSV importer's own rules.
- a CSV file sent as a document: the same importer as `python -m bot slots import`.
- `/propose REF`: offers for one slot now (the offer courier delivers them).
- `/digest`: the digest email every morning or every Monday (see `bot.services.digests`).
- `/target`: a season's hosting targets (national coordinators set them); `/slots` and the
  digest open with the reciprocity meter (see `bot.services.reciprocity`).

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
These flows (and `coord_english`) run on the flow engine (`bot.chat.engine`), like registration and
tasks: the step and answers are stored with every answer, and they end with "Cancel" or /cancel
(which drop the draft). They never replace someone's registration, task or profile draft: a
coordinator in the middle of one is asked to finish it first.

A module per feature: `access` (binding, scopes, what anyone else gets), `review` (/pending and
returning with a note), `card` (a pending task's card), `english` ("Add English": the task's
English title and description for the IFMSA portal, flow `coord_english`), `slots`, `propose`,
`digest`, `target`, `upload` (a CSV file) and `addslot`. This
package routes the other buttons (scope `cr`) to them, hands both flows to the flow table and
wires the handlers.
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

from bot.chat.engine.flow import Flow
from bot.chat.flows.coordinator import addslot, english, review
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
from bot.chat.flows.coordinator.addslot import cmd_addslot
from bot.chat.flows.coordinator.digest import cmd_digest, on_digest_button
from bot.chat.flows.coordinator.propose import cmd_propose
from bot.chat.flows.coordinator.review import cmd_pending, on_more_pending, on_task_button
from bot.chat.flows.coordinator.slots import cmd_slots, on_slot_button
from bot.chat.flows.coordinator.target import cmd_target
from bot.chat.flows.coordinator.upload import on_document
from bot.chat.turn import Turn
from bot.core.i18n import Translator

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
    "register",
    "set_menu",
]


# ---- buttons ------------------------------------------------------------------------------------


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
    else:
        await turn.query.answer(translator(scopes)("btn.stale"))


def flows() -> list[Flow]:
    """The coordinators' flows for the flow table."""
    return [addslot.FLOW, review.RETURN, english.ENGLISH]


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
    add(CommandHandler("target", cmd_target, filters=new))
    add(CallbackQueryHandler(on_button, pattern=rf"^{SCOPE}:"))
    add(MessageHandler(new & filters.Document.ALL, on_document))
