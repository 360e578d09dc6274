"""The task questions as data, and one generic engine that asks any of them. Pure: no I/O.

Every step is an `Ask`: where the answer goes, whether it is typed text, one choice or several
toggles, which options it offers and when it applies. One function (`screen`) draws any step and
two (`apply_text`, `apply_button`) accept any answer, so adding a question is adding a row.

```mermaid
stateDiagram-v2
    [*] --> type: /newtask (skipped if the supervisor offers one type)
    type --> field: (skipped with one field)
    field --> title: research: project title, description
    field --> department: clinical
    title --> city
    department --> city
    city --> activities --> hours: clinical
    activities --> products: research
    hours --> goals
    products --> goals
    goals --> weeks: research (clinical is 4 weeks)
    weeks --> season --> months --> capacity --> language --> skills
    skills --> ethics: chart review or patient data
    ethics --> confidentiality --> backup
    skills --> backup
    backup --> summary
    summary --> [*]: submit
```
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from typing import Any, Final

from markupsafe import Markup, escape

from bot.chat.ui import Button, Screen
from bot.core.i18n import Translator
from bot.domain import reference
from bot.domain.signing import Callback
from bot.domain.validation import Invalid, Result, clean_text, validate_short_text

SCOPE: Final = "t"

CLINICAL_ACTIVITIES: Final = ("ward_rounds", "outpatient", "theatre", "on_call", "procedures")
RESEARCH_ACTIVITIES: Final = (
    "data_collection",
    "chart_review",
    "literature",
    "analysis",
    "systematic_review",
    "quality_improvement",
    "lab",
)
PRODUCTS: Final = ("report", "abstract", "poster", "talk")
HOURS: Final = ("full", "half", "shifts")
ETHICS: Final = ("approved", "pending", "exempt")
PATIENT_DATA_ACTIVITIES: Final = frozenset({"chart_review", "data_collection"})
MAX_GOALS: Final = 3

# Suggested learning goals per activity; the last two are offered for every task of that type.
GOALS_BY_ACTIVITY: Final[dict[str, str]] = {
    "ward_rounds": "history",
    "outpatient": "consultation",
    "theatre": "procedures_theatre",
    "on_call": "acute",
    "procedures": "procedures_basic",
    "data_collection": "collect",
    "chart_review": "charts",
    "literature": "search",
    "analysis": "analysis",
    "systematic_review": "screening",
    "quality_improvement": "qi",
    "lab": "lab",
}
GENERAL_GOALS: Final = {"clinical": ("team", "norwegian_care"), "research": ("present", "method")}


class TStep(StrEnum):
    TYPE = "type"
    FIELD = "field"
    TITLE = "title"
    DESCRIPTION = "desc"
    DEPARTMENT = "dept"
    CITY = "city"
    ACTIVITIES = "acts"
    ACTIVITIES_OTHER = "acts_o"
    HOURS = "hours"
    PRODUCTS = "products"
    GOALS = "goals"
    GOAL_TEXT = "goal_t"
    WEEKS = "weeks"
    SEASON = "season"
    MONTHS = "months"
    CAPACITY = "cap"
    LANGUAGE = "lang"
    SKILLS = "skills"
    ETHICS = "ethics"
    CONFIDENTIALITY = "conf"
    BACKUP = "backup"
    SUMMARY = "summary"


class Kind(StrEnum):
    TEXT = "text"
    CHOICE = "choice"
    MULTI = "multi"
    SUMMARY = "summary"


@dataclass(frozen=True)
class Option:
    code: str
    label: str


Options = Callable[[dict[str, Any], Translator], list[Option]]


def _always(data: dict[str, Any]) -> bool:
    return True


def _clinical(data: dict[str, Any]) -> bool:
    return data.get("exchange_type") == "clinical"


def _research(data: dict[str, Any]) -> bool:
    return data.get("exchange_type") == "research"


def _patient_data(data: dict[str, Any]) -> bool:
    return bool(PATIENT_DATA_ACTIVITIES & set(data.get("activities", [])))


def validate_description(raw: str) -> Result:
    return clean_text(raw.replace("\n", " "), max_length=600, min_length=20)


def validate_goal(raw: str) -> Result:
    return clean_text(raw, max_length=200, min_length=5)


@dataclass(frozen=True)
class Ask:
    """One question: `key` in the draft, how it is answered, when it is asked."""

    step: TStep
    key: str
    kind: Kind
    options: Options | None = None
    parse: Callable[[str], Result] | None = None
    applies: Callable[[dict[str, Any]], bool] = _always
    optional: bool = False
    minimum: int = 1
    maximum: int | None = None
    other: TStep | None = None  # a MULTI's "other"/"write my own": a text sub-step
    parent: TStep | None = None  # a text sub-step hands back to this MULTI step
    main: bool = True  # counted in the progress marker and offered for editing

    @property
    def prompt(self) -> str:
        return f"task.{self.step.value}.ask"

    @property
    def reprompt(self) -> str:
        return f"task.{self.step.value}.reprompt"


# ---- options -----------------------------------------------------------------------------------


def _types(data: dict[str, Any], tr: Translator) -> list[Option]:
    return [Option(t, tr(f"type.{t}")) for t in data.get("offered_types", reference.EXCHANGE_TYPES)]


def _fields(data: dict[str, Any], tr: Translator) -> list[Option]:
    return [
        Option(code, f.name(tr.language))
        for code in data.get("offered_fields", [])
        if (f := reference.field(code))
    ]


def _cities(data: dict[str, Any], tr: Translator) -> list[Option]:
    return [Option(c.code, c.name(tr.language)) for c in reference.cities()]


def _activities(data: dict[str, Any], tr: Translator) -> list[Option]:
    codes = CLINICAL_ACTIVITIES if _clinical(data) else RESEARCH_ACTIVITIES
    return [Option(code, tr(f"task.act.{code}")) for code in codes]


def _coded(prefix: str, codes: tuple[str, ...]) -> Options:
    def options(data: dict[str, Any], tr: Translator) -> list[Option]:
        return [Option(code, tr(f"{prefix}.{code}")) for code in codes]

    return options


def suggested_goals(data: dict[str, Any]) -> list[str]:
    kind = str(data.get("exchange_type") or "clinical")
    picked = [GOALS_BY_ACTIVITY[a] for a in data.get("activities", []) if a in GOALS_BY_ACTIVITY]
    return list(dict.fromkeys([*picked, *GENERAL_GOALS.get(kind, ())]))


def goal_text(goal: str, tr: Translator) -> str:
    """A goal is a suggestion code (`@code`) or the supervisor's own words."""
    return tr(f"task.goal.{goal[1:]}") if goal.startswith("@") else goal


