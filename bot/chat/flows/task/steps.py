"""The task questions as rows of the flow engine (`bot.chat.engine`). Pure: no I/O.

Every question is a `Question`: where the answer goes, whether it is typed text, one choice or
several toggles, which options it offers and when it applies. The engine derives the order, back,
progress, the summary and its edits, so adding a question is adding a row.

Nothing the bot already knows is asked: the type, field and city come from the supervisor's
profile (asked only when there are several, or the city is unknown); the season is the first one
open (`season.seasons_open`), one student at a time, English enough; prerequisites and a backup
contact are optional lines on the summary. Each is a row that is not `asked`, with a `default`
that is one of its own options, so the summary edits it like any answer. Products and learning
goals are suggested from the task kinds and taken with one tap; months come in one-tap ranges.

```mermaid
stateDiagram-v2
    [*] --> type: /newtask (skipped if the supervisor offers one type)
    type --> field: (skipped with one field)
    field --> title: research: project title, description
    field --> department: clinical
    title --> activities
    department --> activities
    activities --> hours: clinical
    activities --> products: research ("use these")
    hours --> goals
    products --> goals: ("use these")
    goals --> weeks: research (clinical is 4 weeks)
    goals --> months: clinical
    weeks --> months
    months --> ethics: chart review or patient data
    ethics --> confidentiality --> summary
    months --> summary
    summary --> [*]: submit (season, capacity, language, prerequisites, backup editable here)
```
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Final

from bot.chat.engine import screens
from bot.chat.engine.form import Form, Kind, Option, Options, Preset, Question
from bot.chat.ui import Screen
from bot.core.i18n import Translator
from bot.domain import reference
from bot.domain.season import seasons_open as seasons_open  # re-exported: the flow's seasons
from bot.domain.validation import Result, clean_text, validate_short_text

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
# The product a research task kind usually ends in; a written report when none is known.
PRODUCTS_BY_ACTIVITY: Final[dict[str, str]] = {
    "data_collection": "report",
    "chart_review": "abstract",
    "literature": "report",
    "analysis": "abstract",
    "systematic_review": "abstract",
    "quality_improvement": "poster",
    "lab": "report",
}
# One-tap month ranges: the calendar months (1-12) each covers, in the season's order.
MONTH_RANGES: Final[dict[str, tuple[int, ...]]] = {
    "any": (4, 5, 6, 7, 8, 9, 10, 11, 12, 1, 2, 3),
    "spring": (4, 5, 6),
    "summer": (7, 8),
    "autumn": (9, 10, 11),
    "winter": (1, 2, 3),
}


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
    """The suggestions; the engine adds the supervisor's own goals as `#0`, `#1`..."""
    return [Option(f"@{code}", tr(f"task.goal.{code}")) for code in suggested_goals(data)]


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


def open_months(data: dict[str, Any]) -> list[str]:
    """The season's months still open for applications (none already past or too close)."""
    season = int(data.get("season") or 0)
    first = str(data.get("first_month") or "")
    return [m for m in season_months(season) if m >= first] if season else []


def _months(data: dict[str, Any], tr: Translator) -> list[Option]:
    return [Option(m, month_label(m, tr)) for m in open_months(data)]


def _month_ranges(data: dict[str, Any], tr: Translator) -> list[Preset]:
    """The ranges that still hold an open month, each with its open months only; a range
    that equals "any month" is left out."""
    months = open_months(data)
    ranges: list[Preset] = []
    for code, numbers in MONTH_RANGES.items():
        inside = tuple(m for m in months if int(m[5:]) in numbers)
        if inside and (code == "any" or inside != tuple(months)):
            ranges.append(Preset(code, tr(f"task.months.{code}"), inside))
    return ranges


def suggested_products(data: dict[str, Any]) -> list[str]:
    picked = [
        PRODUCTS_BY_ACTIVITY[a] for a in data.get("activities", []) if a in PRODUCTS_BY_ACTIVITY
    ]
    return [p for p in PRODUCTS if p in (picked or ["report"])]


