"""The chat adapter's `Notifier` (`bot.core.ports`): what the services tell people outside their
own conversation goes out here, on the real Bot.

A notification is best effort: a person who blocked the bot (Telegram answers 403) is logged by
chat id and reported as `Delivery.BLOCKED`, any other Telegram error is logged with its trace and
reported as `Delivery.FAILED`; neither is raised, so one failure never stops the others.
"""

from __future__ import annotations

import logging

from telegram import Bot
from telegram.constants import ParseMode
from telegram.error import Forbidden, TelegramError

from bot.chat import chunks, ui
from bot.core.ports import Delivery
from bot.core.screen import Screen

log = logging.getLogger(__name__)


class ChatNotifier:
    def __init__(self, bot: Bot, secret: bytes) -> None:
        self.bot = bot
        self.secret = secret

    async def send_text(self, chat_id: int, text: str, what: str = "notice") -> Delivery:
        try:
            for part in chunks.split_text(text):
                await self.bot.send_message(chat_id, part, parse_mode=ParseMode.HTML)
        except Forbidden:
            log.info("chat %s has blocked the bot; %s skipped", chat_id, what)
            return Delivery.BLOCKED
        except TelegramError:
            log.exception("%s to chat %s failed", what, chat_id)
            return Delivery.FAILED
        return Delivery.SENT

    async def show(
        self, chat_id: int, user_id: int, screen: Screen, what: str = "notice"
    ) -> Delivery:
        try:
            await ui.send(self.bot, chat_id, screen, secret=self.secret, user_id=user_id)
        except Forbidden:
            log.info("chat %s has blocked the bot; %s skipped", chat_id, what)
            return Delivery.BLOCKED
        except TelegramError:
            log.exception("%s to chat %s failed", what, chat_id)
            return Delivery.FAILED
        return Delivery.SENT