def _goals(data: dict[str, Any], tr: Translator) -> list[Option]:
    options = [Option(f"@{code}", tr(f"task.goal.{code}")) for code in suggested_goals(data)]
    own = [Option(g, g) for g in data.get("learning_goals", []) if not g.startswith("@")]
    return options + [Option(f"#{i}", o.label) for i, o in enumerate(own)]


def _weeks(data: dict[str, Any], tr: Translator) -> list[Option]:
    return [Option("4", tr("task.weeks.four")), Option("8", tr("task.weeks.eight"))]


def _seasons(data: dict[str, Any], tr: Translator) -> list[Option]:
    return [Option(str(s), f"{s}/{(s + 1) % 100:02d}") for s in data.get("offered_seasons", [])]


def season_months(season: int) -> list[str]:
    return [f"{season}-{m:02d}" for m in range(4, 13)] + [
        f"{season + 1}-{m:02d}" for m in range(1, 4)
    ]


def month_label(month: str, tr: Translator) -> str:
    year, number = month.split("-")
    return f"{tr(f'month.{int(number)}')} {year[2:]}"


def _months(data: dict[str, Any], tr: Translator) -> list[Option]:
    season = int(data.get("season") or 0)
    return [Option(m, month_label(m, tr)) for m in season_months(season)] if season else []


