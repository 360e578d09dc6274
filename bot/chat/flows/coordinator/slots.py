"""/slots: the reciprocity meter (`target`), then the slots of a coordinator's scope by start
month, and cancelling an open one (after a confirmation question; offered or accepted
supervisors are told)."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from datetime import date
from itertools import groupby

from sqlalchemy.ext.asyncio import AsyncSession
from telegram import Update
from telegram.ext import ContextTypes

from bot.chat import chunks, questions, ui
from bot.chat.flows.coordinator.access import SCOPE, as_unknown, reviewer_of, translator
from bot.chat.flows.coordinator.propose import propose_now
from bot.chat.flows.coordinator.target import meter_text
from bot.chat.turn import Turn
from bot.core.i18n import Translator
from bot.domain import season
from bot.domain.signing import Callback
from bot.services import coordinators as service
from bot.services import notify, offers, placements
from storage import coordinators as store
from storage import placements as store_placements
from storage import questions as store_questions
from storage import slots
from storage.models import Coordinator, OfferStatus, Slot, SlotStatus
from storage.placements import Placement


def _slot_line(
    slot: Slot,
    tr: Translator,
    today: date,
    margin_weeks: int,
    taken: Sequence[Placement] = (),
) -> str:
    """One slot, with who took its places (supervisor and task) on lines of their own."""
    values = {
        "reference": slot.reference,
        "type": tr(f"type.{slot.exchange_type}"),
        "city": service.city_name(slot.city, tr.language),
        "start": slot.start_date.isoformat(),
        "weeks": slot.weeks,
    }
    if slot.status == SlotStatus.CANCELLED:
        return tr("coord.slots.cancelled_line", **values)
    line = tr(
        "coord.slots.line",
        places=slot.places,
        filled=slot.filled,
        open=max(slot.places - slot.filled, 0),
        **values,
    )
    reply_by = season.reply_by(slot.start_date, margin_weeks)
    if slot.filled < slot.places:
        key = "coord.slots.urgent" if reply_by < today else "coord.slots.reply_by"
        line += " " + tr(key, date=reply_by.isoformat())
    for placement in taken:
        line += "\n" + tr(
            "coord.slots.taken", name=placement.supervisor.name, title=placement.task.title
        )
    return line


def month_screens(
    slot_list: Sequence[Slot],
    tr: Translator,
    today: date,
    margin_weeks: int,
    taken: Mapping[int, Sequence[Placement]] | None = None,
) -> list[ui.Screen]:
    """A message per start month: a line per slot, a cancel button per open slot. A month too
    big for one message (Telegram: 4096 characters, 100 buttons) continues in more messages
    under the same heading, each slot's line with its own button."""
    screens = []
    for (year, month), group in groupby(
        slot_list, key=lambda s: (s.start_date.year, s.start_date.month)
    ):
        heading = tr("coord.slots.month", month=tr(f"month.{month}"), year=year)
        entries = [
            (
                _slot_line(s, tr, today, margin_weeks, (taken or {}).get(s.id or 0, ())),
                _cancel_rows(s, tr),
            )
            for s in group
        ]
        screens += [ui.Screen(part.text, part.rows) for part in chunks.pack(heading, entries)]
    return screens


def _cancel_rows(slot: Slot, tr: Translator) -> list[list[ui.Button]]:
    if slot.status != SlotStatus.OPEN:
        return []
    label = tr("coord.btn.cancel_slot", reference=slot.reference)
    return [[ui.Button(label, Callback(SCOPE, "s", "cx", str(slot.id)))]]


