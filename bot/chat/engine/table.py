"""Every flow, in one table built when the handlers are wired. Which flow a person is in decides
who takes their typed text, how the current question is asked again (after /help, an unknown
command, a sticker...) and what /cancel does, so none of these has a branch per flow."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping
from functools import partial
from types import MappingProxyType

from telegram import Update
from telegram.ext import ContextTypes

from bot.chat import ui
from bot.chat.engine.flow import Apply, Flow, Reply
from bot.chat.turn import Turn
from bot.core.i18n import Translator
from storage import repository
from storage.models import Conversation


class Flows:
    """The flows by name (immutable once built)."""

    def __init__(self, entries: Iterable[Flow], *, idle: Callable[[Turn], Awaitable[None]]):
        by_name = {e.name: e for e in entries}
        self._by_name: Mapping[str, Flow] = MappingProxyType(by_name)
        self._idle = idle
        self.scopes = frozenset(e.form.scope for e in by_name.values())

    def __getitem__(self, name: str) -> Flow:
        return self._by_name[name]

    def get(self, name: str) -> Flow | None:
        return self._by_name.get(name)

    def screen(self, conv: Conversation, notice: str | None = None) -> ui.Screen:
        return self[conv.flow].screen(conv, notice)

    def reprompt(self, conv: Conversation) -> str:
        return self[conv.flow].reprompt(conv)

    async def _take(
        self, turn: Turn, answer: Callable[[Flow, Conversation], Apply | None]
    ) -> tuple[Conversation | None, Reply | None]:
        """One transaction reads the draft, routes the answer to its flow and stores the next
        step (one commit per answer); the reply, if a flow took the answer, runs after it.
        `answer` turns the update into the flow's answer, or None when the flow refuses it."""
        async with turn.svc.db.session() as session:
            conv = await repository.get_conversation(session, turn.user.id)
            entry = self.get(conv.flow) if conv is not None else None
            apply = answer(entry, conv) if conv is not None and entry is not None else None
            if conv is None or entry is None or apply is None:
                return conv, None
            return conv, await entry.take(turn, session, conv, apply)

    async def on_text(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Typed text goes to the flow the person is in; outside any, a hint what to do."""
        turn = Turn.of(update, context)
        text = update.effective_message.text if update.effective_message else None
        if turn is None or text is None:
            return
        _, reply = await self._take(
            turn, lambda entry, conv: entry.text(text) if conv.active else None
        )
        await (reply or partial(self._idle, turn))()

    async def on_contact(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> bool:
        """A shared contact card, for a flow that asks one; False when no flow takes it."""
        turn = Turn.of(update, context)
        contact = update.effective_message.contact if update.effective_message else None
        if turn is None or contact is None:
            return True
        phone, owner = contact.phone_number, contact.user_id
        _, reply = await self._take(
            turn, lambda entry, conv: entry.contact(phone, owner) if conv.active else None
        )
        if reply is None:
            return False
        await reply()
        return True

    async def on_button(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """A question's button: for the flow the person is in, if drawn for its current step."""
        turn = Turn.of(update, context)
        if turn is None or turn.query is None:
            return
        conv, reply = await self._take(turn, lambda entry, conv: entry.press(turn, conv))
        if reply is not None:
            await reply()
            return
        if conv is None and await self._finished(turn):
            return
        language = conv.language if conv else await turn.language()
        await turn.query.answer(Translator(language)("btn.stale"))

    async def _finished(self, turn: Turn) -> bool:
        """A press on a flow's summary with no draft left: the finishing press processed again
        after a crash (the inbox marks an update done only once its handler returned), or an
        old summary pressed again; either way the flow's outcome is shown, not "stale"."""
        cb = turn.callback
        entry = next((f for f in self._by_name.values() if cb and f.form.scope == cb.scope), None)
        if cb is None or entry is None or entry.outcome is None or cb.step != entry.form.summary:
            return False
        return await entry.outcome(turn)

    async def cancel(self, turn: Turn) -> str | None:
        """/cancel: pause the draft, or drop it when it is not worth keeping; the message id to
        say (None when nothing was running)."""
        async with turn.svc.db.session() as session:
            conv = await repository.get_conversation(session, turn.user.id)
            if conv is None:
                return None
            entry = self.get(conv.flow)
            if entry is not None and not entry.keep_on_cancel:
                await repository.delete_conversation(session, turn.user.id)
            else:
                conv.active = False
                await repository.save_conversation(session, conv, turn.svc.clock.now())
        return entry.cancelled if entry is not None else "cancel.kept"
