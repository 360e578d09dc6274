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
"""

from __future__ import annotations

import contextlib
import csv
import io
import logging
from collections.abc import Callable, Mapping, Sequence
from datetime import date, timedelta
from enum import StrEnum
from itertools import groupby
from typing import Any, Final

from markupsafe import Markup, escape
from telegram import BotCommand, BotCommandScopeChat, Update
from telegram.error import BadRequest, TelegramError
from telegram.ext import (
    BaseHandler,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    filters,
)
from telegram.ext.filters import BaseFilter

from bot.chat import chunks, questions, ui
from bot.chat.engine.table import Foreign
from bot.chat.flows.task import steps as task_steps
from bot.chat.turn import Turn
from bot.core.i18n import Translator, language_from_telegram
from bot.domain import reference, season, slots_csv
from bot.domain.signing import Callback, parse_id
from bot.domain.validation import Invalid, clean_text
from bot.services import coordinators as service
from bot.services import digests, notify, offers, placements
from storage import coordinators as store
from storage import digests as digest_store
from storage import placements as store_placements
from storage import questions as store_questions
from storage import repository, slots, tasks
from storage.models import (
    Conversation,
    Coordinator,
    OfferStatus,
    Slot,
    SlotStatus,
    Task,
    TaskStatus,
)
from storage.placements import Placement

log = logging.getLogger(__name__)
_EN: Final = Translator("en")  # labels are not shown when only values matter

SCOPE: Final = "cr"
RETURN_FLOW: Final = "coord_return"
ADDSLOT_FLOW: Final = "coord_addslot"
FLOWS: Final = frozenset({RETURN_FLOW, ADDSLOT_FLOW})
RETURN_STEP: Final = "r_reason"
MAX_REASON: Final = 500
MAX_CSV_BYTES: Final = 512 * 1024
MAX_ERRORS_SHOWN: Final = 25
PENDING_PAGE: Final = 10  # task cards /pending shows at once
COMMANDS: Final = ("pending", "slots", "addslot", "propose", "digest")
NONE: Final = "-"  # the button value for "no field preference" / "skip"


class AStep(StrEnum):
    """The /addslot questions, in order."""

    REFERENCE = "a_ref"
    TYPE = "a_type"
    CITY = "a_city"
    START = "a_start"
    WEEKS = "a_weeks"
    PLACES = "a_places"
    FIELD = "a_field"
    COUNTRY = "a_country"
    CONFIRM = "a_confirm"


ORDER: Final = tuple(AStep)
TYPED: Final = frozenset({AStep.REFERENCE, AStep.START, AStep.PLACES, AStep.COUNTRY})
# The CSV column each question fills.
COLUMN: Final[dict[AStep, str]] = {
    AStep.REFERENCE: "reference",
    AStep.TYPE: "exchange_type",
    AStep.CITY: "city",
    AStep.START: "start_date",
    AStep.WEEKS: "weeks",
    AStep.PLACES: "places",
    AStep.FIELD: "field_preference",
    AStep.COUNTRY: "partner_country",
}
# Stand-ins for the columns not answered yet: valid, so the importer's verdict on a one-row file
# is about the answer being checked and nothing else.
_STAND_IN: Final[dict[str, str]] = {
    "reference": "NEW-SLOT",
    "exchange_type": "clinical",
    "city": "oslo",
    "start_date": "2030-01-07",
    "weeks": "4",
    "places": "1",
    "field_preference": "",
    "partner_country": "",
}


# ---- scopes --------------------------------------------------------------------------------------


def allowed_places(scopes: Sequence[Coordinator]) -> dict[str, list[str]]:
    """Exchange type -> the city codes this person may add slots for (a national scope: all)."""
    everywhere = [c.code for c in reference.cities()]
    allowed: dict[str, list[str]] = {}
    for kind in reference.EXCHANGE_TYPES:
        cities = {s.city for s in scopes if s.exchange_type == kind}
        if store.NATIONAL in cities:
            allowed[kind] = everywhere
        elif cities:
            allowed[kind] = [code for code in everywhere if code in cities]
    return allowed


def _reviewer(scopes: Sequence[Coordinator], exchange_type: str, city: str) -> Coordinator | None:
    return next((s for s in scopes if store.covers(s, exchange_type, city)), None)


async def _scopes(turn: Turn) -> list[Coordinator]:
    async with turn.svc.db.session() as session:
        return await store.coordinators_of_user(session, turn.user.id)


async def _unknown(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """What anyone who is not a coordinator gets: exactly the unknown-command answer."""
    from bot.chat import handlers  # imported here: bot.chat.handlers wires this module

    await handlers.on_unknown_command(update, context)


def _tr(scopes: Sequence[Coordinator]) -> Translator:
    return Translator(scopes[0].language)


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
        await turn.say(commands_text(scopes, _tr(scopes), "coord.already_bound"))
        return
    tr = Translator(await turn.language())
    await turn.say(tr("coord.link_invalid", days=store.INVITE_VALIDITY.days))


async def set_menu(turn: Turn, language: str) -> None:
    """This chat's command menu also lists the coordinators' commands, in their language."""
    from bot.chat.handlers import COMMANDS as GENERAL

    tr = Translator(language)
    commands = [BotCommand(name, tr(f"command.{name}")) for name in (*GENERAL, *COMMANDS)]
    await turn.update.get_bot().set_my_commands(commands, scope=BotCommandScopeChat(turn.chat_id))


# ---- /pending: approve or return -----------------------------------------------------------------


def task_card(task: Any, supervisor: Any, tr: Translator) -> str:
    """What a coordinator needs to judge a task: the supervisor's own summary card, and who."""
    who = tr(
        "coord.task.supervisor",
        name=supervisor.name,
        title=_title(supervisor.title, tr),
        workplace=supervisor.workplace,
        email=supervisor.email,
    )
    submitted = task.submitted_at or task.updated_at
    return "\n".join(
        [
            task_steps.card(tasks.draft_values(task), tr),
            who,
            tr("coord.task.submitted_at", date=submitted.date().isoformat()),
        ]
    )


