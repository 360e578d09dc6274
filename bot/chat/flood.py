"""Per-person flood control in the chat: the first handler every update meets.

`FloodGate.check` runs as a `TypeHandler` in group -2, before anything reads or writes the
database for the update. It asks the person's token bucket (`bot.domain.flood`, limits from
`FLOOD_UPDATES` and `FLOOD_SECONDS`); an update over the limit is dropped by raising
`ApplicationHandlerStop`, so no handler sees it and no flow moves. The first one dropped in a
flood is answered with one polite notice (a message, or the pressed button's toast); a dropped
button press is always answered, silently after the notice, so the person's app stops waiting.

Time here is the process's monotonic clock, not `Services.clock`: the limit is about how fast a
person sends, not about dates (tests replace the gate with one on a timer of their own).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final

from telegram import Update
from telegram.ext import ApplicationHandlerStop, CallbackContext

from bot.chat.turn import Turn, services
from bot.core.i18n import Translator
from bot.domain.flood import FloodGuard, FloodLimits, Verdict

KEY: Final = "flood_gate"


@dataclass
class FloodGate:
    guard: FloodGuard
    timer: Callable[[], float] = field(default=time.monotonic)

    async def check(self, update: Update, context: CallbackContext[Any, Any, Any, Any]) -> None:
        user = update.effective_user
        if user is None:
            return
        verdict = self.guard.admit(user.id, self.timer())
        if verdict is Verdict.TAKE:
            return
        turn = Turn.of(update, context)
        if turn is not None:
            notice = (
                Translator(await turn.language())("flood.notice")
                if verdict is Verdict.NOTICE
                else None
            )
            if turn.query is not None:
                await turn.query.answer(notice)
            elif notice is not None and update.message is not None:
                await turn.say(notice)
        raise ApplicationHandlerStop


def gate_of(context: CallbackContext[Any, Any, Any, Any]) -> FloodGate:
    """The application's gate, made from the settings at its first update."""
    gate: FloodGate | None = context.bot_data.get(KEY)
    if gate is None:
        settings = services(context).settings
        limits = FloodLimits(settings.flood_updates, settings.flood_seconds)
        gate = context.bot_data[KEY] = FloodGate(FloodGuard(limits))
    return gate


async def check(update: object, context: CallbackContext[Any, Any, Any, Any]) -> None:
    """The handler: let the update through, or drop it (see the module's docstring)."""
    if isinstance(update, Update):
        await gate_of(context).check(update, context)
