"""What the task questions offer and how their answers read: the option lists, the labels on
the summary, and the small rules (clinical or research, patient data, English wanted) that the
rows of `bot.chat.flows.task.steps` point to. Pure: no I/O."""

from __future__ import annotations

from typing import Any, Final

from bot.chat.engine.rows import Option, Options
from bot.chat.flows.task.suggest import goal_text, month_label
from bot.core.i18n import Translator
from bot.domain import reference
from bot.domain.validation import Result, clean_text

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


def clinical(data: dict[str, Any]) -> bool:
    return data.get("exchange_type") == "clinical"


def research(data: dict[str, Any]) -> bool:
    return data.get("exchange_type") == "research"


def patient_data(data: dict[str, Any]) -> bool:
    return bool(PATIENT_DATA_ACTIVITIES & set(data.get("activities", [])))


def in_english(data: dict[str, Any]) -> bool:
    """The English lines for the IFMSA portal: offered to a supervisor writing in Norwegian,
    and shown wherever one was given (a coordinator may add them to anyone's task)."""
    return bool(data.get("writes_norwegian") or data.get("title_en") or data.get("description_en"))


def validate_description(raw: str) -> Result:
    return clean_text(raw.replace("\n", " "), max_length=600, min_length=20)


def validate_goal(raw: str) -> Result:
    return clean_text(raw, max_length=200, min_length=5)


# ---- options -----------------------------------------------------------------------------------


def types(data: dict[str, Any], tr: Translator) -> list[Option]:
    return [Option(t, tr(f"type.{t}")) for t in data.get("offered_types", reference.EXCHANGE_TYPES)]


def fields(data: dict[str, Any], tr: Translator) -> list[Option]:
    return [
        Option(code, f.name(tr.language))
        for code in data.get("offered_fields", [])
        if (f := reference.field(code))
    ]


def cities(data: dict[str, Any], tr: Translator) -> list[Option]:
    return [Option(c.code, c.name(tr.language)) for c in reference.cities()]


def activities(data: dict[str, Any], tr: Translator) -> list[Option]:
    codes = CLINICAL_ACTIVITIES if clinical(data) else RESEARCH_ACTIVITIES
    return [Option(code, tr(f"task.act.{code}")) for code in codes]


def coded(prefix: str, codes: tuple[str, ...]) -> Options:
    def options(data: dict[str, Any], tr: Translator) -> list[Option]:
        return [Option(code, tr(f"{prefix}.{code}")) for code in codes]

    return options


def weeks(data: dict[str, Any], tr: Translator) -> list[Option]:
    return [Option("4", tr("task.weeks.four")), Option("8", tr("task.weeks.eight"))]


def seasons(data: dict[str, Any], tr: Translator) -> list[Option]:
    return [Option(str(s), f"{s}/{(s + 1) % 100:02d}") for s in data.get("offered_seasons", [])]


def capacity(data: dict[str, Any], tr: Translator) -> list[Option]:
    return [Option(str(n), str(n)) for n in (1, 2, 3)]


def yes(code: str) -> bool:
    return code == "yes"


def yes_code(value: Any) -> str:
    return "yes" if value else "no"


def type_changed(data: dict[str, Any], new: Any) -> None:
    """Activities, products and goals belong to a type; a clinical exchange is four weeks."""
    for key in ("activities", "activities_other", "products", "learning_goals"):
        data.pop(key, None)
    data["weeks"] = 4 if new == "clinical" else data.get("weeks")


def season_changed(data: dict[str, Any], new: Any) -> None:
    data["months"] = []  # months belong to a season


def type_label(data: dict[str, Any], tr: Translator) -> str:
    return tr(f"type.{data['exchange_type']}") if data.get("exchange_type") else ""


def field_label(data: dict[str, Any], tr: Translator) -> str:
    value = data.get("field")
    if not value:
        return ""
    known = reference.field(str(value))
    return known.name(tr.language) if known else str(value)


def goals_label(data: dict[str, Any], tr: Translator) -> str:
    return "; ".join(goal_text(g, tr) for g in data.get("learning_goals", []))


def weeks_label(data: dict[str, Any], tr: Translator) -> str:
    return tr("task.weeks.n", weeks=data["weeks"]) if data.get("weeks") else ""


def season_label(data: dict[str, Any], tr: Translator) -> str:
    value = data.get("season")
    return f"{value}/{(int(value) + 1) % 100:02d}" if value else ""


def months_label(data: dict[str, Any], tr: Translator) -> str:
    return ", ".join(month_label(m, tr) for m in sorted(data.get("months", [])))


def first_season(data: dict[str, Any]) -> int | None:
    offered = data.get("offered_seasons") or []
    return int(offered[0]) if offered else None


def profile_city(data: dict[str, Any]) -> bool:
    return bool(data.get("profile_city"))
