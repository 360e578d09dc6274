"""/addslot: a short guided flow (flow `coord_addslot`) adding one slot, each answer checked by
the CSV importer's own rules, so a slot added here could have come from a file."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from datetime import date, timedelta
from enum import StrEnum
from typing import Any, Final

from markupsafe import escape
from telegram import Update
from telegram.ext import ContextTypes

from bot.chat import ui
from bot.chat.flows.coordinator.access import (
    ADDSLOT_FLOW,
    FLOWS,
    SCOPE,
    as_unknown,
    replace_conversation,
    reviewer_of,
    translator,
)
from bot.chat.turn import Turn
from bot.core.i18n import Translator, language_from_telegram
from bot.domain import reference, season, slots_csv
from bot.domain.signing import Callback
from bot.services import coordinators as service
from storage import coordinators as store
from storage import repository, slots
from storage.models import Conversation, Coordinator

_EN: Final = Translator("en")  # labels are not shown when only values matter
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
            await replace_conversation(session, turn, conv, existing is not None)
    if not scopes:
        await as_unknown(update, context)
        return
    if conv is None:
        await turn.say(translator(scopes)("coord.addslot.busy"))
        return
    await turn.show(addslot_screen(AStep.REFERENCE, conv.data, Translator(conv.language)))


async def addslot_answer(turn: Turn, raw: str, update_id: int, pressed: str | None) -> None:
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


async def addslot_finish(turn: Turn, update_id: int) -> None:
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
            elif reviewer_of(scopes, row.exchange_type, row.city) is None:
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
