"""Telling people things in chat outside their own conversation: coordinators about tasks and
places, supervisors about decisions on their tasks and offers.

Everything goes through the container's `Notifier` (`bot.core.ports`; the chat adapter's sends
with the real Bot). A notification is best effort: a person who blocked the bot is skipped and
logged by id, and one failure never stops the others. Without a notifier (a process that does
not chat) nothing is told. Texts come from the catalogs in each recipient's own language.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bot.core.context import Services
from bot.core.i18n import Translator
from bot.core.screen import Screen
from storage import coordinators


async def tell(svc: Services, chat_id: int, language: str, message_id: str, **values: Any) -> bool:
    return await send_text(svc, chat_id, Translator(language)(message_id, **values), message_id)


async def send_text(svc: Services, chat_id: int, text: str, what: str = "notice") -> bool:
    """Send an HTML text built from the catalogs (values escaped); False when it did not go."""
    if svc.notifier is None:
        return False
    return bool(await svc.notifier.send_text(chat_id, text, what))


async def show(svc: Services, chat_id: int, user_id: int, screen: Screen) -> bool:
    """A notice with buttons, signed for the one person who may press them."""
    if svc.notifier is None:
        return False
    return bool(await svc.notifier.show(chat_id, user_id, screen))


async def tell_coordinators(
    svc: Services, *, exchange_type: str, city: str, message_id: str, **values: Any
) -> int:
    """Tell every bound coordinator whose scope covers (type, city). Returns how many were told."""
    async with svc.db.session() as session:
        recipients = await coordinators.coordinators_for(session, exchange_type, city)
    told = 0
    for coordinator in recipients:
        if coordinator.chat_id is not None:
            told += await tell(svc, coordinator.chat_id, coordinator.language, message_id, **values)
    return told


async def show_coordinators(
    svc: Services,
    *,
    exchange_type: str,
    city: str,
    screen: Callable[[Translator], Screen],
) -> int:
    """Like `tell_coordinators`, for a notice with buttons: each coordinator's are signed for
    their own account. Returns how many were told."""
    if svc.notifier is None:
        return 0
    async with svc.db.session() as session:
        recipients = await coordinators.coordinators_for(session, exchange_type, city)
    told = 0
    for coordinator in recipients:
        if coordinator.chat_id is None or coordinator.telegram_user_id is None:
            continue
        if await svc.notifier.show(
            coordinator.chat_id,
            coordinator.telegram_user_id,
            screen(Translator(coordinator.language)),
        ):
            told += 1
    return told
