"""/propose REF and the "propose now" button: offers for one slot now (the offer courier
delivers them)."""

from __future__ import annotations

from telegram import Update
from telegram.ext import ContextTypes

from bot.chat.flows.coordinator.access import (
    coordinator_turn,
    reviewer_of,
    translator,
)
from bot.chat.turn import Turn
from bot.domain.signing import Callback, parse_id
from bot.services import offers
from storage import coordinators as store
from storage import slots
from storage.models import Coordinator, SlotStatus


async def cmd_propose(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    entered = await coordinator_turn(update, context)
    if entered is None:
        return
    turn, scopes, tr = entered
    if not context.args:
        await turn.say(tr("coord.propose.usage"))
        return
    await _propose(turn, scopes, context.args[0])


async def propose_now(turn: Turn, cb: Callback, scopes: list[Coordinator]) -> None:
    """The "propose now" button under a notice of a place given back: the same as /propose."""
    assert turn.query is not None
    async with turn.svc.db.session() as session:
        slot = await slots.fresh_slot(session, parse_id(cb.value) or 0)
    await turn.query.answer()
    await _propose(turn, scopes, slot.reference if slot else cb.value)


async def _propose(turn: Turn, scopes: list[Coordinator], reference_typed: str) -> None:
    tr = translator(scopes)
    now = turn.svc.clock.now()
    made = 0
    async with turn.svc.db.session() as session:
        slot = await store.slot_by_reference(session, reference_typed)
        mine = slot is not None and reviewer_of(scopes, slot.exchange_type, slot.city) is not None
        if slot is not None and mine and slot.status == SlotStatus.OPEN:
            made = len(await offers.propose(session, turn.svc.settings, slot.id or 0, now))
            slot = await slots.fresh_slot(session, slot.id or 0)
    if slot is None or not mine or slot.status != SlotStatus.OPEN:
        await turn.say(tr("coord.propose.unknown", reference=reference_typed))
    elif made:
        turn.svc.wake_offers()  # delivered in chat by the offer courier, now
        await turn.say(tr("coord.propose.sent", reference=slot.reference, count=made))
    elif slot.filled >= slot.places:
        await turn.say(tr("coord.propose.full", reference=slot.reference))
    else:
        await turn.say(tr("coord.propose.none", reference=slot.reference))
