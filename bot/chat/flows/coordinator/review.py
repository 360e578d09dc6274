"""/pending: a card per submitted task with approve / return; a return asks for a note first
(flow `coord_return`, one question on the flow engine), and the supervisor is told either way."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

from telegram import Update
from telegram.ext import ContextTypes

from bot.chat import questions, ui
from bot.chat.engine.context import Ctx
from bot.chat.engine.flow import Flow
from bot.chat.engine.form import Form
from bot.chat.engine.rows import Action, Applied, Data, Kind, Question
from bot.chat.flows.coordinator.access import (
    ENGLISH_FLOW,
    ENGLISH_STEP,
    FLOWS,
    RETURN_FLOW,
    RETURN_SCOPE,
    RETURN_STEP,
    SCOPE,
    STOP,
    as_unknown,
    cancel_row,
    replace_conversation,
    reviewer_of,
    small_flow,
    translator,
)
from bot.chat.flows.coordinator.card import drop_buttons, task_screen
from bot.chat.flows.coordinator.english import ENGLISH
from bot.chat.flows.task import steps as task_steps
from bot.chat.flows.task.handlers import LIST_SCOPE
from bot.chat.turn import Turn
from bot.core.i18n import Translator
from bot.domain.signing import Callback, parse_id
from bot.domain.validation import Result, clean_text
from bot.services import notify
from storage import coordinators as store
from storage import repository
from storage.models import Conversation, Coordinator, Supervisor, Task, TaskStatus

MAX_REASON: Final = 500
PENDING_PAGE: Final = 10  # task cards /pending shows at once


async def cmd_pending(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    turn = Turn.of(update, context)
    if turn is None:
        return
    async with turn.svc.db.session() as session:
        scopes = await store.coordinators_of_user(session, turn.user.id)
        pending = await store.pending_tasks(session, scopes)
    if not scopes:
        await as_unknown(update, context)
        return
    tr = translator(scopes)
    if not pending:
        await turn.say(tr("coord.pending.none"))
        return
    await turn.say(tr("coord.pending.header", count=len(pending)))
    await _show_pending(turn, pending, tr)


async def _show_pending(
    turn: Turn, pending: Sequence[tuple[Task, Supervisor]], tr: Translator
) -> None:
    """A card per task, `PENDING_PAGE` at a time: hundreds of messages at once would run into
    Telegram's flood limits. A button shows the next ones, after the last card shown."""
    for task, supervisor in pending[:PENDING_PAGE]:
        await turn.show(task_screen(task, supervisor, tr))
    left = len(pending) - PENDING_PAGE
    if left > 0:
        last = str(pending[PENDING_PAGE - 1][0].id)
        more = ui.Button(tr("coord.btn.more_pending"), Callback(SCOPE, "p", "more", last))
        await turn.show(ui.Screen(tr("coord.pending.more", left=left), [[more]]))


async def on_more_pending(turn: Turn, cb: Callback, scopes: list[Coordinator]) -> None:
    """The next pending tasks after the last one shown (submitted later, or at the same time
    with a higher id), whatever was reviewed in the meantime."""
    assert turn.query is not None
    tr = translator(scopes)
    async with turn.svc.db.session() as session:
        pending = await store.pending_tasks(session, scopes)
        shown = await session.get(Task, task_id) if (task_id := parse_id(cb.value)) else None
    if cb.action != "more" or shown is None:
        await turn.query.answer(tr("btn.stale"))
        return
    await turn.query.answer()
    cursor = (shown.submitted_at or shown.updated_at, shown.id or 0)
    after = [p for p in pending if (p[0].submitted_at or p[0].updated_at, p[0].id or 0) > cursor]
    await turn.close(turn.pressed_html())
    if not after:
        await turn.say(tr("coord.pending.none"))
        return
    await _show_pending(turn, after, tr)