def _capacity(data: dict[str, Any], tr: Translator) -> list[Option]:
    return [Option(str(n), str(n)) for n in (1, 2, 3)]


# ---- the questions -----------------------------------------------------------------------------

ASKS: Final[tuple[Ask, ...]] = (
    Ask(
        TStep.TYPE,
        "exchange_type",
        Kind.CHOICE,
        _types,
        applies=lambda d: len(d.get("offered_types", [])) > 1,
    ),
    Ask(
        TStep.FIELD,
        "field",
        Kind.CHOICE,
        _fields,
        applies=lambda d: len(d.get("offered_fields", [])) > 1,
    ),
    Ask(TStep.TITLE, "title", Kind.TEXT, parse=validate_short_text, applies=_research),
    Ask(TStep.DESCRIPTION, "description", Kind.TEXT, parse=validate_description, applies=_research),
    Ask(TStep.DEPARTMENT, "department", Kind.TEXT, parse=validate_short_text, applies=_clinical),
    Ask(TStep.CITY, "city", Kind.CHOICE, _cities),
    Ask(TStep.ACTIVITIES, "activities", Kind.MULTI, _activities, other=TStep.ACTIVITIES_OTHER),
    Ask(
        TStep.ACTIVITIES_OTHER,
        "activities_other",
        Kind.TEXT,
        parse=validate_short_text,
        parent=TStep.ACTIVITIES,
        main=False,
    ),
    Ask(TStep.HOURS, "daily_hours", Kind.CHOICE, _coded("task.hours", HOURS), applies=_clinical),
    Ask(
        TStep.PRODUCTS, "products", Kind.MULTI, _coded("task.product", PRODUCTS), applies=_research
    ),
    Ask(
        TStep.GOALS, "learning_goals", Kind.MULTI, _goals, maximum=MAX_GOALS, other=TStep.GOAL_TEXT
    ),
    Ask(
        TStep.GOAL_TEXT,
        "learning_goals",
        Kind.TEXT,
        parse=validate_goal,
        parent=TStep.GOALS,
        main=False,
    ),
    Ask(TStep.WEEKS, "weeks", Kind.CHOICE, _weeks, applies=_research),
    Ask(TStep.SEASON, "season", Kind.CHOICE, _seasons),
    Ask(TStep.MONTHS, "months", Kind.MULTI, _months),
    Ask(TStep.CAPACITY, "capacity", Kind.CHOICE, _capacity),
    Ask(TStep.LANGUAGE, "english_ok", Kind.CHOICE, _coded("task.lang", ("yes", "no"))),
    Ask(TStep.SKILLS, "skills", Kind.TEXT, parse=validate_short_text, optional=True),
    Ask(
        TStep.ETHICS,
        "ethics_status",
        Kind.CHOICE,
        _coded("task.ethics", ETHICS),
        applies=_patient_data,
    ),
    Ask(
        TStep.CONFIDENTIALITY,
        "confidentiality",
        Kind.CHOICE,
        _coded("task.conf", ("yes", "no")),
        applies=_patient_data,
    ),
    Ask(TStep.BACKUP, "backup_contact", Kind.TEXT, parse=validate_short_text),
    Ask(TStep.SUMMARY, "", Kind.SUMMARY, main=False),
)
BY_STEP: Final = {a.step: a for a in ASKS}
_ORDER: Final = [a.step for a in ASKS if a.parent is None]


def first_step(data: dict[str, Any]) -> TStep:
    return next(s for s in _ORDER if BY_STEP[s].applies(data))


def following(step: TStep, data: dict[str, Any]) -> TStep:
    ask = BY_STEP[step]
    if ask.parent is not None:
        return ask.parent
    if data.get("editing"):
        return TStep.SUMMARY
    later = _ORDER[_ORDER.index(step) + 1 :]
    return next(s for s in later if BY_STEP[s].applies(data))


