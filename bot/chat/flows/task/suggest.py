"""What the task flow suggests, so a supervisor taps once instead of choosing: the products and
learning goals that usually go with the chosen task kinds, and the months still open for
applications with one-tap ranges. Pure: no I/O."""

from __future__ import annotations

from typing import Any, Final

from bot.chat.engine.rows import Option, Preset
from bot.core.i18n import Translator

PRODUCTS: Final = ("report", "abstract", "poster", "talk")
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


def suggested_goals(data: dict[str, Any]) -> list[str]:
    kind = str(data.get("exchange_type") or "clinical")
    picked = [GOALS_BY_ACTIVITY[a] for a in data.get("activities", []) if a in GOALS_BY_ACTIVITY]
    return list(dict.fromkeys([*picked, *GENERAL_GOALS.get(kind, ())]))


def goal_text(goal: str, tr: Translator) -> str:
    """A goal is a suggestion code (`@code`) or the supervisor's own words."""
    return tr(f"task.goal.{goal[1:]}") if goal.startswith("@") else goal


def goals(data: dict[str, Any], tr: Translator) -> list[Option]:
    """The suggestions; the engine adds the supervisor's own goals as `#0`, `#1`..."""
    return [Option(f"@{code}", tr(f"task.goal.{code}")) for code in suggested_goals(data)]


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


def months(data: dict[str, Any], tr: Translator) -> list[Option]:
    return [Option(m, month_label(m, tr)) for m in open_months(data)]


def month_ranges(data: dict[str, Any], tr: Translator) -> list[Preset]:
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


def use_products(data: dict[str, Any], tr: Translator) -> list[Preset]:
    chosen = suggested_products(data)
    names = ", ".join(tr(f"task.product.{p}") for p in chosen)
    return [Preset("use", tr("task.use_these", names=names), tuple(chosen))]


def use_goals(data: dict[str, Any], tr: Translator) -> list[Preset]:
    chosen = tuple(f"@{code}" for code in suggested_goals(data)[:MAX_GOALS])
    return [Preset("use", tr("task.goals.use"), chosen)]


def goals_text(data: dict[str, Any], tr: Translator) -> str:
    listed = "\n".join(f"• {tr(f'task.goal.{code}')}" for code in suggested_goals(data)[:MAX_GOALS])
    return tr("task.goals.ask", goals=listed)
