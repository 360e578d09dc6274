"""/addslot: a short guided flow (flow `coord_addslot`) adding one slot, each answer checked by
the CSV importer's own rules, so a slot added here could have come from a file.

The questions are rows run by the flow engine. A question with a single possible answer (the
only exchange type or city in the coordinator's scope, the 4 weeks of a clinical stay) is not
asked: its row's `default` answers it. What may be chosen is computed from the coordinator's
scopes when the flow starts and kept in the draft (`start_data`), so any question can be drawn
again from the stored draft alone."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum
from typing import Any, Final

from telegram import Update
from telegram.ext import ContextTypes

from bot.chat.engine.context import Ctx
from bot.chat.engine.form import Form
from bot.chat.engine.rows import Applied, Data, Kind, Option, Options, Predicate, Question
from bot.chat.flows.coordinator.access import (
    ADDSLOT_FLOW,
    ADDSLOT_SCOPE,
    FLOWS,
    STOP,
    as_unknown,
    cancel_row,
    replace_conversation,
    reviewer_of,
    small_flow,
    translator,
)
from bot.chat.turn import Turn
from bot.core.i18n import Translator
from bot.domain import reference, season, slots_csv
from bot.domain.validation import Invalid, Result, Valid
from bot.services import coordinators as service
from storage import coordinators as store
from storage import repository, slots
from storage.models import Conversation, Coordinator

_EN: Final = Translator("en")  # labels are not shown when only values matter
NONE: Final = "-"  # the button value for "no field preference" / "skip"


class AStep(StrEnum):
    """The /addslot questions' ids (stored as the draft's step)."""

    REFERENCE = "a_ref"
    TYPE = "a_type"
    CITY = "a_city"
    START = "a_start"
    WEEKS = "a_weeks"
    PLACES = "a_places"
    FIELD = "a_field"
    COUNTRY = "a_country"
    CONFIRM = "a_confirm"


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


def _cells(data: Data) -> dict[str, str]:
    """The answers so far as CSV cells."""
    return {
        column: "" if data[column] is None else str(data[column])
        for column in slots_csv.COLUMNS
        if column in data
    }


def start_data(scopes: Sequence[Coordinator], today: date, margin_weeks: int) -> dict[str, Any]:
    """A new /addslot draft: what may be chosen, and what the screens show (kept with it, so a
    screen can be drawn again from the stored draft alone)."""
    return {
        "allowed": allowed_places(scopes),
        "margin": margin_weeks,
        "example": (today + timedelta(days=120)).isoformat(),
    }


def summary_text(data: Data, tr: Translator) -> str:
    start = date.fromisoformat(str(data["start_date"]))
    return tr(
        "coord.addslot.summary",
        reference=data.get("reference", ""),
        type=tr(f"type.{data.get('exchange_type')}"),
        city=service.city_name(str(data.get("city")), tr.language),
        start=start.isoformat(),
        weeks=data.get("weeks", ""),
        places=data.get("places", ""),
        field=_field_label(data, tr),
        country=data.get("partner_country") or "—",
        reply_by=season.reply_by(start, int(data.get("margin", 2))).isoformat(),
    )


# ---- the questions ------------------------------------------------------------------------------


def _types(data: Data, tr: Translator) -> list[Option]:
    return [Option(k, tr(f"type.{k}")) for k in data.get("allowed", {})]


def _cities(data: Data, tr: Translator) -> list[Option]:
    cities: list[str] = data.get("allowed", {}).get(str(data.get("exchange_type")), [])
    return [Option(c, service.city_name(c, tr.language)) for c in cities]


def _weeks(data: Data, tr: Translator) -> list[Option]:
    weeks = (4, 8) if data.get("exchange_type") == "research" else (4,)
    return [Option(str(n), tr("coord.addslot.weeks_n", weeks=n)) for n in weeks]


def _places(data: Data, tr: Translator) -> list[Option]:
    return [Option(str(n), str(n)) for n in range(1, 5)]


def _fields(data: Data, tr: Translator) -> list[Option]:
    fields = reference.fields_for([str(data.get("exchange_type"))], tr.language)
    return [Option(f.code, f.name(tr.language)) for f in fields] + [
        Option(NONE, tr("coord.btn.no_preference"))
    ]


def _no_country(data: Data, tr: Translator) -> list[Option]:
    return [Option(NONE, tr("coord.btn.skip"))]


def _field_label(data: Data, tr: Translator) -> str:
    field = reference.field(str(data.get("field_preference") or ""))
    return field.name(tr.language) if field else tr("coord.btn.no_preference")


def _code(cell: str) -> Any:
    return None if cell in ("", NONE) else cell


def _several(options: Options) -> Predicate:
    """Asked only when there is a choice to make."""
    return lambda data: len(options(data, _EN)) > 1


def _only(options: Options, store: Callable[[str], Any] = _code) -> Callable[[Data], Any]:
    """The answer of a question not asked: its single option, if any."""

    def default(data: Data) -> Any:
        only = options(data, _EN)
        return store(only[0].code) if only else None

    return default


def _checked(column: str) -> Callable[[Data, str], Result]:
    """A typed answer for `column`, checked by the importer with the answers so far."""

    def parse(data: Data, text: str) -> Result:
        cell = text.strip()
        if column == "partner_country" and cell == NONE:
            cell = ""
        row, errors = check_row({**_cells(data), column: cell})
        if row is None:
            problem = errors[0].reason_id if errors else "coord.addslot.choose"
            return Invalid(problem, quoted=text.strip()[:60])
        value = getattr(row, column)
        return Valid(value.isoformat() if isinstance(value, date) else str(value or ""))

    return parse


def _start_text(data: Data, tr: Translator) -> str:
    return tr("coord.addslot.a_start", example=data.get("example", ""))


async def _new_reference(ctx: Ctx, text: str) -> Applied:
    """A reference must be new: a place is changed by a CSV file, not here."""
    q = FORM[AStep.REFERENCE]
    parsed = FORM.parse(q, ctx.conv.data, text)
    if isinstance(parsed, Valid) and await slots.get_slot_by_reference(ctx.session, parsed.value):
        return Applied(q.id, notice="coord.addslot.exists", args={"value": text.strip()[:60]})
    return FORM.apply_text(q.id, ctx.conv.data, text, ctx.tr)


def _ask(step: AStep, key: str, kind: Kind, **more: Any) -> Question:
    """A question as every /addslot question is: its own prompt, "Cancel" under it, no "Back"."""
    typed = kind == Kind.TEXT
    return Question(
        step,
        key,
        kind,
        prompt=f"coord.addslot.{step.value}",
        reprompt="coord.addslot.reprompt" if typed else "coord.addslot.choose",
        parse_in=_checked(key) if typed else None,
        keep=False,
        editable=False,
        extra=cancel_row,
        actions=STOP,
        **more,
    )


FORM: Final = Form(
    catalog="coord.addslot",
    scope=ADDSLOT_SCOPE,
    questions=(
        _ask(AStep.REFERENCE, "reference", Kind.TEXT, check=_new_reference),
        _ask(
            AStep.TYPE,
            "exchange_type",
            Kind.CHOICE,
            options=_types,
            when=_several(_types),
            default=_only(_types),
        ),
        _ask(
            AStep.CITY,
            "city",
            Kind.CHOICE,
            options=_cities,
            when=_several(_cities),
            default=_only(_cities),
        ),
        _ask(AStep.START, "start_date", Kind.TEXT, text=_start_text),
        _ask(
            AStep.WEEKS,
            "weeks",
            Kind.CHOICE,
            options=_weeks,
            when=_several(_weeks),
            default=_only(_weeks, int),
            store=int,
            code=str,
        ),
        _ask(AStep.PLACES, "places", Kind.TEXT, options=_places, store=int, width=4),
        _ask(
            AStep.FIELD,
            "field_preference",
            Kind.CHOICE,
            options=_fields,
            when=_several(_fields),
            default=_only(_fields),
            store=_code,
            label=_field_label,
            optional=True,
            skippable=False,
        ),
        _ask(
            AStep.COUNTRY,
            "partner_country",
            Kind.TEXT,
            options=_no_country,
            store=_code,
            optional=True,
            skippable=False,
        ),
        Question(
            AStep.CONFIRM,
            "",
            Kind.SUMMARY,
            text=summary_text,
            reprompt="coord.addslot.choose",
            extra=cancel_row,
            actions=STOP,
        ),
    ),
    progress_id=None,
    finish_action="add",
    finish_label_id="coord.btn.add",
    go_back=False,
)


# ---- adding the place --------------------------------------------------------------------------


@dataclass(frozen=True)
class Added:
    row: slots_csv.SlotRow | None
    problem: str | None  # a catalog id; None: added


async def _add(ctx: Ctx) -> Added:
    """ "Add the place": check everything again (the scope too), then import the one row."""
    session, user_id = ctx.session, ctx.conv.telegram_user_id
    scopes = await store.coordinators_of_user(session, user_id)
    row, errors = check_row(_cells(ctx.conv.data))
    problem: str | None = None
    if row is None:
        problem = errors[0].reason_id if errors else "btn.stale"
    elif reviewer_of(scopes, row.exchange_type, row.city) is None:
        problem = "btn.stale"
    elif await slots.get_slot_by_reference(session, row.reference):
        problem = "coord.addslot.exists"
    else:
        await slots.import_slots(session, [row], ctx.svc.clock.now())
    await repository.delete_conversation(session, user_id)
    return Added(row, problem)


async def _added(turn: Turn, conv: Conversation, added: Added) -> None:
    tr = Translator(conv.language)
    row = added.row
    if added.problem is not None or row is None:
        await turn.close(tr(added.problem or "btn.stale", value=row.reference if row else ""))
        return
    today = turn.svc.clock.now().astimezone(turn.svc.settings.tz).date()
    reply_by = season.reply_by(row.start_date, turn.svc.settings.coordinator_margin_weeks)
    text = turn.pressed_html() + "\n\n" + tr("coord.addslot.done", reference=row.reference)
    if reply_by < today:
        text += "\n" + tr("coord.addslot.urgent", date=reply_by.isoformat())
    await turn.close(text)


FLOW: Final = small_flow(ADDSLOT_FLOW, FORM, _add, _added)


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
            data = start_data(scopes, today, turn.svc.settings.coordinator_margin_weeks)
            conv = Conversation(
                telegram_user_id=turn.user.id,
                chat_id=turn.chat_id,
                flow=ADDSLOT_FLOW,
                step=FORM.first(data),
                language=scopes[0].language,
                data=data,
                created_at=now,
            )
            await replace_conversation(session, turn, conv, existing is not None)
    if not scopes:
        await as_unknown(update, context)
        return
    if conv is None:
        await turn.say(translator(scopes)("coord.addslot.busy"))
        return
    await turn.show(FLOW.screen(conv))
