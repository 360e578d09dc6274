"""Supervisors' "no" (decline, "not this month") told to the slot's coordinators, bundled.

A coordinator hears of every answer, but gets at most one such chat message an hour: a "no"
is stored as a pending notice (`storage.notices`) in the transaction that records it, and a
chat's pending notices go out together when `send_at` says so. Delivery happens on the next
event (when the supervisor picks a reason, so it can be in the notice) and in a scheduler sweep
every minute, so a notice goes out within about a minute of being due, also when nothing else
happens. Declines are about the people the coordinators recruit, so they are worth a line;
but a morning with ten refusals must not be ten pings.

Choice: the first notice after a quiet hour goes out at once (a coordinator learns quickly);
everything in the following hour waits and arrives as one message.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Final

from bot.core.context import Services
from bot.core.i18n import Translator
from bot.services import notify
from storage import notices
from storage.notices import ChatPending, Line

BUNDLE_WINDOW: Final = timedelta(hours=1)
DECLINED: Final = "declined"
NOT_THIS_MONTH: Final = "not_this_month"


def send_at(last_sent: datetime | None, oldest_pending: datetime | None) -> datetime | None:
    """When a chat's pending notices may go out: not before the oldest exists, and not within
    `BUNDLE_WINDOW` of the previous message. None when nothing is pending."""
    if oldest_pending is None:
        return None
    if last_sent is None:
        return oldest_pending
    return max(oldest_pending, last_sent + BUNDLE_WINDOW)


def is_due(last_sent: datetime | None, oldest_pending: datetime | None, now: datetime) -> bool:
    moment = send_at(last_sent, oldest_pending)
    return moment is not None and moment <= now


def _line(line: Line, tr: Translator) -> str:
    reason = line.offer.reason
    values = {
        "reference": line.slot.reference,
        "start": line.slot.start_date.isoformat(),
        "name": line.supervisor.name,
        "title": line.task.title,
    }
    if line.kind == NOT_THIS_MONTH:
        return tr("coord.answers.not_this_month", **values)
    if reason:
        return tr("coord.answers.declined_because", reason=tr(f"offer.reason.{reason}"), **values)
    return tr("coord.answers.declined", **values)


def bundle_text(lines: list[Line], tr: Translator) -> str:
    return "\n".join([tr("coord.answers.header"), *(_line(line, tr) for line in lines)])


async def deliver_due(svc: Services) -> int:
    """Send every chat whose bundle is due; returns how many messages went out. Nothing without
    a notifier (the notices wait for a process that chats)."""
    if svc.notifier is None:
        return 0
    now = svc.clock.now()
    async with svc.db.session() as session:
        await notices.purge_sent(session, now - BUNDLE_WINDOW)
        chats = await notices.pending(session)
    sent = 0
    for chat in chats:
        if is_due(chat.last_sent, chat.oldest, now):
            sent += await _send(svc, chat, now)
    return sent


async def _send(svc: Services, chat: ChatPending, now: datetime) -> int:
    async with svc.db.session() as session:
        claimed = await notices.claim(
            session, [i for line in chat.lines for i in line.notice_ids], now
        )
    lines = [line for line in chat.lines if claimed.intersection(line.notice_ids)]
    if not lines:
        return 0
    text = bundle_text(lines, Translator(chat.language))
    return 1 if await notify.send_text(svc, chat.chat_id, text, "declines") else 0