async def cmd_slots(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    turn = Turn.of(update, context)
    if turn is None:
        return
    today = turn.svc.clock.now().astimezone(turn.svc.settings.tz).date()
    async with turn.svc.db.session() as session:
        scopes = await store.coordinators_of_user(session, turn.user.id)
        slot_list = await store.slots_in_scopes(session, scopes, ending_after=today)
        taken = await store_placements.of_slots(session, [s.id or 0 for s in slot_list])
    if not scopes:
        await as_unknown(update, context)
        return
    tr = translator(scopes)
    meter = await meter_text(turn, scopes, tr)  # the reciprocity meter opens /slots
    if meter is not None:
        await turn.say(meter)
    if not slot_list:
        await turn.say(tr("coord.slots.none"))
        return
    margin = turn.svc.settings.coordinator_margin_weeks
    # Thousands of slots in a national scope: building their messages is CPU work, done off the
    # event loop (it reads only the slots already loaded, no session).
    for month in await asyncio.to_thread(month_screens, slot_list, tr, today, margin, taken):
        await turn.show(month)


def _confirm_cancel_screen(slot: Slot, question_id: int, tr: Translator) -> ui.Screen:
    value = questions.pair(slot.id or 0, question_id)
    return ui.Screen(
        tr(
            "coord.slot.confirm_cancel",
            reference=slot.reference,
            start=slot.start_date.isoformat(),
            city=service.city_name(slot.city, tr.language),
            filled=slot.filled,
        ),
        [
            [ui.Button(tr("coord.btn.yes_cancel"), Callback(SCOPE, "s", "cy", value))],
            [ui.Button(tr("coord.btn.keep"), Callback(SCOPE, "s", "cn", value))],
        ],
    )


async def on_slot_button(turn: Turn, cb: Callback, scopes: list[Coordinator]) -> None:
    assert turn.query is not None
    if cb.action == "pn":
        await propose_now(turn, cb, scopes)
        return
    tr = translator(scopes)
    now = turn.svc.clock.now()
    slot_id, tag = questions.split(cb.value) or (0, "")
    told: list[tuple[int, str, str]] = []  # (chat, language, message id) of affected supervisors
    cancelled = answered = False
    question_id = 0
    async with turn.svc.db.session() as session:
        if cb.action == "cy":
            await slots.lock_slot(session, slot_id, now)  # so the slot cannot change meanwhile
        slot = await slots.fresh_slot(session, slot_id)
        mine = slot is not None and reviewer_of(scopes, slot.exchange_type, slot.city) is not None
        if slot is not None and mine and cb.action in ("cy", "cn"):
            answered = not await _answer(session, turn, tag, f"slot:{slot_id}", slot, cb.action)
        if slot is not None and mine and slot.status == SlotStatus.OPEN and cb.action == "cx":
            question_id = await store_questions.ask(
                session, turn.user.id, f"slot:{slot_id}", questions.fingerprint(slot), now
            )
        if (
            slot is not None
            and mine
            and slot.status == SlotStatus.OPEN
            and cb.action == "cy"
            and not answered
        ):
            before = {
                o.id: (o.status, o.delivered_at)
                for o in await slots.offers_for_slot(session, slot_id)
            }
            held = (await store_placements.of_slots(session, [slot_id])).get(slot_id, [])
            affected = await offers.cancel_slot(session, slot_id, now)
            await placements.queue_cancellations(session, turn.svc, held, now, slot_cancelled=True)
            cancelled = True
            people = await store.supervisors_by_id(session, {o.supervisor_id for o in affected})
            for offer in affected:
                status, delivered_at = before.get(offer.id, (offer.status, None))
                person = people.get(offer.supervisor_id)
                if person is None:
                    continue
                if status == OfferStatus.ACCEPTED:
                    told.append((person.chat_id, person.language, "coord.notify.slot_cancelled"))
                elif delivered_at is not None:  # an offer they have seen
                    told.append((person.chat_id, person.language, "coord.notify.offer_cancelled"))
    if answered:
        await questions.already_answered(turn, tr)
        return
    if slot is None or not mine or (slot.status != SlotStatus.OPEN and cb.action != "cn"):
        await turn.query.answer(tr("coord.slot.stale"))
        return
    await turn.query.answer()
    if cb.action == "cx":
        await turn.show(_confirm_cancel_screen(slot, question_id, tr))
    elif cb.action == "cn":
        await turn.close(tr("coord.slot.kept", reference=slot.reference))
    elif cancelled:
        await turn.close(tr("coord.slot.cancelled", reference=slot.reference, count=len(told)))
        for chat_id, language, message_id in told:
            person_tr = Translator(language)
            await notify.tell(
                turn.svc,
                chat_id,
                language,
                message_id,
                start=slot.start_date.isoformat(),
                city=service.city_name(slot.city, language),
                type=person_tr(f"type.{slot.exchange_type}"),
            )


async def _answer(
    session: AsyncSession, turn: Turn, tag: str, subject: str, row: Slot, action: str
) -> bool:
    """Answer the question a yes/no button belongs to. False when it was answered before, is
    about something else, or (for yes) its subject changed since it was asked."""
    question_id = questions.question_id(tag)
    if question_id is None:
        return False
    question = await store_questions.answer(
        session, question_id, turn.user.id, turn.svc.clock.now()
    )
    if question is None or question.subject != subject:
        return False
    return action != "cy" or question.version == questions.fingerprint(row)
