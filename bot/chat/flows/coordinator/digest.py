"""/digest: how often the digest email comes (see `bot.services.digests`)."""

from __future__ import annotations

from telegram import Update
from telegram.ext import ContextTypes

from bot.chat import ui
from bot.chat.flows.coordinator.access import (
    SCOPE,
    coordinator_turn,
    translator,
)
from bot.chat.turn import Turn
from bot.core.i18n import Translator
from bot.domain.signing import Callback
from bot.services import digests
from storage import digests as digest_store
from storage.models import Coordinator


def digest_text(frequency: str, tr: Translator, at: str) -> str:
    key = "coord.digest.daily" if frequency == digests.DAILY else "coord.digest.weekly"
    return tr(key, time=at)


async def cmd_digest(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    entered = await coordinator_turn(update, context)
    if entered is None:
        return
    turn, scopes, tr = entered
    current = digest_text(digests.frequency_of(scopes), tr, turn.svc.settings.digest_time)
    choose = [
        ui.Button(tr("coord.btn.daily"), Callback(SCOPE, "d", "set", digests.DAILY)),
        ui.Button(tr("coord.btn.weekly"), Callback(SCOPE, "d", "set", digests.WEEKLY)),
    ]
    await turn.show(ui.Screen(current + "\n\n" + tr("coord.digest.ask"), [choose]))


async def on_digest_button(turn: Turn, cb: Callback, scopes: list[Coordinator]) -> None:
    assert turn.query is not None
    tr = translator(scopes)
    if cb.action != "set" or cb.value not in digests.FREQUENCIES:
        await turn.query.answer(tr("btn.stale"))
        return
    async with turn.svc.db.session() as session:
        await digest_store.set_frequency(session, scopes, cb.value)
    await turn.query.answer()
    await turn.close(digest_text(cb.value, tr, turn.svc.settings.digest_time))
