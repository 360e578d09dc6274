"""One update as a handler sees it: who sent it, where to answer, and the services to use.

Handlers start with `turn = Turn.of(update, context)` instead of unpacking the update each time;
everything that answers the person goes through `show`, `replace` and `close`, so signing,
parse mode and the person's id are never repeated.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from telegram import CallbackQuery, Message, Update, User
from telegram.ext import CallbackContext

from bot.chat import ui
from bot.core.context import SERVICES_KEY, Services
from bot.core.i18n import language_from_telegram
from bot.domain.signing import Callback, decode_callback, within_legacy_window
from storage import repository


def services(context: CallbackContext[Any, Any, Any, Any]) -> Services:
    """The container `bot.app` put into `bot_data` at start-up."""
    services: Services = context.bot_data[SERVICES_KEY]
    return services


@dataclass(frozen=True)
class Turn:
    update: Update
    svc: Services
    user: User
    chat_id: int

    @classmethod
    def of(cls, update: Update, context: CallbackContext[Any, Any, Any, Any]) -> Turn | None:
        user, chat = update.effective_user, update.effective_chat
        if user is None or chat is None:
            return None
        return cls(update, services(context), user, chat.id)

    @property
    def query(self) -> CallbackQuery | None:
        return self.update.callback_query

    @property
    def callback(self) -> Callback | None:
        """The pressed button, if its signed data was made for this person."""
        if self.query is None:
            return None
        return decode_callback(
            self.query.data or "",
            secret=self.svc.secret,
            user_id=self.user.id,
            accept_legacy=within_legacy_window(self._buttons_drawn_at(), self.svc.clock.now()),
        )

    def _buttons_drawn_at(self) -> datetime | None:
        """When the pressed message's buttons were last drawn (sent, or edited), per Telegram;
        None for a message too old for Telegram to show (its date is then 0)."""
        message = self.query.message if self.query else None
        if not isinstance(message, Message):
            return None
        return max(message.date, message.edit_date or message.date)

    async def language(self) -> str:
        """The person's language: their profile's, their draft's, else their Telegram app's."""
        async with self.svc.db.session() as session:
            supervisor = await repository.get_supervisor(session, self.user.id)
            conv = await repository.get_conversation(session, self.user.id)
        if supervisor is not None:
            return supervisor.language
        if conv is not None:
            return conv.language
        return language_from_telegram(self.user.language_code)

    def pressed_html(self) -> str:
        """The text of the message whose button was pressed, as HTML."""
        message = self.query.message if self.query else None
        return message.text_html if isinstance(message, Message) and message.text else ""

    async def show(self, screen: ui.Screen) -> None:
        await ui.send(
            self.update.get_bot(),
            self.chat_id,
            screen,
            secret=self.svc.secret,
            user_id=self.user.id,
        )

    async def say(self, text: str, *, remove_keyboard: bool = False) -> None:
        await self.show(ui.Screen(text, remove_keyboard=remove_keyboard))

    async def replace(self, screen: ui.Screen) -> None:
        """Redraw the message whose button was pressed (no-op for a message update)."""
        if self.query is not None:
            await ui.replace(self.query, screen, secret=self.svc.secret, user_id=self.user.id)

    async def close(self, text: str) -> None:
        """Freeze the message whose button was pressed, showing `text` without buttons."""
        if self.query is not None:
            await ui.close(self.query, text)
