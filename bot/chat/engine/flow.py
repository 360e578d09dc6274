"""A flow at run time: its form plus what finishing, leaving and /cancel mean for it, and the one
set of handlers that runs every flow.

Every answer is applied inside the transaction that reads the draft (`conversation` row: flow,
step, data, last_update_id), and the new step is stored by the same transaction, so a restart
resumes at the next question, and an update given again (its id the stored `last_update_id`:
applied, but the process stopped before saying anything) shows the current question instead of
being applied twice or answered with silence. Ids are compared for equality only: Telegram may
restart them at a random value after a week without updates, so a smaller id is a new update. A
button acts only on the question it was drawn for: its scope is the flow's and its step the
stored one.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from markupsafe import escape
from telegram import Update
from telegram.ext import ContextTypes

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

    def screen(self, conv: Conversation, notice: str | None = None) -> ui.Screen:
        tr = Translator(conv.language)
        return screens.screen(self.form, conv.step, conv.data, tr, notice=notice)

    def reprompt(self, conv: Conversation) -> str:
        return self.form.reprompt(conv.step, conv.data)

    def progress(self, conv: Conversation) -> tuple[int, int]:
        return self.form.progress(conv.step, conv.data)

    async def on_text(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        text = update.effective_message.text if update.effective_message else None
        if text is None:
            return

        async def apply(ctx: Ctx) -> Applied:
            q = self.form[ctx.conv.step]
            if q.check is not None:
                return await q.check(ctx, text)
            return self.form.apply_text(ctx.conv.step, ctx.conv.data, text, ctx.tr)

        await self._answer(update, context, apply)

    async def on_contact(
        self, update: Update, context: ContextTypes.DEFAULT_TYPE, phone: str, user_id: int | None
    ) -> None:
        async def apply(ctx: Ctx) -> Applied:
            own = user_id == ctx.conv.telegram_user_id
            return self.form.apply_contact(ctx.conv.step, ctx.conv.data, phone, own)

        await self._answer(update, context, apply)

    async def _answer(
        self, update: Update, context: ContextTypes.DEFAULT_TYPE, apply: Apply
    ) -> None:
        turn = Turn.of(update, context)
        if turn is None:
            return
        async with turn.svc.db.session() as session:
            conv = await repository.get_conversation(session, turn.user.id)
            if conv is None or conv.flow != self.name:
                return
            replayed = update.update_id == conv.last_update_id
            if not replayed:
                asked = conv.step
                ctx = Ctx(session, turn.svc, conv)
                applied = await apply(ctx)
                conv.last_update_id = update.update_id
                result = await self._settle(ctx, asked, applied)
        if replayed:
            await self._replayed(turn, conv)
        else:
            await self._respond(turn, conv, asked, applied, result)

    async def _replayed(self, turn: Turn, conv: Conversation) -> None:
        """An update applied and committed before the process stopped, given again: the inbox
        gives one again only when nothing had been said yet, so show where the person is now
        instead of staying silent."""
        if turn.query is not None:
            await turn.query.answer()
        await turn.show(self.screen(conv))

    async def on_button(self, turn: Turn, update: Update) -> bool:
        """A press on this flow's button; False when it is stale (another question, a second
        tap, another flow), for the caller to say so."""
        cb = turn.callback
        async with turn.svc.db.session() as session:
            conv = await repository.get_conversation(session, turn.user.id)
            if conv is None or conv.flow != self.name:
                return False
            replayed = update.update_id == conv.last_update_id
            if not replayed:
                if cb is None or cb.scope != self.form.scope or conv.step != cb.step:
                    return False
                asked = conv.step
                conv.active = True
                ctx = Ctx(session, turn.svc, conv)
                action = self.form[asked].actions.get(cb.action)
                if action is not None:
                    applied = await action(ctx, cb.value)
                else:
                    applied = self.form.apply_button(asked, conv.data, cb.action, cb.value, ctx.tr)
                conv.last_update_id = update.update_id
                result = await self._settle(ctx, asked, applied)
        if replayed:
            await self._replayed(turn, conv)
        else:
            await self._respond(turn, conv, asked, applied, result)
        return True

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
        """Show what the answer did. Runs after the transaction has committed."""
        tr = Translator(conv.language)
        notice = tr(applied.notice, **applied.args) if applied.notice else None
        stays = applied.step == asked and not applied.finished and not applied.left
        if turn.query is not None:
            await turn.query.answer(notice if stays else None)
        if applied.mail:
            turn.svc.sender.wake()
        if applied.finished:
            await self.done(turn, conv, result)
        elif applied.left and self.left is not None:
            await self.left(turn, conv)
        elif applied.redraw:
            await turn.replace(self.screen(conv))
        elif stays and notice:
            await turn.show(self.screen(conv, notice))
        else:
            closed = self.form[asked]
            text = turn.pressed_html()
            if applied.accepted and applied.answer and closed.echo:
                text += f"\n✔️ <b>{escape(applied.answer)}</b>"
            if text:
                await turn.close(text)
            if applied.accepted and closed.kind == Kind.CONTACT:
                saved = f"{self.form.catalog}.{closed.id}.saved"
                await turn.say(tr(saved), remove_keyboard=True)
            await turn.show(self.screen(conv, notice))
