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
from bot.chat.engine.form import Data, Extra, Form, Kind, Option, Options, Question
from bot.chat.flows.task import starts, suggest
from bot.chat.flows.task.suggest import GENERAL_GOALS as GENERAL_GOALS
from bot.chat.flows.task.suggest import GOALS_BY_ACTIVITY as GOALS_BY_ACTIVITY
from bot.chat.flows.task.suggest import MAX_GOALS as MAX_GOALS
from bot.chat.flows.task.suggest import PRODUCTS as PRODUCTS
from bot.chat.flows.task.suggest import goal_text, month_label
from bot.chat.flows.task.suggest import season_months as season_months
from bot.chat.flows.task.suggest import suggested_goals as suggested_goals
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
HOURS: Final = ("full", "half", "shifts")
ETHICS: Final = ("approved", "pending", "exempt")
PATIENT_DATA_ACTIVITIES: Final = frozenset({"chart_review", "data_collection"})


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


def _weeks(data: dict[str, Any], tr: Translator) -> list[Option]:
    return [Option("4", tr("task.weeks.four")), Option("8", tr("task.weeks.eight"))]


def _seasons(data: dict[str, Any], tr: Translator) -> list[Option]:
    return [Option(str(s), f"{s}/{(s + 1) % 100:02d}") for s in data.get("offered_seasons", [])]


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


def _unanswered(data: Data) -> str:
    """After a template or a copy: the first question it left open (the title)."""
    return next(
        (s for s in FORM.mains if FORM.asks(s, data) and FORM.count(FORM[s], data) == 0),
        FORM.summary,
    )


def _starts_on(step: str) -> Extra:
    """The templates and the earlier tasks to copy, offered on the flow's first question."""

    def extra(data: Data, tr: Translator) -> list[list[tuple[str, str]]]:
        if starts.started(data) or FORM.first(data) != step or FORM.count(FORM[step], data):
            return []
        return starts.buttons(data, tr)

    return extra


START_ACTIONS: Final = starts.actions(_unanswered)
_given = starts.unless_given


# ---- the questions -----------------------------------------------------------------------------

QUESTIONS: Final[tuple[Question, ...]] = (
    Question(
        TStep.TYPE,
        "exchange_type",
        Kind.CHOICE,
        _types,
        when=lambda d: len(d.get("offered_types", [])) > 1,
        asked=_given("exchange_type"),
        branches=True,
        changed=_type_changed,
        label=_type_label,
        on_card=True,
        extra=_starts_on(TStep.TYPE),
        actions=START_ACTIONS,
    ),
    Question(
        TStep.FIELD,
        "field",
        Kind.CHOICE,
        _fields,
        when=lambda d: len(d.get("offered_fields", [])) > 1,
        asked=_given("field"),
        label=_field_label,
        on_card=True,
        extra=_starts_on(TStep.FIELD),
        actions=START_ACTIONS,
    ),
    Question(
        TStep.TITLE,
        "title",
        Kind.TEXT,
        parse=validate_short_text,
        when=_research,
        extra=_starts_on(TStep.TITLE),
        actions=START_ACTIONS,
    ),
    Question(
        TStep.DESCRIPTION, "description", Kind.TEXT, parse=validate_description, when=_research
    ),
    Question(
        TStep.DEPARTMENT,
        "department",
        Kind.TEXT,
        parse=validate_short_text,
        when=_clinical,
        extra=_starts_on(TStep.DEPARTMENT),
        actions=START_ACTIONS,
    ),
    # The profile's city; asked only when the profile's is not one the bot knows.
    Question(
        TStep.CITY,
        "city",
        Kind.CHOICE,
        _cities,
        asked=lambda d: not _profile_city(d) and _given("city")(d),
    ),
    Question(
        TStep.ACTIVITIES,
        "activities",
        Kind.MULTI,
        _activities,
        asked=_given("activities"),
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
    Question(
        TStep.HOURS,
        "daily_hours",
        Kind.CHOICE,
        _coded("task.hours", HOURS),
        when=_clinical,
        asked=_given("daily_hours"),
    ),
    Question(
        TStep.PRODUCTS,
        "products",
        Kind.MULTI,
        _coded("task.product", PRODUCTS),
        when=_research,
        asked=_given("products"),
        presets=suggest.use_products,
        ordered=True,
    ),
    Question(
        TStep.GOALS,
        "learning_goals",
        Kind.MULTI,
        suggest.goals,
        asked=_given("learning_goals"),
        maximum=MAX_GOALS,
        other=TStep.GOAL_TEXT,
        label=_goals_label,
        text=suggest.goals_text,
        presets=suggest.use_goals,
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
        TStep.WEEKS,
        "weeks",
        Kind.CHOICE,
        _weeks,
        when=_research,
        asked=_given("weeks"),
        store=int,
        label=_weeks_label,
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
        suggest.months,
        asked=_given("months"),
        label=_months_label,
        width=3,
        presets=suggest.month_ranges,
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
        asked=_given("ethics_status"),
    ),
    Question(
        TStep.CONFIDENTIALITY,
        "confidentiality",
        Kind.CHOICE,
        _coded("task.conf", ("yes", "no")),
        when=_patient_data,
        asked=_given("confidentiality"),
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
