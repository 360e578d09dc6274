"""Telling people things in chat outside their own conversation: coordinators about tasks and
places, supervisors about decisions on their tasks and offers.

A notification is best effort: a person who blocked the bot (Telegram answers 403) is skipped and
logged by id, and one failure never stops the others. Texts come from the catalogs in each
recipient's own language.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from telegram import Bot
from telegram.constants import ParseMode
from telegram.error import Forbidden, TelegramError

from bot.chat import chunks, ui
from bot.core.context import Services
from bot.core.i18n import Translator

log = logging.getLogger(__name__)


async def tell(bot: Bot, chat_id: int, language: str, message_id: str, **values: Any) -> bool:
    return await send_text(bot, chat_id, Translator(language)(message_id, **values), message_id)


async def send_text(bot: Bot, chat_id: int, text: str, what: str = "notice") -> bool:
    """Send an HTML text built from the catalogs (values escaped); False when it did not go."""
    try:
        for part in chunks.split_text(text):
            await bot.send_message(chat_id, part, parse_mode=ParseMode.HTML)
    except Forbidden:
        log.info("chat %s has blocked the bot; notification %s skipped", chat_id, what)
        return False
    except TelegramError:
        log.exception("notification %s to chat %s failed", what, chat_id)
        return False
    return True


async def tell_coordinators(
    bot: Bot, svc: Services, *, exchange_type: str, city: str, message_id: str, **values: Any
) -> int:
    """Tell every bound coordinator whose scope covers (type, city). Returns how many were told."""
    from storage import coordinators

    async with svc.db.session() as session:
        recipients = await coordinators.coordinators_for(session, exchange_type, city)
    told = 0
    for coordinator in recipients:
        if coordinator.chat_id is not None:
            told += await tell(bot, coordinator.chat_id, coordinator.language, message_id, **values)
    return told


async def show_coordinators(
    bot: Bot,
    svc: Services,
    *,
    exchange_type: str,
    city: str,
    screen: Callable[[Translator], ui.Screen],
) -> int:
    """Like `tell_coordinators`, for a notice with buttons: each coordinator's are signed for
    their own account. Returns how many were told."""
    from storage import coordinators

    async with svc.db.session() as session:
        recipients = await coordinators.coordinators_for(session, exchange_type, city)
    told = 0
    for coordinator in recipients:
        if coordinator.chat_id is None or coordinator.telegram_user_id is None:
            continue
        try:
            await ui.send(
                bot,
                coordinator.chat_id,
                screen(Translator(coordinator.language)),
                secret=svc.secret,
                user_id=coordinator.telegram_user_id,
            )
        except Forbidden:
            log.info("chat %s has blocked the bot; a notice was skipped", coordinator.chat_id)
            continue
        except TelegramError:
            log.exception("a notice to chat %s failed", coordinator.chat_id)
            continue
        told += 1
    return told