def previous(step: TStep, data: dict[str, Any]) -> TStep | None:
    ask = BY_STEP[step]
    if ask.parent is not None:
        return ask.parent
    if data.get("editing"):
        return TStep.SUMMARY
    earlier = _ORDER[: _ORDER.index(step)]
    return next((s for s in reversed(earlier) if BY_STEP[s].applies(data)), None)


def progress(step: TStep, data: dict[str, Any]) -> tuple[int, int]:
    steps = [s for s in _ORDER if BY_STEP[s].main and BY_STEP[s].applies(data)]
    target = BY_STEP[step].parent or step
    return (steps.index(target) + 1 if target in steps else len(steps)), len(steps)


def missing(data: dict[str, Any]) -> TStep | None:
    """The first applicable question still without an answer (skills are optional)."""
    for step in _ORDER:
        ask = BY_STEP[step]
        if ask.kind != Kind.SUMMARY and not ask.optional and ask.applies(data):
            value = data.get(ask.key)
            if value is None or value == [] or value == "":
                return step
    return None


# ---- accepting answers -------------------------------------------------------------------------


@dataclass
class Applied:
    """The result of an answer: where to go, or a notice and the same step; `redraw` = toggled."""

    step: TStep
    notice: str | None = None
    redraw: bool = False
    submitted: bool = False
    answer: str | None = None


def _stay(step: TStep, notice: str) -> Applied:
    return Applied(step, notice=notice)


def apply_text(step: TStep, data: dict[str, Any], text: str) -> Applied:
    ask = BY_STEP[step]
    if ask.kind != Kind.TEXT or ask.parse is None:
        return _stay(step, ask.reprompt)
    result = ask.parse(text)
    if isinstance(result, Invalid):
        return _stay(step, result.message_id)
    if step == TStep.GOAL_TEXT:
        goals = list(data.get("learning_goals", []))
        if len(goals) >= MAX_GOALS:
            return Applied(TStep.GOALS, notice="task.goals.full")
        data["learning_goals"] = [*goals, result.value]
    elif step == TStep.ACTIVITIES_OTHER:
        data["activities_other"] = result.value
    else:
        data[ask.key] = result.value
    return Applied(following(step, data), answer=result.value)


def _set_choice(ask: Ask, data: dict[str, Any], code: str) -> None:
    value: Any = code
    if ask.step in (TStep.WEEKS, TStep.SEASON, TStep.CAPACITY):
        value = int(code)
    elif ask.step in (TStep.LANGUAGE, TStep.CONFIDENTIALITY):
        value = code == "yes"
    if ask.step == TStep.SEASON and data.get("season") != value:
        data["months"] = []  # months belong to a season
    if ask.step == TStep.TYPE and data.get("exchange_type") != code:
        for key in ("activities", "activities_other", "products", "learning_goals"):
            data.pop(key, None)
        data["weeks"] = 4 if code == "clinical" else data.get("weeks")
    data[ask.key] = value


def apply_button(
    step: TStep, data: dict[str, Any], action: str, value: str, tr: Translator
) -> Applied:
    ask = BY_STEP[step]
    codes = {o.code for o in ask.options(data, tr)} if ask.options else set()
    if action == "back":
        target = previous(step, data)
        return Applied(target if target is not None else step, answer=None)
    if action == "skip" and ask.optional:
        data[ask.key] = None
        return Applied(following(step, data))
    if action == "keep" and data.get(ask.key) not in (None, [], ""):
        return Applied(following(step, data))
    if action == "pick" and ask.kind == Kind.CHOICE and value in codes:
        _set_choice(ask, data, value)
        return Applied(following(step, data), answer=_label(data, ask, tr))
    if action == "toggle" and ask.kind == Kind.MULTI and value in codes:
        return _toggle(ask, data, value)
    if action == "other" and ask.other is not None:
        return Applied(ask.other)
    if action == "done" and ask.kind == Kind.MULTI:
        chosen = list(data.get(ask.key, []))
        extra = 1 if step == TStep.ACTIVITIES and data.get("activities_other") else 0
        if len(chosen) + extra < ask.minimum:
            return _stay(step, "task.multi.none")
        return Applied(following(step, data))
    if action == "edit" and step == TStep.SUMMARY and value in BY_STEP:
        data["editing"] = True
        return Applied(TStep(value))
    if action == "submit" and step == TStep.SUMMARY:
        if (gap := missing(data)) is not None:
            data["editing"] = True
            return Applied(gap, notice="task.summary.incomplete")
        return Applied(step, submitted=True)
    return Applied(step, notice="btn.stale")


