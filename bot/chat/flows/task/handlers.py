"""Tasks: a registered supervisor defines a bounded student task, lists, edits, duplicates and
withdraws tasks.

`/newtask` (or "Define a task now" after registration) walks the questions in `task_steps`, each
answer stored in the `conversation` row in the same transaction that accepts it, exactly like
registration. "Submit" turns the draft into a `Task` with status `submitted`, and the
coordinators of that exchange type and city are told at once. `/tasks` lists the supervisor's
tasks with their status and season; each can be viewed, edited (back to `submitted`: a changed
task needs approval again), duplicated into the next season, or withdrawn.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

from markupsafe import Markup
from telegram import Update
from telegram.ext import ContextTypes

from bot.chat import chunks, questions, ui
from bot.chat.engine.context import Ctx
from bot.chat.engine.flow import Flow
from bot.chat.engine.rows import EDITING
from bot.chat.flows.task import changes, starts
from bot.chat.flows.task import steps as ts
from bot.chat.flows.task.steps import TStep
from bot.chat.turn import Turn
from bot.core.i18n import Translator
from bot.domain.season import first_open_month, seasons_open
from bot.domain.signing import Callback, parse_id
from bot.services import notify, offers, placements
from storage import placements as store_placements
from storage import questions as store_questions
from storage import repository, tasks
from storage.models import Conversation, Supervisor, Task, TaskStatus
from storage.placements import Placement

LIST_SCOPE: Final = "k"
PAGE_NOTE_ROOM: Final = 40  # visible characters kept free for "Page 2 of 3"


def _context(supervisor: Supervisor, today: Any) -> ts.Context:
    return ts.Context(
        offered_types=list(supervisor.exchange_types),
        offered_fields=list(supervisor.fields),
        city=supervisor.city,
        seasons=seasons_open(today),
        field_fallback=supervisor.fields_other,
        first_month=first_open_month(today),
        writes_norwegian=supervisor.language == "nb",
    )


def _draft(supervisor: Supervisor, data: dict[str, Any], step: str, now: Any) -> Conversation:
    return Conversation(
        telegram_user_id=supervisor.telegram_user_id,
        chat_id=supervisor.chat_id,
        flow=FLOW.name,
        step=step,
        language=supervisor.language,
        data=data,
        created_at=now,
        updated_at=now,
    )


async def start_new(turn: Turn) -> None:
    """Begin a task, or continue the one being defined."""
    now = turn.svc.clock.now()
    async with turn.svc.db.session() as session:
        supervisor = await repository.get_supervisor(session, turn.user.id)
        conv = await repository.get_conversation(session, turn.user.id)
        if supervisor is not None and (conv is None or conv.flow != FLOW.name):
            if conv is not None:
                await repository.delete_conversation(session, turn.user.id)
                await session.flush()
            data = _context(supervisor, now.astimezone(turn.svc.settings.tz).date()).initial_data()
            ts.FORM.settle_defaults(data)
            data[starts.COPIES] = _copies(await tasks.tasks_of(session, supervisor.id or 0), data)
            conv = _draft(supervisor, data, ts.FORM.first(data), now)
            await repository.save_conversation(session, conv, now)
        elif conv is not None:
            conv.active = True
            await repository.save_conversation(session, conv, now)
    if supervisor is None or conv is None:
        await turn.say(Translator(await _language(turn))("task.register_first"))
        return
    await turn.show(FLOW.screen(conv))


def _copies(task_list: list[Task], data: dict[str, Any]) -> list[list[Any]]:
    """The supervisor's tasks of earlier seasons a new one may copy: the newest of each title."""
    season = int(data.get("season") or 0)
    found: dict[str, list[Any]] = {}
    for task in task_list:  # the newest season first
        if task.season < season and task.status != TaskStatus.WITHDRAWN:
            found.setdefault(task.title, [task.id, task.title, task.season])
    return list(found.values())[: starts.MAX_COPIES]


async def _language(turn: Turn) -> str:
    return await turn.language()


