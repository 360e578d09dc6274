"""The task questions as rows of the flow engine (`bot.chat.engine`). Pure: no I/O.

Every question is a `Question`: where the answer goes, whether it is typed text, one choice or
several toggles, which options it offers and when it applies. The engine derives the order, back,
progress, the summary and its edits, so adding a question is adding a row.

Nothing the bot already knows is asked: the type, field and city come from the supervisor's
profile (asked only when there are several, or the city is unknown); the season is the first one
open (`season.seasons_open`), one student at a time, English enough; prerequisites and a backup
contact are optional lines on the summary, and so are an English title and description for a
supervisor writing in Norwegian (the IFMSA portal lists projects in English). Each is a row
that is not `asked`, with a `default` that is one of its own options, so the summary edits it
like any answer. Products and learning
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
    summary --> [*]: submit (season, capacity, language, prerequisites, backup, English editable)
```
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Final

from markupsafe import Markup

from bot.chat.engine import screens
from bot.chat.engine.form import Form
from bot.chat.engine.rows import Data, Extra, Kind, Question
from bot.chat.flows.task import choices, starts, suggest
from bot.chat.flows.task.choices import CLINICAL_ACTIVITIES as CLINICAL_ACTIVITIES
from bot.chat.flows.task.choices import ETHICS as ETHICS
from bot.chat.flows.task.choices import HOURS as HOURS
from bot.chat.flows.task.choices import PATIENT_DATA_ACTIVITIES as PATIENT_DATA_ACTIVITIES
from bot.chat.flows.task.choices import RESEARCH_ACTIVITIES as RESEARCH_ACTIVITIES
from bot.chat.flows.task.choices import validate_description as validate_description
from bot.chat.flows.task.choices import validate_goal as validate_goal
from bot.chat.flows.task.suggest import GENERAL_GOALS as GENERAL_GOALS
from bot.chat.flows.task.suggest import GOALS_BY_ACTIVITY as GOALS_BY_ACTIVITY
from bot.chat.flows.task.suggest import MAX_GOALS as MAX_GOALS
from bot.chat.flows.task.suggest import PRODUCTS as PRODUCTS
from bot.chat.flows.task.suggest import season_months as season_months
from bot.chat.flows.task.suggest import suggested_goals as suggested_goals
from bot.chat.ui import Screen
from bot.core.i18n import Translator
from bot.domain import reference
from bot.domain.season import seasons_open as seasons_open  # re-exported: the flow's seasons
from bot.domain.validation import validate_short_text

SCOPE: Final = "t"


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
    TITLE_EN = "title_en"
    DESCRIPTION_EN = "desc_en"
    SUMMARY = "summary"


# The parts a coordinator can name when returning a task: the main sections of a task.
RETURN_PARTS: Final = (
    TStep.TITLE,
    TStep.DESCRIPTION,
    TStep.DEPARTMENT,
    TStep.ACTIVITIES,
    TStep.GOALS,
    TStep.MONTHS,
)


def return_parts(data: dict[str, Any]) -> list[str]:
    """The parts that apply to this task (a clinical task has a department, no description)."""
    return [str(p) for p in RETURN_PARTS if FORM[p].when(data)]


def part_label(part: str, tr: Translator) -> str:
    return tr(FORM.edit_label(FORM[part]))


def _focus(data: dict[str, Any], tr: Translator) -> tuple[str, str] | None:
    """A returned task's summary offers the part the coordinator named first."""
    part = data.get("return_part")
    if part not in return_parts(data):
        return None
    return tr("task.summary.edit_part", part=part_label(str(part), tr)), str(part)


