"""A coordinator adds or edits a task's English title and description while reviewing it ("Add
English" on its card): the IFMSA exchange portal lists projects in English, and a supervisor who
wrote in Norwegian may have left them out. Two typed questions on the flow engine (flow
`coord_english`), each skippable or kept as it is; then the card is shown again, with the English
on it, to approve or return. Only a task still waiting for review and unchanged since its card
was shown takes them (a conditional update, like approving)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Final

from bot.chat.engine.context import Ctx
from bot.chat.engine.form import Form
from bot.chat.engine.rows import Data, Kind, Question
from bot.chat.flows.coordinator.access import (
    ENGLISH_FLOW,
    ENGLISH_SCOPE,
    ENGLISH_STEP,
    STOP,
    cancel_row,
    reviewer_of,
    small_flow,
)
from bot.chat.flows.coordinator.card import drop_buttons, task_screen
from bot.chat.flows.task.steps import validate_description
from bot.chat.turn import Turn
from bot.core.i18n import Translator
from bot.domain.validation import validate_short_text
from storage import coordinators as store
from storage import repository, tasks
from storage.models import Conversation, Supervisor, Task, TaskStatus

DESCRIPTION_STEP: Final = "e_desc"


def _ask_title(data: Data, tr: Translator) -> str:
    return tr("coord.english.e_title.ask", title=data.get("title", ""))


def _ask_description(data: Data, tr: Translator) -> str:
    return tr("coord.english.e_desc.ask", description=data.get("description", ""))


FORM: Final = Form(
    catalog="coord.english",
    scope=ENGLISH_SCOPE,
    questions=(
        Question(
            ENGLISH_STEP,
            "title_en",
            Kind.TEXT,
            parse=validate_short_text,
            optional=True,
            text=_ask_title,
            editable=False,
            extra=cancel_row,
            actions=STOP,
        ),
        Question(
            DESCRIPTION_STEP,
            "description_en",
            Kind.TEXT,
            parse=validate_description,
            optional=True,
            text=_ask_description,
            editable=False,
            extra=cancel_row,
            actions=STOP,
        ),
        Question("e_done", "", Kind.SUMMARY),
    ),
    progress_id=None,
    reviewed=False,  # the task's card, shown again, is the review
    go_back=False,
)


@dataclass(frozen=True)
class Added:
    found: tuple[Task, Supervisor] | None
    saved: bool


async def _save(ctx: Ctx) -> Added:
    conv, session = ctx.conv, ctx.session
    task_id = int(conv.data.get("task_id", 0))
    await repository.delete_conversation(session, conv.telegram_user_id)
    scopes = await store.coordinators_of_user(session, conv.telegram_user_id)
    found = await store.task_with_supervisor(session, task_id)
    reviewer = reviewer_of(scopes, found[0].exchange_type, found[0].city) if found else None
    saved = False
    if found is not None and reviewer is not None:
        saved = await tasks.add_english(
            session,
            task_id,
            title_en=conv.data.get("title_en") or None,
            description_en=conv.data.get("description_en") or None,
            seen=datetime.fromisoformat(str(conv.data.get("seen"))),
            now=ctx.svc.clock.now(),
        )
        if saved:
            await session.refresh(found[0])
    return Added(found, saved)


async def _saved(turn: Turn, conv: Conversation, result: Added) -> None:
    """The card again, with the English on it and buttons for this version; the old card's go."""
    tr = Translator(conv.language)
    if result.found is None:
        await turn.say(tr("coord.task.stale"))
        return
    task, supervisor = result.found
    await drop_buttons(turn, conv.data.get("card"))
    await turn.say(tr("coord.english.saved" if result.saved else "coord.english.not_saved"))
    if task.status == TaskStatus.SUBMITTED:
        await turn.show(task_screen(task, supervisor, tr))


ENGLISH: Final = small_flow(ENGLISH_FLOW, FORM, _save, _saved)
