"""A submitted task as a coordinator sees it: the card with approve, return and "Add English",
shared by /pending, the return note and the English title and description."""

from __future__ import annotations

import contextlib
from typing import Any

from telegram.error import BadRequest

from bot.chat import questions, ui
from bot.chat.flows.coordinator.access import SCOPE
from bot.chat.flows.task import steps as task_steps
from bot.chat.turn import Turn
from bot.core.i18n import Translator
from bot.domain import reference
from bot.domain.signing import Callback
from storage import tasks


def task_card(task: Any, supervisor: Any, tr: Translator) -> str:
    """What a coordinator needs to judge a task: the supervisor's own summary card, and who."""
    who = tr(
        "coord.task.supervisor",
        name=supervisor.name,
        title=_title(supervisor.title, tr),
        workplace=supervisor.workplace,
        email=supervisor.email,
    )
    submitted = task.submitted_at or task.updated_at
    return "\n".join(
        [
            task_steps.card(tasks.draft_values(task), tr),
            who,
            tr("coord.task.submitted_at", date=submitted.date().isoformat()),
        ]
    )


def _title(code: str, tr: Translator) -> str:
    return tr(f"title.{code}") if code in reference.TITLES else code


def task_screen(task: Any, supervisor: Any, tr: Translator) -> ui.Screen:
    value = questions.pair(task.id, questions.fingerprint(task))  # acts on this version only
    return ui.Screen(
        task_card(task, supervisor, tr),
        [
            [
                ui.Button(tr("coord.btn.approve"), Callback(SCOPE, "t", "ok", value)),
                ui.Button(tr("coord.btn.return"), Callback(SCOPE, "t", "ret", value)),
            ],
            [ui.Button(tr("coord.btn.english"), Callback(SCOPE, "t", "en", value))],
        ],
    )


async def drop_buttons(turn: Turn, message_id: object) -> None:
    """Take approve/return off the task's card once it was returned (best effort)."""
    if not isinstance(message_id, int):
        return
    with contextlib.suppress(BadRequest):  # too old to edit, deleted, or already without
        await turn.update.get_bot().edit_message_reply_markup(
            chat_id=turn.chat_id, message_id=message_id, reply_markup=None
        )