def _use_products(data: dict[str, Any], tr: Translator) -> list[Preset]:
    chosen = suggested_products(data)
    names = ", ".join(tr(f"task.product.{p}") for p in chosen)
    return [Preset("use", tr("task.use_these", names=names), tuple(chosen))]


def _use_goals(data: dict[str, Any], tr: Translator) -> list[Preset]:
    chosen = tuple(f"@{code}" for code in suggested_goals(data)[:MAX_GOALS])
    return [Preset("use", tr("task.goals.use"), chosen)]


def _goals_text(data: dict[str, Any], tr: Translator) -> str:
    listed = "\n".join(f"• {tr(f'task.goal.{code}')}" for code in suggested_goals(data)[:MAX_GOALS])
    return tr("task.goals.ask", goals=listed)


def _capacity(data: dict[str, Any], tr: Translator) -> list[Option]:
    return [Option(str(n), str(n)) for n in (1, 2, 3)]


def _yes(code: str) -> bool:
    return code == "yes"


def _yes_code(value: Any) -> str:
    return "yes" if value else "no"


def _type_changed(data: dict[str, Any], new: Any) -> None:
    """Activities, products and goals belong to a type; a clinical exchange is four weeks."""
    for key in ("activities", "activities_other", "products", "learning_goals"):
        data.pop(key, None)
    data["weeks"] = 4 if new == "clinical" else data.get("weeks")


def _season_changed(data: dict[str, Any], new: Any) -> None:
    data["months"] = []  # months belong to a season


def _type_label(data: dict[str, Any], tr: Translator) -> str:
    return tr(f"type.{data['exchange_type']}") if data.get("exchange_type") else ""


def _field_label(data: dict[str, Any], tr: Translator) -> str:
    value = data.get("field")
    if not value:
        return ""
    known = reference.field(str(value))
    return known.name(tr.language) if known else str(value)


def _goals_label(data: dict[str, Any], tr: Translator) -> str:
    return "; ".join(goal_text(g, tr) for g in data.get("learning_goals", []))


def _weeks_label(data: dict[str, Any], tr: Translator) -> str:
    return tr("task.weeks.n", weeks=data["weeks"]) if data.get("weeks") else ""


def _season_label(data: dict[str, Any], tr: Translator) -> str:
    value = data.get("season")
    return f"{value}/{(int(value) + 1) % 100:02d}" if value else ""


def _months_label(data: dict[str, Any], tr: Translator) -> str:
    return ", ".join(month_label(m, tr) for m in sorted(data.get("months", [])))


def _first_season(data: dict[str, Any]) -> int | None:
    offered = data.get("offered_seasons") or []
    return int(offered[0]) if offered else None


def _profile_city(data: dict[str, Any]) -> bool:
    return bool(data.get("profile_city"))


# ---- the questions -----------------------------------------------------------------------------