async def on_task_button(turn: Turn, cb: Callback, scopes: list[Coordinator]) -> None:
    assert turn.query is not None
    tr = translator(scopes)
    now = turn.svc.clock.now()
    task_id, version = questions.split(cb.value) or (0, "")
    approved = busy = changed = False
    conv: Conversation | None = None
    async with turn.svc.db.session() as session:
        found = await store.task_with_supervisor(session, task_id)
        reviewer = reviewer_of(scopes, found[0].exchange_type, found[0].city) if found else None
        if found is None or reviewer is None:
            pass  # not (or no longer) this coordinator's task: a stale press
        elif found[0].status == TaskStatus.SUBMITTED and questions.fingerprint(found[0]) != version:
            changed = True  # edited since the card was shown: approve only what was seen
        elif cb.action == "ok":
            approved = await store.review_task(
                session,
                task_id,
                status=TaskStatus.APPROVED,
                reviewer_id=reviewer.id or 0,
                now=now,
                updated_at=found[0].updated_at,
            )
            existing = await repository.get_conversation(session, turn.user.id)
            returning = existing is not None and existing.flow == RETURN_FLOW
            if approved and returning and existing and existing.data.get("task_id") == task_id:
                await repository.delete_conversation(session, turn.user.id)
        elif cb.action in ("ret", "en") and found[0].status == TaskStatus.SUBMITTED:
            existing = await repository.get_conversation(session, turn.user.id)
            busy = existing is not None and existing.flow not in FLOWS
            if not busy:
                conv = _draft(turn, reviewer, found[0], version, now, english=cb.action == "en")
                await replace_conversation(session, turn, conv, existing is not None)
    if found is None or reviewer is None:
        await turn.query.answer(tr("btn.stale"))
        return
    task, supervisor = found
    if changed or approved or (conv is None and not busy):
        await _forget_card(turn)  # the card loses its buttons below
    if changed:
        await turn.query.answer(tr("coord.task.changed"))
        await turn.close(turn.pressed_html() + "\n\n" + tr("coord.task.changed"))
        await turn.show(task_screen(task, supervisor, tr))
    elif approved:
        await turn.query.answer()
        await turn.close(turn.pressed_html() + "\n\n" + tr("coord.task.approved"))
        await notify.tell(
            turn.svc,
            supervisor.chat_id,
            supervisor.language,
            "coord.notify.approved",
            title=task.title,
        )
    elif busy:
        await turn.query.answer()
        await turn.say(tr("coord.return.busy"))
    elif conv is not None:
        await turn.query.answer()
        await turn.show(flow_of(conv).screen(conv))
    else:
        await _task_stale(turn, task_id, tr)


def _draft(
    turn: Turn, reviewer: Coordinator, task: Task, version: str, now: Any, *, english: bool
) -> Conversation:
    """A return note's draft, or (`english`) the English title and description's, prefilled
    with the task's own so "Keep current" keeps them."""
    data: dict[str, Any] = {
        "task_id": task.id,
        "title": task.title,
        "exchange_type": task.exchange_type,
        "card": _message_id(turn),
        "version": version,
    }
    if english:
        data |= {
            "description": task.description or "",
            "title_en": task.title_en,
            "description_en": task.description_en,
            "seen": task.updated_at.isoformat(),
        }
    return Conversation(
        telegram_user_id=turn.user.id,
        chat_id=turn.chat_id,
        flow=ENGLISH_FLOW if english else RETURN_FLOW,
        step=ENGLISH_STEP if english else RETURN_STEP,
        language=reviewer.language,
        data=data,
        created_at=now,
    )


def flow_of(conv: Conversation) -> Flow:
    return ENGLISH if conv.flow == ENGLISH_FLOW else RETURN


async def _task_stale(turn: Turn, task_id: int, tr: Translator) -> None:
    """Someone else reviewed it (or the supervisor withdrew it): say so, drop the buttons."""
    assert turn.query is not None
    async with turn.svc.db.session() as session:
        found = await store.task_with_supervisor(session, task_id)
    await turn.query.answer(tr("coord.task.stale"))
    if found is not None:
        status = tr(f"coord.status.{found[0].status.value}")
        await turn.close(turn.pressed_html() + "\n\n" + tr("coord.task.now", status=status))


async def _forget_card(turn: Turn) -> None:
    """A draft begun on this card ("Add English", a return) must not take its buttons off again
    when it ends: the press closing the card now does (Telegram refuses an edit that changes
    nothing)."""
    card = _message_id(turn)
    async with turn.svc.db.session() as session:
        conv = await repository.get_conversation(session, turn.user.id)
        if conv is not None and conv.flow in FLOWS and conv.data.get("card") == card:
            conv.data = {**conv.data, "card": None}
            await repository.save_conversation(session, conv, turn.svc.clock.now())


def _message_id(turn: Turn) -> int | None:
    message = turn.query.message if turn.query else None
    return message.message_id if message is not None else None


# ---- returning with a note: a one-question flow on the engine -----------------------------------


def _ask(data: Data, tr: Translator) -> str:
    return tr("coord.return.ask", title=data.get("title", "")) + "\n\n" + tr("coord.return.parts")


