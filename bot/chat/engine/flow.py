"""A flow at run time: its form plus what finishing, leaving and /cancel mean for it, and the one
set of handlers that runs every flow.

Every answer is applied inside the transaction that reads the draft (`conversation` row: flow,
step, data, last_update_id), and the new step is stored by the same transaction, so a restart
resumes at the next question, and an update given again (its id the stored `last_update_id`:
applied, but the process stopped before it finished answering) shows the current question instead
of being applied twice or answered with silence. Ids are compared for equality only: Telegram may
restart them at a random value after a week without updates, so a smaller id is a new update. A
button acts only on the question it was drawn for: its scope is the flow's and its step the
stored one.

What an answer costs (issue 10, counted in bench/EFFORT.md): the table (`bot.chat.engine.table`)
reads the draft, routes the answer to its flow, applies it and stores the next step in one
transaction, one commit; Telegram is called only after it, never while it is open. A button
that answers a question is answered in place (`Flow._next`): the pressed message keeps the
question, gains the answer under it and goes on with the next question, so the history still
shows every question with the answer given, at one edit instead of an edit plus a send; the
press is acknowledged to Telegram (`answerCallbackQuery`) while that edit is made, not before.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

from markupsafe import escape
from sqlalchemy.ext.asyncio import AsyncSession

from bot.chat import ui
from bot.chat.engine import screens
from bot.chat.engine.context import Ctx
from bot.chat.engine.form import Form
from bot.chat.engine.rows import Applied, Kind
from bot.chat.turn import Turn
from bot.core.i18n import Translator
from storage import repository
from storage.models import Conversation

Finish = Callable[[Ctx], Awaitable[Any]]  # in the transaction: the draft becomes what it was for
Done = Callable[[Turn, Conversation, Any], Awaitable[None]]  # after the commit: say so
Left = Callable[[Turn, Conversation], Awaitable[None]]
Apply = Callable[[Ctx], Awaitable[Applied]]
Reply = Callable[[], Awaitable[None]]  # what to say once the answer has committed
# A press on the flow's summary when no draft is left: shows the outcome, if the flow finished
# (its finishing press processed again after a crash cut its reply off); False if it did not.
Outcome = Callable[[Turn], Awaitable[bool]]


@dataclass(frozen=True)
class Flow:
    name: str  # `conversation.flow`
    form: Form
    finish: Finish
    done: Done
    cancelled: str  # what /cancel says
    keep_on_cancel: bool = True  # /cancel pauses the draft (else drops it)
    left: Left | None = None  # "Back" out of the flow; None: the question stays
    drop_on_leave: bool = False
    outcome: Outcome | None = None

    def screen(self, conv: Conversation, notice: str | None = None) -> ui.Screen:
        tr = Translator(conv.language)
        return screens.screen(self.form, conv.step, conv.data, tr, notice=notice)

    def reprompt(self, conv: Conversation) -> str:
        return self.form.reprompt(conv.step, conv.data)

    def progress(self, conv: Conversation) -> tuple[int, int]:
        return self.form.progress(conv.step, conv.data)

    def text(self, text: str) -> Apply:
        """Typed text as the answer to the current question."""

        async def apply(ctx: Ctx) -> Applied:
            q = self.form[ctx.conv.step]
            if q.check is not None:
                return await q.check(ctx, text)
            return self.form.apply_text(ctx.conv.step, ctx.conv.data, text, ctx.tr)

        return apply

    def contact(self, phone: str, user_id: int | None) -> Apply:
        """A shared contact card as the answer (the person's own, or someone else's)."""

        async def apply(ctx: Ctx) -> Applied:
            own = user_id == ctx.conv.telegram_user_id
            return self.form.apply_contact(ctx.conv.step, ctx.conv.data, phone, own)

        return apply

    def press(self, turn: Turn, conv: Conversation) -> Apply | None:
        """The pressed button as the answer; None when it was not drawn for this flow's current
        question (another question, a second tap, another flow), for the caller to say so. A
        replay is always taken: it was, the first time, and the step has moved on since."""
        cb = turn.callback
        replayed = turn.update.update_id == conv.last_update_id
        if not replayed and (cb is None or cb.scope != self.form.scope or cb.step != conv.step):
            return None

        async def apply(ctx: Ctx) -> Applied:
            assert cb is not None  # a replay is never applied (`take`)
            ctx.conv.active = True
            action = self.form[ctx.conv.step].actions.get(cb.action)
            if action is not None:
                return await action(ctx, cb.value)
            return self.form.apply_button(ctx.conv.step, ctx.conv.data, cb.action, cb.value, ctx.tr)

        return apply

    async def take(
        self, turn: Turn, session: AsyncSession, conv: Conversation, apply: Apply
    ) -> Reply:
        """Apply an answer inside the caller's transaction (the one that read the draft, so
        reading, applying and storing the next step is one commit), and return what to say once
        it has committed: no network call waits while the transaction is open."""
        if turn.update.update_id == conv.last_update_id:
            return partial(self._replayed, turn, conv)
        asked = conv.step
        ctx = Ctx(session, turn.svc, conv)
        applied = await apply(ctx)
        conv.last_update_id = turn.update.update_id
        result = await self._settle(ctx, asked, applied)
        return partial(self._respond, turn, conv, asked, applied, result)

    async def _replayed(self, turn: Turn, conv: Conversation) -> None:
        """An update applied and committed before the process stopped, given again (the inbox
        marks an update done only once its handler returned, so a crash may have cut its reply
        off anywhere): show where the person is now, so they are never left without the next
        question. A press already answered is not answered again (`bot.chat.inbox.AnswerGate`)."""
        await _together(turn, None, turn.show(self.screen(conv)))

    async def _settle(self, ctx: Ctx, asked: str, applied: Applied) -> Any:
        """Do what the answer entails and store the draft, in the same transaction."""
        conv, form = ctx.conv, self.form
        entered = form[applied.step]
        if applied.accepted and applied.step != asked and entered.enter is not None:
            effect = await entered.enter(ctx)
            if effect is not None:
                applied.notice, applied.args = effect.notice, effect.args
                applied.mail = applied.mail or effect.mail
        if applied.step == form.summary and not form.reviewed and not applied.left:
            applied.finished = True  # nothing to review (a profile edit): reaching the end saves
        if applied.finished:
            return await self.finish(ctx)
        if applied.left and self.left is not None and self.drop_on_leave:
            await repository.delete_conversation(ctx.session, conv.telegram_user_id)
            return None
        conv.step = applied.step
        await repository.save_conversation(ctx.session, conv, ctx.svc.clock.now())
        return None

    async def _respond(
        self, turn: Turn, conv: Conversation, asked: str, applied: Applied, result: Any
    ) -> None:
        """Show what the answer did. Runs after the transaction has committed; a pressed
        button's answer to Telegram goes out together with what the answer shows."""
        tr = Translator(conv.language)
        notice = tr(applied.notice, **applied.args) if applied.notice else None
        stays = applied.step == asked and not applied.finished and not applied.left
        if applied.mail:
            turn.svc.sender.wake()
        toast = notice if stays else None
        if applied.finished:
            await _together(turn, toast, self.done(turn, conv, result))
        elif applied.left and self.left is not None:
            await _together(turn, toast, self.left(turn, conv))
        elif applied.redraw:
            await _together(turn, toast, turn.replace(self.screen(conv)))
        elif stays and notice:
            await _together(turn, toast, turn.show(self.screen(conv, notice)))
        else:
            await _together(turn, toast, self._next(turn, conv, asked, applied, notice))

    async def _next(
        self, turn: Turn, conv: Conversation, asked: str, applied: Applied, notice: str | None
    ) -> None:
        """The next question, under the answered one with its answer.

        A button that answers a question and leads to the next one is answered in place: the
        pressed message keeps the question's text, gains the answer under it, and the next
        question follows in the same message. The chat reads as before (every question with the
        answer given, in order), at one edit instead of an edit and a send; sends also count
        against Telegram's one message a second per chat, edits do not. The next question is a
        new message when the answer was typed (it must follow the person's message), when it
        needs a reply keyboard, when the whole would not fit into one message, for "Back",
        "Other" and edits from the summary (nothing answered to keep), and for the summary
        itself: it stays a message of its own, which finishing turns into the flow's outcome
        without taking the answered questions above it along (so flows without a summary, a
        profile edit, never answer in place)."""
        closed = self.form[asked]
        text = turn.pressed_html()
        if applied.accepted and applied.answer and closed.echo:
            text += f"\n✔️ <b>{escape(applied.answer)}</b>"
        following = self.screen(conv, notice)
        onward = applied.accepted and self.form.reviewed and applied.step != self.form.summary
        if turn.query is not None and text and onward:
            together = ui.Screen(f"{text}\n\n{following.text}", following.buttons)
            if ui.in_place(together) and ui.in_place(following):
                await turn.replace(together)
                return
        if applied.accepted and closed.kind == Kind.CONTACT:  # typed or shared: no button
            saved = f"{self.form.catalog}.{closed.id}.saved"
            await turn.say(Translator(conv.language)(saved), remove_keyboard=True)
        if turn.query is not None and text:  # freeze the answered question, meanwhile ask on
            await asyncio.gather(turn.close(text), turn.show(following))
        else:
            await turn.show(following)


async def _together(turn: Turn, toast: str | None, showing: Awaitable[None]) -> None:
    """Answer the pressed button (if any) while the screen is drawn, not one after the other:
    one round trip to Telegram instead of two."""
    if turn.query is None:
        await showing
        return
    await asyncio.gather(turn.query.answer(toast), showing)