def _title(code: str, tr: Translator) -> str:
    return tr(f"title.{code}") if code in reference.TITLES else code


def task_screen(task: Any, supervisor: Any, tr: Translator) -> ui.Screen:
    value = questions.pair(task.id, questions.fingerprint(task))  # acts on this version only
    return ui.Screen(
        task_card(task, supervisor, tr),
        [
            [
                ui.Button(tr("coord.btn.approve"), Callback(SCOPE, "t", "ok", value)),
                ui.Button(tr("coord.btn.return"), Callback(SCOPE, "t", "ret", value)),
            ]
        ],
    )


async def cmd_pending(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    turn = Turn.of(update, context)
    if turn is None:
        return
    async with turn.svc.db.session() as session:
        scopes = await store.coordinators_of_user(session, turn.user.id)
        pending = await store.pending_tasks(session, scopes)
    if not scopes:
        await _unknown(update, context)
        return
    tr = _tr(scopes)
    if not pending:
        await turn.say(tr("coord.pending.none"))
        return
    await turn.say(tr("coord.pending.header", count=len(pending)))
    await _show_pending(turn, pending, tr)


async def _show_pending(turn: Turn, pending: Sequence[tuple[Task, Any]], tr: Translator) -> None:
    """A card per task, `PENDING_PAGE` at a time: hundreds of messages at once would run into
    Telegram's flood limits. A button shows the next ones, after the last card shown."""
    for task, supervisor in pending[:PENDING_PAGE]:
        await turn.show(task_screen(task, supervisor, tr))
    left = len(pending) - PENDING_PAGE
    if left > 0:
        last = str(pending[PENDING_PAGE - 1][0].id)
        more = ui.Button(tr("coord.btn.more_pending"), Callback(SCOPE, "p", "more", last))
        await turn.show(ui.Screen(tr("coord.pending.more", left=left), [[more]]))


async def _on_more_pending(turn: Turn, cb: Callback, scopes: list[Coordinator]) -> None:
    """The next pending tasks after the last one shown (submitted later, or at the same time
    with a higher id), whatever was reviewed in the meantime."""
    assert turn.query is not None
    tr = _tr(scopes)
    async with turn.svc.db.session() as session:
        pending = await store.pending_tasks(session, scopes)
        shown = await session.get(Task, task_id) if (task_id := parse_id(cb.value)) else None
    if cb.action != "more" or shown is None:
        await turn.query.answer(tr("btn.stale"))
        return
    await turn.query.answer()
    cursor = (shown.submitted_at or shown.updated_at, shown.id or 0)
    after = [p for p in pending if (p[0].submitted_at or p[0].updated_at, p[0].id or 0) > cursor]
    await turn.close(turn.pressed_html())
    if not after:
        await turn.say(tr("coord.pending.none"))
        return
    await _show_pending(turn, after, tr)


async def _on_task_button(turn: Turn, cb: Callback, scopes: list[Coordinator]) -> None:
    assert turn.query is not None
    tr = _tr(scopes)
    now = turn.svc.clock.now()
    task_id, version = questions.split(cb.value) or (0, "")
    approved = busy = changed = False
    conv: Conversation | None = None
    async with turn.svc.db.session() as session:
        found = await store.task_with_supervisor(session, task_id)
        reviewer = _reviewer(scopes, found[0].exchange_type, found[0].city) if found else None
        if found is None or reviewer is None:
            pass  # not (or no longer) this coordinator's task: a stale press
        elif found[0].status == TaskStatus.SUBMITTED and questions.fingerprint(found[0]) != version:
            changed = True  # edited since the card was shown: approve only what was seen
        elif cb.action == "ok":
            approved = await store.review_task(
                session,
                task_id,
                status=TaskStatus.APPROVED,
                reviewer_id=reviewer.id or 0,
                now=now,
                updated_at=found[0].updated_at,
            )
            existing = await repository.get_conversation(session, turn.user.id)
            returning = existing is not None and existing.flow == RETURN_FLOW
            if approved and returning and existing and existing.data.get("task_id") == task_id:
                await repository.delete_conversation(session, turn.user.id)
        elif cb.action == "ret" and found[0].status == TaskStatus.SUBMITTED:
            existing = await repository.get_conversation(session, turn.user.id)
            busy = existing is not None and existing.flow not in FLOWS
            if not busy:
                conv = Conversation(
                    telegram_user_id=turn.user.id,
                    chat_id=turn.chat_id,
                    flow=RETURN_FLOW,
                    step=RETURN_STEP,
                    language=reviewer.language,
                    data={
                        "task_id": task_id,
                        "title": found[0].title,
                        "card": _message_id(turn),
                        "version": version,
                    },
                    created_at=now,
                )
                await _replace_conversation(session, turn, conv, existing is not None)
    if found is None or reviewer is None:
        await turn.query.answer(tr("btn.stale"))
        return
    task, supervisor = found
    if changed:
        await turn.query.answer(tr("coord.task.changed"))
        await turn.close(turn.pressed_html() + "\n\n" + tr("coord.task.changed"))
        await turn.show(task_screen(task, supervisor, tr))
    elif approved:
        await turn.query.answer()
        await turn.close(turn.pressed_html() + "\n\n" + tr("coord.task.approved"))
        await notify.tell(
            turn.update.get_bot(),
            supervisor.chat_id,
            supervisor.language,
            "coord.notify.approved",
            title=task.title,
        )
    elif busy:
        await turn.query.answer()
        await turn.say(tr("coord.return.busy"))
    elif conv is not None:
        await turn.query.answer()
        await turn.show(return_screen(conv))
    else:
        await _task_stale(turn, task_id, tr)


async def _task_stale(turn: Turn, task_id: int, tr: Translator) -> None:
    """Someone else reviewed it (or the supervisor withdrew it): say so, drop the buttons."""
    assert turn.query is not None
    async with turn.svc.db.session() as session:
        found = await store.task_with_supervisor(session, task_id)
    await turn.query.answer(tr("coord.task.stale"))
    if found is not None:
        status = tr(f"coord.status.{found[0].status.value}")
        await turn.close(turn.pressed_html() + "\n\n" + tr("coord.task.now", status=status))


def _message_id(turn: Turn) -> int | None:
    message = turn.query.message if turn.query else None
    return message.message_id if message is not None else None


async def _replace_conversation(session: Any, turn: Turn, conv: Conversation, had: bool) -> None:
    if had:
        await repository.delete_conversation(session, turn.user.id)
        await session.flush()
    await repository.save_conversation(session, conv, turn.svc.clock.now())


def return_screen(conv: Conversation, notice: str | None = None) -> ui.Screen:
    tr = Translator(conv.language)
    text = tr("coord.return.ask", title=conv.data.get("title", ""))
    return ui.Screen(
        f"{notice}\n\n{text}" if notice else text,
        [[ui.Button(tr("coord.btn.stop"), Callback(SCOPE, RETURN_STEP, "stop"))]],
    )


async def _return_text(turn: Turn, conv: Conversation, text: str, update_id: int) -> None:
    """The note for a returned task: store it, tell the supervisor, end the flow."""
    tr = Translator(conv.language)
    checked = clean_text(text, max_length=MAX_REASON, min_length=2)
    if isinstance(checked, Invalid):
        await turn.show(return_screen(conv, tr(checked.message_id)))
        return
    task_id = int(conv.data.get("task_id", 0))
    now = turn.svc.clock.now()
    returned = False
    async with turn.svc.db.session() as session:
        current = await repository.get_conversation(session, turn.user.id)
        if current is None or current.flow != RETURN_FLOW or update_id <= current.last_update_id:
            return  # delivered again after a restart, or already ended
        await repository.delete_conversation(session, turn.user.id)
        scopes = await store.coordinators_of_user(session, turn.user.id)
        found = await store.task_with_supervisor(session, task_id)
        reviewer = _reviewer(scopes, found[0].exchange_type, found[0].city) if found else None
        seen = found is not None and questions.fingerprint(found[0]) == conv.data.get("version")
        if found is not None and reviewer is not None and seen:
            returned = await store.review_task(
                session,
                task_id,
                status=TaskStatus.RETURNED,
                reviewer_id=reviewer.id or 0,
                now=now,
                reason=checked.value,
                updated_at=found[0].updated_at if found else None,
            )
    if found is not None and not seen and found[0].status == TaskStatus.SUBMITTED:
        await _drop_buttons(turn, conv.data.get("card"))
        await turn.say(tr("coord.task.changed"))
        await turn.show(task_screen(found[0], found[1], tr))
        return
    if not returned or found is None:
        await turn.say(tr("coord.task.stale"))
        return
    task, supervisor = found
    await _drop_buttons(turn, conv.data.get("card"))
    await turn.say(tr("coord.task.returned", reason=checked.value))
    await notify.tell(
        turn.update.get_bot(),
        supervisor.chat_id,
        supervisor.language,
        "coord.notify.returned",
        title=task.title,
        reason=checked.value,
    )


async def _drop_buttons(turn: Turn, message_id: object) -> None:
    """Take approve/return off the task's card once it was returned (best effort)."""
    if not isinstance(message_id, int):
        return
    with contextlib.suppress(BadRequest):  # too old to edit, deleted, or already without
        await turn.update.get_bot().edit_message_reply_markup(
            chat_id=turn.chat_id, message_id=message_id, reply_markup=None
        )


# ---- /slots and cancelling a slot ----------------------------------------------------------------


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
        await _unknown(update, context)
        return
    tr = _tr(scopes)
    if not slot_list:
        await turn.say(tr("coord.slots.none"))
        return
    margin = turn.svc.settings.coordinator_margin_weeks
    for month in month_screens(slot_list, tr, today, margin, taken):
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


async def _on_slot_button(turn: Turn, cb: Callback, scopes: list[Coordinator]) -> None:
    assert turn.query is not None
    if cb.action == "pn":
        await _propose_now(turn, cb, scopes)
        return
    tr = _tr(scopes)
    now = turn.svc.clock.now()
    slot_id, tag = questions.split(cb.value) or (0, "")
    told: list[tuple[int, str, str]] = []  # (chat, language, message id) of affected supervisors
    cancelled = answered = False
    question_id = 0
    async with turn.svc.db.session() as session:
        if cb.action == "cy":
            await slots.lock_slot(session, slot_id, now)  # so the slot cannot change meanwhile
        slot = await slots.fresh_slot(session, slot_id)
        mine = slot is not None and _reviewer(scopes, slot.exchange_type, slot.city) is not None
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
        bot = turn.update.get_bot()
        for chat_id, language, message_id in told:
            person_tr = Translator(language)
            await notify.tell(
                bot,
                chat_id,
                language,
                message_id,
                start=slot.start_date.isoformat(),
                city=service.city_name(slot.city, language),
                type=person_tr(f"type.{slot.exchange_type}"),
            )


async def _answer(session: Any, turn: Turn, tag: str, subject: str, row: Any, action: str) -> bool:
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


# ---- /propose ------------------------------------------------------------------------------------


async def cmd_propose(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    turn = Turn.of(update, context)
    if turn is None:
        return
    scopes = await _scopes(turn)
    if not scopes:
        await _unknown(update, context)
        return
    tr = _tr(scopes)
    if not context.args:
        await turn.say(tr("coord.propose.usage"))
        return
    await _propose(turn, scopes, context.args[0])


async def _propose_now(turn: Turn, cb: Callback, scopes: list[Coordinator]) -> None:
    """The "propose now" button under a notice of a place given back: the same as /propose."""
    assert turn.query is not None
    async with turn.svc.db.session() as session:
        slot = await slots.fresh_slot(session, parse_id(cb.value) or 0)
    await turn.query.answer()
    await _propose(turn, scopes, slot.reference if slot else cb.value)


async def _propose(turn: Turn, scopes: list[Coordinator], reference_typed: str) -> None:
    tr = _tr(scopes)
    now = turn.svc.clock.now()
    made = 0
    async with turn.svc.db.session() as session:
        slot = await store.slot_by_reference(session, reference_typed)
        mine = slot is not None and _reviewer(scopes, slot.exchange_type, slot.city) is not None
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


# ---- /digest: how often the digest email comes --------------------------------------------------


def digest_text(frequency: str, tr: Translator, at: str) -> str:
    key = "coord.digest.daily" if frequency == digests.DAILY else "coord.digest.weekly"
    return tr(key, time=at)


async def cmd_digest(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    turn = Turn.of(update, context)
    if turn is None:
        return
    scopes = await _scopes(turn)
    if not scopes:
        await _unknown(update, context)
        return
    tr = _tr(scopes)
    current = digest_text(digests.frequency_of(scopes), tr, turn.svc.settings.digest_time)
    choose = [
        ui.Button(tr("coord.btn.daily"), Callback(SCOPE, "d", "set", digests.DAILY)),
        ui.Button(tr("coord.btn.weekly"), Callback(SCOPE, "d", "set", digests.WEEKLY)),
    ]
    await turn.show(ui.Screen(current + "\n\n" + tr("coord.digest.ask"), [choose]))


async def _on_digest_button(turn: Turn, cb: Callback, scopes: list[Coordinator]) -> None:
    assert turn.query is not None
    tr = _tr(scopes)
    if cb.action != "set" or cb.value not in digests.FREQUENCIES:
        await turn.query.answer(tr("btn.stale"))
        return
    async with turn.svc.db.session() as session:
        await digest_store.set_frequency(session, scopes, cb.value)
    await turn.query.answer()
    await turn.close(digest_text(cb.value, tr, turn.svc.settings.digest_time))


# ---- a CSV file of slots -------------------------------------------------------------------------


def _is_csv(name: str | None, mime: str | None) -> bool:
    return (name or "").lower().endswith((".csv", ".txt")) or (mime or "") in (
        "text/csv",
        "text/plain",
        "application/vnd.ms-excel",
    )


def out_of_scope(
    rows: Sequence[slots_csv.SlotRow],
    scopes: Sequence[Coordinator],
    existing: Sequence[Slot] = (),
) -> list[slots_csv.RowError]:
    """Rows for a type and city the coordinator does not hold, and rows whose reference names
    an existing slot outside their scope (which would move it into theirs): refused like any
    bad row. The other slot's type and city are not shown."""
    theirs = {s.reference for s in existing if _reviewer(scopes, s.exchange_type, s.city) is None}
    return [
        slots_csv.RowError(row.line, "coord.csv.taken", row.reference)
        if row.reference in theirs
        else slots_csv.RowError(row.line, "coord.csv.scope", f"{row.exchange_type} {row.city}")
        for row in rows
        if row.reference in theirs or _reviewer(scopes, row.exchange_type, row.city) is None
    ]


def errors_text(errors: Sequence[slots_csv.RowError], tr: Translator) -> str:
    ordered = sorted(errors, key=lambda e: e.line)
    lines = [slots_csv.describe(e, tr) for e in ordered[:MAX_ERRORS_SHOWN]]
    if len(ordered) > MAX_ERRORS_SHOWN:
        lines.append(tr("coord.csv.more", count=len(ordered) - MAX_ERRORS_SHOWN))
    return tr("coord.csv.errors", count=len(ordered)) + "\n" + "\n".join(lines)


async def on_document(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    turn = Turn.of(update, context)
    message = update.effective_message
    document = message.document if message else None
    if turn is None or document is None:
        return
    scopes = await _scopes(turn)
    if not scopes:
        from bot.chat import handlers  # imported here: bot.chat.handlers wires this module

        await handlers.on_other_message(update, context)
        return
    tr = _tr(scopes)
    if not _is_csv(document.file_name, document.mime_type):
        await turn.say(tr("coord.csv.not_csv", columns=",".join(slots_csv.COLUMNS)))
        return
    if (document.file_size or 0) > MAX_CSV_BYTES:
        await turn.say(tr("coord.csv.too_big", kb=MAX_CSV_BYTES // 1024))
        return
    try:
        content = bytes(
            await (await context.bot.get_file(document.file_id)).download_as_bytearray()
        )
    except TelegramError:
        log.warning("could not download a coordinator's CSV file", exc_info=True)
        await turn.say(tr("coord.csv.download_failed"))
        return
    rows, errors = slots_csv.parse(content)
    if not errors and not rows:
        await turn.say(tr("coord.csv.empty"))
        return
    report = None
    async with turn.svc.db.session() as session:
        existing = await slots.slots_by_reference(session, [row.reference for row in rows])
        errors = [*errors, *out_of_scope(rows, scopes, existing)]
        if not errors:  # checked again in the import, in case a slot was added meanwhile
            report = await slots.import_slots(
                session,
                rows,
                turn.svc.clock.now(),
                may_change=lambda s: _reviewer(scopes, s.exchange_type, s.city) is not None,
            )
    if errors or report is None:
        await turn.say(errors_text(errors, tr))
        return
    summary = tr(
        "coord.csv.done",
        created=len(report.created),
        updated=len(report.updated),
        unchanged=len(report.unchanged),
    )
    if report.refused:
        summary += "\n\n" + errors_text(report.refused, tr)
    await turn.say(summary)


# ---- /addslot ------------------------------------------------------------------------------------


def check_row(values: dict[str, str]) -> tuple[slots_csv.SlotRow | None, list[slots_csv.RowError]]:
    """Run the CSV importer's own checks on one row (the answers, stand-ins for the rest)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(slots_csv.COLUMNS)
    writer.writerow([values.get(column, _STAND_IN[column]) for column in slots_csv.COLUMNS])
    rows, errors = slots_csv.parse(out.getvalue())
    return (rows[0] if rows and not errors else None), errors


def _cells(data: dict[str, Any]) -> dict[str, str]:
    """The answers so far as CSV cells."""
    return {
        column: "" if data[column] is None else str(data[column])
        for column in slots_csv.COLUMNS
        if column in data
    }


def options(step: AStep, data: dict[str, Any], tr: Translator) -> list[tuple[str, str]]:
    """(value, label) of each button a step offers; only types and cities in scope."""
    allowed: dict[str, list[str]] = data.get("allowed", {})
    kind = str(data.get("exchange_type"))
    match step:
        case AStep.TYPE:
            return [(k, tr(f"type.{k}")) for k in allowed]
        case AStep.CITY:
            return [(c, service.city_name(c, tr.language)) for c in allowed.get(kind, [])]
        case AStep.WEEKS:
            weeks = (4, 8) if kind == "research" else (4,)
            return [(str(n), tr("coord.addslot.weeks_n", weeks=n)) for n in weeks]
        case AStep.PLACES:
            return [(str(n), str(n)) for n in range(1, 5)]
        case AStep.FIELD:
            fields = reference.fields_for([kind], tr.language)
            return [(f.code, f.name(tr.language)) for f in fields] + [
                (NONE, tr("coord.btn.no_preference"))
            ]
        case AStep.COUNTRY:
            return [(NONE, tr("coord.btn.skip"))]
    return []


CHOICES: Final = frozenset({AStep.TYPE, AStep.CITY, AStep.WEEKS, AStep.FIELD})


def following(step: AStep, data: dict[str, Any]) -> AStep:
    """The next question, answering for the person any with a single possible answer."""
    index = ORDER.index(step) + 1
    while ORDER[index] in CHOICES and len(only := options(ORDER[index], data, _EN)) <= 1:
        data[COLUMN[ORDER[index]]] = _stored(ORDER[index], only[0][0]) if only else None
        index += 1
    return ORDER[index]


def _stored(step: AStep, cell: str) -> Any:
    if step in (AStep.WEEKS, AStep.PLACES):
        return int(cell)
    return None if cell in ("", NONE) else cell


def start_data(scopes: Sequence[Coordinator], today: date, margin_weeks: int) -> dict[str, Any]:
    """A new /addslot draft: what may be chosen, and what the screens show (kept with it, so a
    screen can be drawn again from the stored draft alone)."""
    return {
        "allowed": allowed_places(scopes),
        "margin": margin_weeks,
        "example": (today + timedelta(days=120)).isoformat(),
    }


def apply_answer(step: AStep, data: dict[str, Any], raw: str) -> tuple[AStep, str | None]:
    """Check one answer with the importer's rules: (next step, None), or (same step, the id of
    the problem). Pure; `data` changes only when the answer is good."""
    if step == AStep.CONFIRM:
        return step, "coord.addslot.choose"
    column = COLUMN[step]
    cell = raw.strip()
    if step in (AStep.FIELD, AStep.COUNTRY) and cell == NONE:
        cell = ""
    if step in CHOICES and cell not in {
        v if v != NONE else "" for v, _ in options(step, data, _EN)
    }:
        return step, "coord.addslot.choose"
    row, errors = check_row({**_cells(data), column: cell})
    if row is None:
        return step, errors[0].reason_id if errors else "coord.addslot.choose"
    value = getattr(row, column)
    data[column] = value.isoformat() if isinstance(value, date) else value
    return following(step, data), None


def answer_label(step: AStep, data: dict[str, Any], raw: str, tr: Translator) -> str:
    """What a pressed button said (shown under the question once answered)."""
    return dict(options(step, data, tr)).get(raw, raw)


def summary_text(data: dict[str, Any], tr: Translator) -> str:
    field = reference.field(str(data.get("field_preference") or ""))
    start = date.fromisoformat(str(data["start_date"]))
    return tr(
        "coord.addslot.summary",
        reference=data.get("reference", ""),
        type=tr(f"type.{data.get('exchange_type')}"),
        city=service.city_name(str(data.get("city")), tr.language),
        start=start.isoformat(),
        weeks=data.get("weeks", ""),
        places=data.get("places", ""),
        field=field.name(tr.language) if field else tr("coord.btn.no_preference"),
        country=data.get("partner_country") or "—",
        reply_by=season.reply_by(start, int(data.get("margin", 2))).isoformat(),
    )


def addslot_screen(
    step: AStep, data: dict[str, Any], tr: Translator, notice: str | None = None
) -> ui.Screen:
    stop = [ui.Button(tr("coord.btn.stop"), Callback(SCOPE, step.value, "stop"))]
    if step == AStep.CONFIRM:
        text = summary_text(data, tr)
        buttons = [[ui.Button(tr("coord.btn.add"), Callback(SCOPE, step.value, "add"))], stop]
    else:
        text = tr(f"coord.addslot.{step.value}", example=data.get("example", ""))
        keys = [
            ui.Button(label, Callback(SCOPE, step.value, "v", value))
            for value, label in options(step, data, tr)
        ]
        width = 4 if step == AStep.PLACES else 2
        buttons = [keys[i : i + width] for i in range(0, len(keys), width)] + [stop]
    return ui.Screen(f"{notice}\n\n{text}" if notice else text, buttons)


def _conv_screen(conv: Conversation, notice: str | None) -> ui.Screen:
    if conv.flow == RETURN_FLOW:
        return return_screen(conv, notice)
    return addslot_screen(AStep(conv.step), conv.data, Translator(conv.language), notice)


def _reprompt_id(conv: Conversation) -> str:
    if conv.flow == RETURN_FLOW:
        return "coord.return.reprompt"
    return "coord.addslot.reprompt" if AStep(conv.step) in TYPED else "coord.addslot.choose"


async def cmd_addslot(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    turn = Turn.of(update, context)
    if turn is None:
        return
    now = turn.svc.clock.now()
    today = now.astimezone(turn.svc.settings.tz).date()
    conv: Conversation | None = None
    async with turn.svc.db.session() as session:
        scopes = await store.coordinators_of_user(session, turn.user.id)
        existing = await repository.get_conversation(session, turn.user.id)
        busy = existing is not None and existing.flow not in FLOWS
        if scopes and not busy:
            conv = Conversation(
                telegram_user_id=turn.user.id,
                chat_id=turn.chat_id,
                flow=ADDSLOT_FLOW,
                step=AStep.REFERENCE,
                language=scopes[0].language,
                data=start_data(scopes, today, turn.svc.settings.coordinator_margin_weeks),
                created_at=now,
            )
            await _replace_conversation(session, turn, conv, existing is not None)
    if not scopes:
        await _unknown(update, context)
        return
    if conv is None:
        await turn.say(_tr(scopes)("coord.addslot.busy"))
        return
    await turn.show(addslot_screen(AStep.REFERENCE, conv.data, Translator(conv.language)))


async def _addslot_answer(turn: Turn, raw: str, update_id: int, pressed: str | None) -> None:
    """One answer to /addslot, typed or pressed; stored with the next step in one transaction."""
    notice_id: str | None = None
    label = ""
    async with turn.svc.db.session() as session:
        conv = await repository.get_conversation(session, turn.user.id)
        fresh = (
            conv is not None
            and conv.flow == ADDSLOT_FLOW
            and conv.active
            and update_id > conv.last_update_id
            and (pressed is None or pressed == conv.step)
        )
        if fresh and conv is not None:
            asked = AStep(conv.step)
            label = answer_label(asked, conv.data, raw, Translator(conv.language))
            step, notice_id = apply_answer(asked, conv.data, raw)
            exists = asked == AStep.REFERENCE and notice_id is None
            if exists and await slots.get_slot_by_reference(session, conv.data["reference"]):
                notice_id, step = "coord.addslot.exists", asked
                conv.data.pop("reference")
            conv.step = step
            conv.last_update_id = update_id
            await repository.save_conversation(session, conv, turn.svc.clock.now())
    if not fresh or conv is None:
        if turn.query is not None:
            await turn.query.answer(_stranger(turn)("btn.stale"))
        return
    tr = Translator(conv.language)
    notice = tr(notice_id, value=raw.strip()[:60]) if notice_id else None
    if turn.query is not None:
        await turn.query.answer()
        if notice is None:
            await turn.close(turn.pressed_html() + f"\n✔️ <b>{escape(label)}</b>")
    await turn.show(addslot_screen(AStep(conv.step), conv.data, tr, notice))


async def _addslot_finish(turn: Turn, update_id: int) -> None:
    """ "Add the place": check everything again (the scope too), then import the one row."""
    assert turn.query is not None
    now = turn.svc.clock.now()
    problem: str | None = None
    row: slots_csv.SlotRow | None = None
    async with turn.svc.db.session() as session:
        conv = await repository.get_conversation(session, turn.user.id)
        fresh = (
            conv is not None
            and conv.flow == ADDSLOT_FLOW
            and conv.step == AStep.CONFIRM
            and update_id > conv.last_update_id
        )
        if fresh and conv is not None:
            scopes = await store.coordinators_of_user(session, turn.user.id)
            row, errors = check_row(_cells(conv.data))
            if row is None:
                problem = errors[0].reason_id if errors else "btn.stale"
            elif _reviewer(scopes, row.exchange_type, row.city) is None:
                problem = "btn.stale"
            elif await slots.get_slot_by_reference(session, row.reference):
                problem = "coord.addslot.exists"
            else:
                await slots.import_slots(session, [row], now)
            await repository.delete_conversation(session, turn.user.id)
    if not fresh or conv is None:
        await turn.query.answer(_stranger(turn)("btn.stale"))
        return
    tr = Translator(conv.language)
    await turn.query.answer()
    if problem is not None or row is None:
        await turn.close(tr(problem or "btn.stale", value=row.reference if row else ""))
        return
    today = now.astimezone(turn.svc.settings.tz).date()
    reply_by = season.reply_by(row.start_date, turn.svc.settings.coordinator_margin_weeks)
    text = turn.pressed_html() + "\n\n" + tr("coord.addslot.done", reference=row.reference)
    if reply_by < today:
        text += "\n" + tr("coord.addslot.urgent", date=reply_by.isoformat())
    await turn.close(text)


def _stranger(turn: Turn) -> Translator:
    return Translator(language_from_telegram(turn.user.language_code))


# ---- typed text and buttons ----------------------------------------------------------------------


async def on_text(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Typed text while in one of the coordinators' flows (routed here by `flows.TEXT`)."""
    turn = Turn.of(update, context)
    text = update.effective_message.text if update.effective_message else None
    if turn is None or text is None:
        return
    async with turn.svc.db.session() as session:
        conv = await repository.get_conversation(session, turn.user.id)
    if conv is None or conv.flow not in FLOWS or update.update_id <= conv.last_update_id:
        return
    if conv.flow == RETURN_FLOW:
        await _return_text(turn, conv, text, update.update_id)
    elif AStep(conv.step) in TYPED:
        await _addslot_answer(turn, text, update.update_id, None)
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
    scopes = await _scopes(turn) if cb is not None and cb.scope == SCOPE else []
    if cb is None or not scopes:
        await turn.query.answer(Translator(await turn.language())("btn.stale"))
        return
    if cb.step == "t":
        await _on_task_button(turn, cb, scopes)
    elif cb.step == "s":
        await _on_slot_button(turn, cb, scopes)
    elif cb.step == "p":
        await _on_more_pending(turn, cb, scopes)
    elif cb.step == "d":
        await _on_digest_button(turn, cb, scopes)
    elif cb.action == "stop":
        await _stop(turn, cb, _tr(scopes))
    elif cb.step == AStep.CONFIRM and cb.action == "add":
        await _addslot_finish(turn, update.update_id)
    elif cb.step in {s.value for s in AStep} and cb.action == "v":
        await _addslot_answer(turn, cb.value, update.update_id, cb.step)
    else:
        await turn.query.answer(_tr(scopes)("btn.stale"))


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


# ---- wiring --------------------------------------------------------------------------------------


def flows() -> list[Foreign]:
    """The coordinators' flows for the flow table (/cancel drops them: nothing worth keeping)."""
    return [Foreign(f, on_text, _conv_screen, _reprompt_id, "coord.cancelled") for f in FLOWS]


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