def _part_rows(data: Data, tr: Translator) -> list[list[tuple[str, str]]]:
    """One optional tap before the note: the part that needs work (tapped again: none)."""
    chosen = data.get("part")
    parts = [
        (("✅ " if part == chosen else "") + task_steps.part_label(part, tr), f"p_{part}")
        for part in task_steps.return_parts(data)
    ]
    return [parts[i : i + 3] for i in range(0, len(parts), 3)] + cancel_row(data, tr)


def _pick(part: str) -> Action:
    async def pick(ctx: Ctx, value: str) -> Applied:
        data = ctx.conv.data
        data["part"] = None if data.get("part") == part else part
        return Applied(ctx.conv.step, redraw=True)

    return pick


ACTIONS: Final[dict[str, Action]] = {
    **STOP,
    **{f"p_{part}": _pick(str(part)) for part in task_steps.RETURN_PARTS},
}


def _note(text: str) -> Result:
    return clean_text(text, max_length=MAX_REASON, min_length=2)


RETURN_FORM: Final = Form(
    catalog="coord.return",
    scope=RETURN_SCOPE,
    questions=(
        Question(
            RETURN_STEP,
            "reason",
            Kind.TEXT,
            parse=_note,
            text=_ask,
            reprompt="coord.return.reprompt",
            keep=False,
            editable=False,
            extra=_part_rows,
            actions=ACTIONS,
        ),
        Question("r_done", "", Kind.SUMMARY),
    ),
    progress_id=None,
    reviewed=False,  # nothing to review: the note returns the task
    go_back=False,
)


@dataclass(frozen=True)
class Returned:
    found: tuple[Task, Supervisor] | None
    seen: bool  # the task is the version shown on the card
    returned: bool
    reason: str
    part: str | None = None


async def _return(ctx: Ctx) -> Returned:
    """The note given: the task goes back to the supervisor, if it is still the one shown."""
    conv, session = ctx.conv, ctx.session
    reason = str(conv.data.get("reason", ""))
    part = conv.data.get("part")
    part = str(part) if part in task_steps.RETURN_PARTS else None
    task_id = int(conv.data.get("task_id", 0))
    await repository.delete_conversation(session, conv.telegram_user_id)
    scopes = await store.coordinators_of_user(session, conv.telegram_user_id)
    found = await store.task_with_supervisor(session, task_id)
    reviewer = reviewer_of(scopes, found[0].exchange_type, found[0].city) if found else None
    seen = found is not None and questions.fingerprint(found[0]) == conv.data.get("version")
    returned = False
    if found is not None and reviewer is not None and seen:
        returned = await store.review_task(
            session,
            task_id,
            status=TaskStatus.RETURNED,
            reviewer_id=reviewer.id or 0,
            now=ctx.svc.clock.now(),
            reason=reason,
            part=part,
            updated_at=found[0].updated_at,
        )
    return Returned(found, seen, returned, reason, part)


async def _returned(turn: Turn, conv: Conversation, result: Returned) -> None:
    """Tell the coordinator, and the supervisor in the supervisor's language."""
    tr = Translator(conv.language)
    found = result.found
    if found is not None and not result.seen and found[0].status == TaskStatus.SUBMITTED:
        await drop_buttons(turn, conv.data.get("card"))
        await turn.say(tr("coord.task.changed"))
        await turn.show(task_screen(found[0], found[1], tr))
        return
    if not result.returned or found is None:
        await turn.say(tr("coord.task.stale"))
        return
    task, supervisor = found
    await drop_buttons(turn, conv.data.get("card"))
    await turn.say(tr("coord.task.returned", reason=result.reason))
    await notify.show(
        turn.svc,
        supervisor.chat_id,
        supervisor.telegram_user_id,
        returned_notice(task, result.reason, result.part, Translator(supervisor.language)),
    )


def returned_notice(task: Task, reason: str, part: str | None, tr: Translator) -> ui.Screen:
    """The supervisor's notice, with the part named and one tap to the task's summary."""
    text = tr("coord.notify.returned", title=task.title, reason=reason)
    if part is not None:
        text += "\n" + tr("coord.notify.returned_part", part=task_steps.part_label(part, tr))
    button = ui.Button(tr("tasks.open_returned"), Callback(LIST_SCOPE, "-", "open", str(task.id)))
    return ui.Screen(text, [[button]])


RETURN: Final = small_flow(RETURN_FLOW, RETURN_FORM, _return, _returned)
