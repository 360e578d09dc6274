"""The chat adapter's `Notifier` (`bot.core.ports`): what the services tell people outside their
own conversation goes out here, on the real Bot.

A notification is best effort: a person who blocked the bot (Telegram answers 403) is logged by
chat id and reported as `Delivery.BLOCKED`, a send Telegram could not take now (still flooded
after the limiter's retries, a network error) as `Delivery.LATER`, any other Telegram error is
logged with its trace and reported as `Delivery.FAILED`; none is raised, so one failure never
stops the others.
Everything sent here is bulk for the rate limiter (`bot.chat.pacing`): a reply to someone who
is waiting goes first.
"""

from __future__ import annotations

import logging

from telegram import Bot
from telegram.constants import ParseMode
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TelegramError

from bot.chat import chunks, pacing, ui
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
                await self.bot.send_message(
                    chat_id, part, parse_mode=ParseMode.HTML, **pacing.bulk(self.bot)
                )
        except TelegramError as error:
            return _failure(error, chat_id, what)
        return Delivery.SENT

    async def show(
        self, chat_id: int, user_id: int, screen: Screen, what: str = "notice"
    ) -> Delivery:
        try:
            await ui.send(
                self.bot,
                chat_id,
                screen,
                secret=self.secret,
                user_id=user_id,
                pacing=pacing.bulk(self.bot),
            )
        except TelegramError as error:
            return _failure(error, chat_id, what)
        return Delivery.SENT


def _failure(error: TelegramError, chat_id: int, what: str) -> Delivery:
    """What a Telegram error means for the caller, logged here once."""
    if isinstance(error, Forbidden):
        log.info("chat %s has blocked the bot; %s skipped", chat_id, what)
        return Delivery.BLOCKED
    if isinstance(error, RetryAfter | NetworkError) and not isinstance(error, BadRequest):
        log.warning("%s to chat %s not sent for now: %s", what, chat_id, error)
        return Delivery.LATER
    log.error("%s to chat %s failed", what, chat_id, exc_info=error)
    return Delivery.FAILED