QUESTIONS: Final[tuple[Question, ...]] = (
    Question(
        TStep.TYPE,
        "exchange_type",
        Kind.CHOICE,
        _types,
        when=lambda d: len(d.get("offered_types", [])) > 1,
        branches=True,
        changed=_type_changed,
        label=_type_label,
        on_card=True,
    ),
    Question(
        TStep.FIELD,
        "field",
        Kind.CHOICE,
        _fields,
        when=lambda d: len(d.get("offered_fields", [])) > 1,
        label=_field_label,
        on_card=True,
    ),
    Question(TStep.TITLE, "title", Kind.TEXT, parse=validate_short_text, when=_research),
    Question(
        TStep.DESCRIPTION, "description", Kind.TEXT, parse=validate_description, when=_research
    ),
    Question(TStep.DEPARTMENT, "department", Kind.TEXT, parse=validate_short_text, when=_clinical),
    # The profile's city; asked only when the profile's is not one the bot knows.
    Question(TStep.CITY, "city", Kind.CHOICE, _cities, asked=lambda d: not _profile_city(d)),
    Question(
        TStep.ACTIVITIES,
        "activities",
        Kind.MULTI,
        _activities,
        other=TStep.ACTIVITIES_OTHER,
        branches=True,
    ),
    Question(
        TStep.ACTIVITIES_OTHER,
        "activities_other",
        Kind.TEXT,
        parse=validate_short_text,
        parent=TStep.ACTIVITIES,
    ),
    Question(TStep.HOURS, "daily_hours", Kind.CHOICE, _coded("task.hours", HOURS), when=_clinical),
    Question(
        TStep.PRODUCTS,
        "products",
        Kind.MULTI,
        _coded("task.product", PRODUCTS),
        when=_research,
        presets=_use_products,
        ordered=True,
    ),
    Question(
        TStep.GOALS,
        "learning_goals",
        Kind.MULTI,
        _goals,
        maximum=MAX_GOALS,
        other=TStep.GOAL_TEXT,
        label=_goals_label,
        text=_goals_text,
        presets=_use_goals,
        width=1,
        full="task.goals.full",
    ),
    Question(
        TStep.GOAL_TEXT,
        "learning_goals",
        Kind.TEXT,
        parse=validate_goal,
        parent=TStep.GOALS,
    ),
    Question(
        TStep.WEEKS, "weeks", Kind.CHOICE, _weeks, when=_research, store=int, label=_weeks_label
    ),
    # The first season still open; another is chosen on the summary.
    Question(
        TStep.SEASON,
        "season",
        Kind.CHOICE,
        _seasons,
        asked=lambda d: False,
        default=_first_season,
        store=int,
        changed=_season_changed,
        label=_season_label,
    ),
    Question(
        TStep.MONTHS,
        "months",
        Kind.MULTI,
        _months,
        label=_months_label,
        width=3,
        presets=_month_ranges,
        ordered=True,
    ),
    Question(
        TStep.CAPACITY,
        "capacity",
        Kind.CHOICE,
        _capacity,
        asked=lambda d: False,
        default=lambda d: 1,
        store=int,
        width=4,
    ),
    Question(
        TStep.LANGUAGE,
        "english_ok",
        Kind.CHOICE,
        _coded("task.lang", ("yes", "no")),
        asked=lambda d: False,
        default=lambda d: True,
        store=_yes,
        code=_yes_code,
    ),
    Question(
        TStep.SKILLS,
        "skills",
        Kind.TEXT,
        parse=validate_short_text,
        optional=True,
        asked=lambda d: False,
        default=lambda d: None,
    ),
    Question(
        TStep.ETHICS,
        "ethics_status",
        Kind.CHOICE,
        _coded("task.ethics", ETHICS),
        when=_patient_data,
    ),
    Question(
        TStep.CONFIDENTIALITY,
        "confidentiality",
        Kind.CHOICE,
        _coded("task.conf", ("yes", "no")),
        when=_patient_data,
        store=_yes,
        code=_yes_code,
    ),
    Question(
        TStep.BACKUP,
        "backup_contact",
        Kind.TEXT,
        parse=validate_short_text,
        optional=True,
        asked=lambda d: False,
        default=lambda d: None,
    ),
    Question(TStep.SUMMARY, "", Kind.SUMMARY),
)
FORM: Final = Form(
    "task",
    SCOPE,
    QUESTIONS,
    progress_id="task.progress",
    progress_open_id="task.progress_open",
    incomplete="task.summary.incomplete",
)


def screen(step: str, data: dict[str, Any], tr: Translator, *, notice: str | None = None) -> Screen:
    return screens.screen(FORM, step, data, tr, notice=notice)


def card(data: dict[str, Any], tr: Translator) -> str:
    """All answers as an HTML card (a task's view, the coordinators' review)."""
    return screens.card(FORM, data, tr)


@dataclass
class Context:
    """What a new task starts from: the supervisor's types and fields, and the open seasons."""

    offered_types: list[str]
    offered_fields: list[str]
    city: str
    seasons: list[int] = field(default_factory=list)
    field_fallback: str | None = None  # the supervisor's own field text, when no code fits
    first_month: str = ""  # the first month still open for applications ("YYYY-MM")

    def initial_data(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "offered_types": self.offered_types,
            "offered_fields": self.offered_fields,
            "offered_seasons": self.seasons,
            "first_month": self.first_month,
            "city": self.city if reference.city(self.city) else None,
            "profile_city": bool(reference.city(self.city)),
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