def _toggle(ask: Ask, data: dict[str, Any], code: str) -> Applied:
    chosen = list(data.get(ask.key, []))
    if ask.step == TStep.GOALS and code.startswith("#"):
        own = [g for g in chosen if not g.startswith("@")]
        index = int(code[1:])
        if index < len(own):
            chosen.remove(own[index])  # the supervisor's own goal: a tap removes it
        data[ask.key] = chosen
        return Applied(ask.step, redraw=True)
    if code in chosen:
        chosen.remove(code)
    elif ask.maximum is not None and len(chosen) >= ask.maximum:
        return Applied(ask.step, notice="task.goals.full")
    else:
        chosen.append(code)
    data[ask.key] = chosen
    return Applied(ask.step, redraw=True)


# ---- screens -------------------------------------------------------------------------------------


def _cb(step: TStep, action: str, value: str = "") -> Callback:
    return Callback(SCOPE, step.value, action, value)


def _rows(buttons: list[Button], width: int) -> list[list[Button]]:
    return [buttons[i : i + width] for i in range(0, len(buttons), width)]


def screen(
    step: TStep, data: dict[str, Any], tr: Translator, *, notice: str | None = None
) -> Screen:
    ask = BY_STEP[step]
    if ask.kind == Kind.SUMMARY:
        return summary_screen(data, tr, notice=notice)
    top = f"{notice}\n\n" if notice else ""
    number, total = progress(step, data)
    header = "" if data.get("editing") else tr("task.progress", step=number, total=total) + "\n"
    result = Screen(top + header + tr(ask.prompt))
    options = ask.options(data, tr) if ask.options else []
    if ask.kind == Kind.CHOICE:
        current = str(data.get(ask.key)) if data.get(ask.key) is not None else None
        if ask.key in ("english_ok", "confidentiality") and current is not None:
            current = "yes" if data[ask.key] else "no"
        width = 4 if step == TStep.CAPACITY else 2
        result.buttons += _rows(
            [Button(_mark(o.code == current, o.label), _cb(step, "pick", o.code)) for o in options],
            width,
        )
    elif ask.kind == Kind.MULTI:
        chosen = set(data.get(ask.key, []))
        own = {
            f"#{i}" for i, g in enumerate(g for g in data.get(ask.key, []) if not g.startswith("@"))
        }
        width = 3 if step == TStep.MONTHS else 1 if step == TStep.GOALS else 2
        result.buttons += _rows(
            [
                Button(
                    _mark(o.code in chosen or o.code in own, o.label), _cb(step, "toggle", o.code)
                )
                for o in options
            ],
            width,
        )
        row = [Button(tr("btn.done"), _cb(step, "done"))]
        if ask.other is not None:
            row.insert(0, Button(tr(f"task.{step.value}.other"), _cb(step, "other")))
        result.buttons.append(row)
    nav = [Button(tr("btn.back"), _cb(step, "back"))]
    if ask.optional:
        nav.append(Button(tr("task.skip"), _cb(step, "skip")))
    if ask.kind == Kind.TEXT and ask.parent is None and data.get(ask.key):
        nav.append(Button(tr("btn.keep"), _cb(step, "keep")))
    result.buttons.append(nav)
    return result


def _mark(selected: bool, label: str) -> str:
    return f"✅ {label}" if selected else label


