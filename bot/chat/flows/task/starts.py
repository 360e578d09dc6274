"""Where a new task can start instead of a blank page: a template (a typical task of its kind) or
a task of the supervisor's from an earlier season. Either fills every answer but the project's
title and description (a clinical task's department), so the task is the entry tap, the start,
the names and "Submit".

A template is a row of `TEMPLATES`: its exchange type and task kinds; the products and learning
goals are the ones the flow would suggest for those kinds (`suggest`), the months every month
still open, so each value is one of the options its question offers. A copy is the earlier
task's answers moved to the season being defined, as "Copy to next season" in /tasks does
(`moved`); the months that fall before the first open month are dropped (asked again if none
remain).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from bot.chat.engine.context import Ctx
from bot.chat.engine.rows import Action, Applied, Data, empty
from bot.chat.flows.task import suggest
from bot.core.i18n import Translator
from storage import repository, tasks

STARTED: Final = "start"  # data key: the template code or "copy"
GIVEN: Final = "given"  # data key: the answers the start filled, not asked again (a fixed path)
COPIES: Final = "copies"  # data key: [task id, title, season] of earlier tasks, newest first
MAX_COPIES: Final = 3
# What a copy keeps of the earlier task: everything but its names and what ties it to that task.
NOT_COPIED: Final = frozenset({"title", "description", "department", "season", "months"})
TEMPLATE_KEYS: Final = (
    "exchange_type", "activities", "daily_hours", "weeks", "ethics_status", "confidentiality",
    "products", "learning_goals", "months",
)  # fmt: skip


@dataclass(frozen=True)
class Template:
    code: str
    exchange_type: str
    activities: tuple[str, ...]
    weeks: int = 4
    daily_hours: str | None = None  # clinical
    ethics_status: str | None = None  # patient data: the project's approval
    confidentiality: bool | None = None


TEMPLATES: Final[tuple[Template, ...]] = (
    # An existing project's approval and confidentiality cover the student's chart review.
    Template(
        "chart", "research", ("chart_review",), ethics_status="approved", confidentiality=True
    ),
    Template("literature", "research", ("literature",)),
    Template("analysis", "research", ("analysis",)),
    Template("ward", "clinical", ("ward_rounds", "outpatient"), daily_hours="full"),
)


def template(code: str) -> Template | None:
    return next((t for t in TEMPLATES if t.code == code), None)


def offered(data: Data) -> list[Template]:
    """The templates of the types the supervisor offers (a chosen type narrows them)."""
    chosen = data.get("exchange_type")
    types = [chosen] if chosen else list(data.get("offered_types", []))
    return [t for t in TEMPLATES if t.exchange_type in types]


def season_label(season: int) -> str:
    return f"{season}/{(season + 1) % 100:02d}"


def buttons(data: Data, tr: Translator) -> list[list[tuple[str, str]]]:
    """One button per template and per earlier task to copy, as (label, action) rows."""
    rows = [[(tr(f"task.template.{t.code}"), f"tpl_{t.code}")] for t in offered(data)]
    for i, earlier in enumerate(data.get(COPIES, [])[:MAX_COPIES]):
        rows.append([(_copy_label(earlier, tr), f"copy{i}")])
    return rows


def _copy_label(earlier: list[Any], tr: Translator) -> str:
    _, title, season = earlier
    return tr("task.copy_from", title=str(title)[:40], season=season_label(int(season)))


def apply_template(data: Data, chosen: Template) -> None:
    """The template's answers, as the flow would suggest them for its task kinds."""
    data.update(
        exchange_type=chosen.exchange_type,
        activities=list(chosen.activities),
        daily_hours=chosen.daily_hours,
        weeks=chosen.weeks,
        ethics_status=chosen.ethics_status,
        confidentiality=chosen.confidentiality,
    )
    if chosen.exchange_type == "research":
        data["products"] = suggest.suggested_products(data)
    goals = suggest.suggested_goals(data)[: suggest.MAX_GOALS]
    data["learning_goals"] = [f"@{code}" for code in goals]
    data["months"] = suggest.open_months(data)
    _given(data, chosen.code, TEMPLATE_KEYS)


def moved(data: dict[str, Any], season: int) -> dict[str, Any]:
    """A task's answers in another season: the same months, that many years later."""
    years = season - int(data["season"])
    months = [f"{int(m[:4]) + years}{m[4:]}" for m in data.get("months", [])]
    return {**data, "season": season, "months": months}


def apply_copy(data: Data, earlier: dict[str, Any]) -> None:
    """The earlier task's answers (not its names) in the season being defined."""
    season = int(data.get("season") or earlier["season"])
    copied = moved(earlier, season)
    data.update({k: v for k, v in copied.items() if k not in NOT_COPIED})
    first = str(data.get("first_month") or "")
    data["months"] = [m for m in copied["months"] if m >= first]
    _given(data, "copy", [*copied, "months"])


def _given(data: Data, start: str, keys: Any) -> None:
    data[STARTED] = start
    kept = {k for k in keys if k not in NOT_COPIED or k == "months"}
    data[GIVEN] = sorted(k for k in kept if not empty(data.get(k)))


def started(data: Data) -> bool:
    return bool(data.get(STARTED))


def unless_given(key: str) -> Callable[[Data], bool]:
    """A row's `asked`: not when the start filled its answer."""

    def asked(data: Data) -> bool:
        return key not in data.get(GIVEN, [])

    return asked


# ---- the buttons' actions ----------------------------------------------------------------------

Next = Callable[[Data], str]  # the first question still to answer


def _template_action(chosen: Template, following: Next) -> Action:
    async def act(ctx: Ctx, value: str) -> Applied:
        if started(ctx.conv.data) or chosen not in offered(ctx.conv.data):
            return Applied(ctx.conv.step, notice="btn.stale")
        apply_template(ctx.conv.data, chosen)
        answer = ctx.tr(f"task.template.{chosen.code}")
        return Applied(following(ctx.conv.data), answer=answer, accepted=True)

    return act


def _copy_action(index: int, following: Next) -> Action:
    async def act(ctx: Ctx, value: str) -> Applied:
        data = ctx.conv.data
        listed = data.get(COPIES, [])
        supervisor = await repository.get_supervisor(ctx.session, ctx.conv.telegram_user_id)
        earlier = (
            await tasks.get_task(ctx.session, int(listed[index][0]), supervisor.id or 0)
            if supervisor is not None and index < len(listed) and not started(data)
            else None
        )
        if earlier is None:
            return Applied(ctx.conv.step, notice="btn.stale")
        apply_copy(data, tasks.draft_values(earlier))
        answer = _copy_label(listed[index], ctx.tr)
        return Applied(following(data), answer=answer, accepted=True)

    return act


def actions(following: Next) -> dict[str, Action]:
    """The start buttons' actions; `following` finds the question to ask next."""
    found = {f"tpl_{t.code}": _template_action(t, following) for t in TEMPLATES}
    found.update({f"copy{i}": _copy_action(i, following) for i in range(MAX_COPIES)})
    return found