async def cmd_newtask(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    if turn := Turn.of(update, context):
        await start_new(turn)


# ---- answering: the engine runs the questions; finishing turns the draft into a task ------------


@dataclass(frozen=True)
class Submitted:
    task: Task
    returned: dict[str, Any] | None = None  # the answers as they were returned, when they were


async def _finish(ctx: Ctx) -> Submitted | None:
    """ "Submit": the draft becomes a task waiting for approval (again, when it was edited)."""
    now = ctx.svc.clock.now()
    supervisor = await repository.get_supervisor(ctx.session, ctx.conv.telegram_user_id)
    if supervisor is None:
        return None
    task_id = ctx.conv.data.get("task_id")
    before = (
        await tasks.get_task(ctx.session, int(task_id), supervisor.id or 0) if task_id else None
    )
    returned = (
        tasks.draft_values(before)
        if before is not None and before.status == TaskStatus.RETURNED
        else None
    )
    task = await tasks.save_submitted(ctx.session, supervisor, ctx.conv.data, now)
    await repository.delete_conversation(ctx.session, ctx.conv.telegram_user_id)
    if ctx.conv.data.get("task_id"):  # changed: its waiting offers wait for approval too
        await offers.release_task(
            ctx.session, ctx.svc.settings, task.id or 0, now, keep_accepted=True
        )
    return Submitted(task, returned)


async def _submitted(turn: Turn, conv: Conversation, result: Submitted | None) -> None:
    if result is None:
        return
    task = result.task
    tr = Translator(conv.language)
    await asyncio.gather(
        turn.close(tr("task.submitted_title")), turn.say(tr("task.submitted", title=task.title))
    )
    if result.returned is not None:
        await _resubmitted(turn, task, result.returned)
        return
    await notify.tell_coordinators(
        turn.svc,
        exchange_type=task.exchange_type,
        city=task.city,
        message_id="coord.task_submitted",
        title=task.title,
        workplace=task.site,
    )


async def _resubmitted(turn: Turn, task: Task, returned: dict[str, Any]) -> None:
    """The coordinators who returned it are told it is back, and what changed, each in their
    own language."""
    now = tasks.draft_values(task)

    def notice(tr: Translator) -> ui.Screen:
        text = tr(
            "coord.task_resubmitted",
            title=task.title,
            workplace=task.site,
            changes=changes.changes(returned, now, tr),
        )
        return ui.Screen(text)

    await notify.show_coordinators(
        turn.svc, exchange_type=task.exchange_type, city=task.city, screen=notice
    )


FLOW: Final = Flow(
    name="task",
    form=ts.FORM,
    finish=_finish,
    done=_submitted,
    cancelled="cancel.task_kept",
)


# ---- the list of tasks -------------------------------------------------------------------------


def _status(task: Task, tr: Translator) -> str:
    return tr(f"task.status.{task.status.value}")


def list_screen(task_list: list[Task], tr: Translator, page: int = 0) -> ui.Screen:
    """The tasks, a line and a button each, in pages that fit one message (a supervisor who
    copies tasks season after season can have more than Telegram shows at once)."""
    new_task = [ui.Button(tr("tasks.new"), Callback(LIST_SCOPE, "-", "new"))]
    if not task_list:
        return ui.Screen(tr("tasks.none"), [new_task])
    entries = [
        (
            tr(
                "tasks.line",
                title=t.title,
                status=_status(t, tr),
                season=f"{t.season}/{(t.season + 1) % 100:02d}",
            ),
            [[ui.Button(t.title[:40], Callback(LIST_SCOPE, "-", "view", str(t.id)))]],
        )
        for t in task_list
    ]
    pages = chunks.pack(
        tr("tasks.title") + "\n",
        entries,
        limit=chunks.LIMIT - PAGE_NOTE_ROOM,
        max_buttons=chunks.MAX_BUTTONS - 3,  # "new task" and the two page buttons
    )
    page = min(max(page, 0), len(pages) - 1)
    shown = pages[page]
    if len(pages) == 1:
        return ui.Screen(shown.text, [*shown.rows, new_task])
    turn_pages = [
        ui.Button(tr(key), Callback(LIST_SCOPE, "-", "page", str(to)))
        for key, to in (("tasks.page.prev", page - 1), ("tasks.page.next", page + 1))
        if 0 <= to < len(pages)
    ]
    note = tr("tasks.page", page=page + 1, pages=len(pages))
    return ui.Screen(f"{shown.text}\n\n{note}", [*shown.rows, turn_pages, new_task])


def task_screen(task: Task, tr: Translator) -> ui.Screen:
    data = tasks.draft_values(task)
    text = tr("tasks.view", status=_status(task, tr), card=Markup(ts.card(data, tr)))
    returned = task.status == TaskStatus.RETURNED
    if returned and task.return_reason:  # on top: what to change is read first
        text = tr("tasks.returned_reason", reason=task.return_reason) + "\n\n" + text
    value = str(task.id)
    rows = []
    if returned and task.return_part in ts.return_parts(data):
        part = str(task.return_part)
        label = tr("task.summary.edit_part", part=ts.part_label(part, tr))
        to_part = Callback(LIST_SCOPE, "-", "edit", questions.pair(task.id or 0, part))
        rows.append([ui.Button(label, to_part)])
    rows += [
        [
            ui.Button(tr("tasks.edit"), Callback(LIST_SCOPE, "-", "edit", value)),
            ui.Button(tr("tasks.duplicate"), Callback(LIST_SCOPE, "-", "dup", value)),
        ]
    ]
    if task.status not in (TaskStatus.WITHDRAWN, TaskStatus.ARCHIVED):
        rows.append([ui.Button(tr("tasks.withdraw"), Callback(LIST_SCOPE, "-", "withdraw", value))])
    rows.append([ui.Button(tr("btn.back"), Callback(LIST_SCOPE, "-", "list"))])
    return ui.Screen(text, rows)


def offer_screen(tr: Translator, share: ui.Button | None = None) -> ui.Screen:
    """Right after registration: the invitation to define a first task (and `share`, a URL
    button forwarding the supervisor's referral link to a colleague)."""
    return ui.Screen(
        tr("tasks.offer"),
        [
            [ui.Button(tr("tasks.offer_yes"), Callback(LIST_SCOPE, "-", "new"))],
            [ui.Button(tr("tasks.offer_later"), Callback(LIST_SCOPE, "-", "later"))],
            *([[share]] if share is not None else []),
        ],
    )


def withdraw_screen(
    task: Task, question_id: int, tr: Translator, held: Sequence[Placement] = ()
) -> ui.Screen:
    value = questions.pair(task.id or 0, question_id)
    return ui.Screen(
        tr("tasks.withdraw_confirm", title=task.title)
        + placements.held_notice(held, tr, "tasks.withdraw_held"),
        [
            [ui.Button(tr("tasks.withdraw_yes"), Callback(LIST_SCOPE, "-", "withdraw_yes", value))],
            [ui.Button(tr("btn.back"), Callback(LIST_SCOPE, "-", "view", value))],
        ],
    )


async def _answer(session: Any, turn: Turn, tag: str, task: Task, *, yes: bool) -> bool:
    """Answer the withdraw question; False when it was answered before or, for yes, the task
    changed since it was asked."""
    question_id = questions.question_id(tag)
    question = (
        await store_questions.answer(session, question_id, turn.user.id, turn.svc.clock.now())
        if question_id is not None
        else None
    )
    if question is None or question.subject != f"task:{task.id}":
        return False
    return not yes or question.version == questions.fingerprint(task)


async def cmd_tasks(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    if turn := Turn.of(update, context):
        await show_list(turn)


async def show_list(turn: Turn) -> None:
    async with turn.svc.db.session() as session:
        supervisor = await repository.get_supervisor(session, turn.user.id)
        task_list = await tasks.tasks_of(session, supervisor.id or 0) if supervisor else []
    if supervisor is None:
        await turn.say(Translator(await _language(turn))("task.register_first"))
        return
    await turn.show(list_screen(task_list, Translator(supervisor.language)))


async def on_list_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    turn = Turn.of(update, context)
    if turn is None or turn.query is None:
        return
    cb = turn.callback
    now = turn.svc.clock.now()
    draft: Conversation | None = None
    held: list[Placement] = []
    task_id, tag = questions.split(cb.value if cb is not None else "") or (0, "")
    question_id = 0
    answered = False  # a stale withdraw question
    async with turn.svc.db.session() as session:
        supervisor = await repository.get_supervisor(session, turn.user.id)
        task = None
        if supervisor is not None and cb is not None and task_id:
            task = await tasks.get_task(session, task_id, supervisor.id or 0)
        if supervisor is not None and task is not None and cb is not None:
            if cb.action == "withdraw_yes" or (tag and cb.action == "view"):  # yes, or back
                answered = not await _answer(session, turn, tag, task, yes=cb.action != "view")
            if cb.action in ("withdraw", "withdraw_yes") and not answered:
                held = await store_placements.held(session, task_id=task.id or 0)
            if cb.action == "withdraw":
                question_id = await store_questions.ask(
                    session, turn.user.id, f"task:{task.id}", questions.fingerprint(task), now
                )
            elif answered:
                pass
            elif cb.action == "withdraw_yes" and task.status not in (
                TaskStatus.WITHDRAWN,
                TaskStatus.ARCHIVED,
            ):
                await tasks.set_status(session, task, TaskStatus.WITHDRAWN, now)
                await offers.release_task(
                    session, turn.svc.settings, task.id or 0, now, keep_accepted=False
                )
                held = await placements.given_back(session, held)
                await placements.queue_cancellations(session, turn.svc, held, now)
            elif cb.action == "withdraw_yes":
                held = []  # withdrawn already: nothing was given back now
            elif cb.action in ("edit", "open", "dup"):
                context_data = _context(
                    supervisor, now.astimezone(turn.svc.settings.tz).date()
                ).initial_data()
                values = {**context_data, **tasks.draft_values(task)}
                step: str = TStep.SUMMARY
                if cb.action != "dup":
                    values["task_id"] = task.id
                    if task.status == TaskStatus.RETURNED:
                        values["return_reason"] = task.return_reason
                        values["return_part"] = task.return_part
                    if tag in ts.return_parts(values):  # one tap to the part it names
                        step, values[EDITING] = tag, True
                else:
                    values = starts.moved(values, int(values["season"]) + 1)
                    values["offered_seasons"] = sorted(
                        {*context_data["offered_seasons"], values["season"]}
                    )
                draft = _draft(supervisor, values, step, now)
                await repository.delete_conversation(session, turn.user.id)
                await session.flush()
                await repository.save_conversation(session, draft, now)
        task_list = await tasks.tasks_of(session, supervisor.id or 0) if supervisor else []
    valid = supervisor is not None and cb is not None and cb.scope == LIST_SCOPE
    if not valid or supervisor is None or cb is None:
        await turn.query.answer(Translator(await _language(turn))("btn.stale"))
        return
    tr = Translator(supervisor.language)
    if cb.action in ("view", "edit", "open", "dup", "withdraw", "withdraw_yes") and task is None:
        await turn.query.answer(tr("btn.stale"))
        return
    if answered and cb.action == "withdraw_yes":
        await questions.already_answered(turn, tr)
        return
    await turn.query.answer()
    match cb.action:
        case "new":
            await start_new(turn)
        case "later":
            await turn.close(tr("tasks.later"))
        case "list":
            await turn.replace(list_screen(task_list, tr))
        case "page" if (page := parse_id(cb.value)) is not None:
            await turn.replace(list_screen(task_list, tr, page))
        case "view" if task is not None:
            await turn.replace(task_screen(task, tr))
        case "withdraw" if task is not None:
            await turn.replace(withdraw_screen(task, question_id, tr, held))
        case "withdraw_yes" if task is not None:
            await turn.replace(task_screen(task, tr))
            turn.svc.wake_offers()
            await placements.announce(turn.svc, held)
        case "open" if draft is not None:  # from the return notice: its note stays readable
            await turn.close(turn.pressed_html())
            await turn.show(FLOW.screen(draft))
        case "edit" | "dup" if draft is not None:
            await turn.close(tr("tasks.editing"))
            await turn.show(FLOW.screen(draft))