def _label(data: dict[str, Any], ask: Ask, tr: Translator) -> str:
    value = data.get(ask.key)
    if value is None or value == [] or value == "":
        return "—"
    match ask.step:
        case TStep.TYPE:
            return tr(f"type.{value}")
        case TStep.FIELD:
            known = reference.field(str(value))
            return known.name(tr.language) if known else str(value)
        case TStep.CITY:
            city = reference.city(str(value))
            return city.name(tr.language) if city else str(value)
        case TStep.ACTIVITIES:
            names = [tr(f"task.act.{a}") for a in value]
            return ", ".join(
                names + ([data["activities_other"]] if data.get("activities_other") else [])
            )
        case TStep.HOURS:
            return tr(f"task.hours.{value}")
        case TStep.PRODUCTS:
            return ", ".join(tr(f"task.product.{p}") for p in value)
        case TStep.GOALS:
            return "; ".join(goal_text(g, tr) for g in value)
        case TStep.WEEKS:
            return tr("task.weeks.n", weeks=value)
        case TStep.SEASON:
            return f"{value}/{(int(value) + 1) % 100:02d}"
        case TStep.MONTHS:
            return ", ".join(month_label(m, tr) for m in value)
        case TStep.LANGUAGE | TStep.CONFIDENTIALITY:
            return tr(f"task.{ask.step.value}.{'yes' if value else 'no'}")
        case TStep.ETHICS:
            return tr(f"task.ethics.{value}")
    return str(value)


def _shown(ask: Ask, data: dict[str, Any]) -> bool:
    """On the card: every answered question; type and field even when they were not asked."""
    if not ask.main or ask.kind == Kind.SUMMARY:
        return False
    return ask.applies(data) or ask.step in (TStep.TYPE, TStep.FIELD)


def card(data: dict[str, Any], tr: Translator) -> str:
    """All answers as an HTML card; values escaped here, since they are the supervisor's text."""
    return "\n".join(
        f"<b>{escape(tr(f'task.{ask.step.value}.label'))}:</b> {escape(_label(data, ask, tr))}"
        for ask in ASKS
        if _shown(ask, data)
    )


def summary_screen(data: dict[str, Any], tr: Translator, *, notice: str | None = None) -> Screen:
    top = f"{notice}\n\n" if notice else ""
    result = Screen(top + tr("task.summary.ask", card=Markup(card(data, tr))))
    editable = [a for a in ASKS if a.main and a.kind != Kind.SUMMARY and a.applies(data)]
    buttons = [
        Button(tr(f"task.{a.step.value}.label"), _cb(TStep.SUMMARY, "edit", a.step.value))
        for a in editable
    ]
    result.buttons += _rows(buttons, 3)
    result.buttons.append([Button(tr("task.summary.submit"), _cb(TStep.SUMMARY, "submit"))])
    return result


def seasons_open(today: date) -> list[int]:
    """The current season (if more than two months of it remain) and the next one."""
    current = today.year if today.month >= 4 else today.year - 1
    remaining = (current + 1) * 12 + 3 - (today.year * 12 + today.month)
    return [current, current + 1] if remaining > 2 else [current + 1, current + 2]


@dataclass
class Context:
    """What a new task starts from: the supervisor's types and fields, and the open seasons."""

    offered_types: list[str]
    offered_fields: list[str]
    city: str
    seasons: list[int] = field(default_factory=list)
    field_fallback: str | None = None  # the supervisor's own field text, when no code fits

    def initial_data(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "offered_types": self.offered_types,
            "offered_fields": self.offered_fields,
            "offered_seasons": self.seasons,
            "city": self.city if reference.city(self.city) else None,
            "learning_goals": [],
        }
        if len(self.offered_types) == 1:
            data["exchange_type"] = self.offered_types[0]
        if len(self.offered_fields) == 1:
            data["field"] = self.offered_fields[0]
        elif not self.offered_fields:
            data["field"] = self.field_fallback
        if data.get("exchange_type") == "clinical":
            data["weeks"] = 4
        return data