def _summary_text(data: dict[str, Any], tr: Translator) -> str:
    """The answers to confirm; a returned task's reason on top, where it is read first."""
    text = tr("task.summary.ask", card=Markup(card(data, tr)))
    if reason := data.get("return_reason"):
        return tr("task.summary.returned", reason=reason) + "\n\n" + text
    return text


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
        choices.types,
        when=lambda d: len(d.get("offered_types", [])) > 1,
        asked=_given("exchange_type"),
        branches=True,
        changed=choices.type_changed,
        label=choices.type_label,
        on_card=True,
        extra=_starts_on(TStep.TYPE),
        actions=START_ACTIONS,
    ),
    Question(
        TStep.FIELD,
        "field",
        Kind.CHOICE,
        choices.fields,
        when=lambda d: len(d.get("offered_fields", [])) > 1,
        asked=_given("field"),
        label=choices.field_label,
        on_card=True,
        extra=_starts_on(TStep.FIELD),
        actions=START_ACTIONS,
    ),
    Question(
        TStep.TITLE,
        "title",
        Kind.TEXT,
        parse=validate_short_text,
        when=choices.research,
        extra=_starts_on(TStep.TITLE),
        actions=START_ACTIONS,
    ),
    Question(
        TStep.DESCRIPTION,
        "description",
        Kind.TEXT,
        parse=validate_description,
        when=choices.research,
    ),
    Question(
        TStep.DEPARTMENT,
        "department",
        Kind.TEXT,
        parse=validate_short_text,
        when=choices.clinical,
        extra=_starts_on(TStep.DEPARTMENT),
        actions=START_ACTIONS,
    ),
    # The profile's city; asked only when the profile's is not one the bot knows.
    Question(
        TStep.CITY,
        "city",
        Kind.CHOICE,
        choices.cities,
        asked=lambda d: not choices.profile_city(d) and _given("city")(d),
    ),
    Question(
        TStep.ACTIVITIES,
        "activities",
        Kind.MULTI,
        choices.activities,
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
        choices.coded("task.hours", HOURS),
        when=choices.clinical,
        asked=_given("daily_hours"),
    ),
    Question(
        TStep.PRODUCTS,
        "products",
        Kind.MULTI,
        choices.coded("task.product", PRODUCTS),
        when=choices.research,
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
        label=choices.goals_label,
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
        choices.weeks,
        when=choices.research,
        asked=_given("weeks"),
        store=int,
        label=choices.weeks_label,
    ),
    # The first season still open; another is chosen on the summary.
    Question(
        TStep.SEASON,
        "season",
        Kind.CHOICE,
        choices.seasons,
        asked=lambda d: False,
        default=choices.first_season,
        store=int,
        changed=choices.season_changed,
        label=choices.season_label,
    ),
    Question(
        TStep.MONTHS,
        "months",
        Kind.MULTI,
        suggest.months,
        asked=_given("months"),
        label=choices.months_label,
        width=3,
        presets=suggest.month_ranges,
        ordered=True,
    ),
    Question(
        TStep.CAPACITY,
        "capacity",
        Kind.CHOICE,
        choices.capacity,
        asked=lambda d: False,
        default=lambda d: 1,
        store=int,
        width=4,
    ),
    Question(
        TStep.LANGUAGE,
        "english_ok",
        Kind.CHOICE,
        choices.coded("task.lang", ("yes", "no")),
        asked=lambda d: False,
        default=lambda d: True,
        store=choices.yes,
        code=choices.yes_code,
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
        choices.coded("task.ethics", ETHICS),
        when=choices.patient_data,
        asked=_given("ethics_status"),
    ),
    Question(
        TStep.CONFIDENTIALITY,
        "confidentiality",
        Kind.CHOICE,
        choices.coded("task.conf", ("yes", "no")),
        when=choices.patient_data,
        asked=_given("confidentiality"),
        store=choices.yes,
        code=choices.yes_code,
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
    # For the IFMSA portal, which lists projects in English: optional lines on the summary.
    Question(
        TStep.TITLE_EN,
        "title_en",
        Kind.TEXT,
        parse=validate_short_text,
        optional=True,
        when=choices.in_english,
        asked=lambda d: False,
        default=lambda d: None,
    ),
    Question(
        TStep.DESCRIPTION_EN,
        "description_en",
        Kind.TEXT,
        parse=validate_description,
        optional=True,
        when=choices.in_english,
        asked=lambda d: False,
        default=lambda d: None,
    ),
    Question(TStep.SUMMARY, "", Kind.SUMMARY, text=_summary_text, focus=_focus),
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
    writes_norwegian: bool = False  # offered English lines for the IFMSA portal

    def initial_data(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "offered_types": self.offered_types,
            "offered_fields": self.offered_fields,
            "offered_seasons": self.seasons,
            "first_month": self.first_month,
            "city": self.city if reference.city(self.city) else None,
            "profile_city": bool(reference.city(self.city)),
            "learning_goals": [],
            "writes_norwegian": self.writes_norwegian,
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
