"""Every chat message the bot sends waits its turn here: python-telegram-bot's rate limiter hook
(`ApplicationBuilder().rate_limiter`) on the pure bookkeeping of `bot.domain.pacing`.

PTB's own `AIORateLimiter` limits per chat only in groups, knows no priority and stops every
request on one 429. This one keeps under Telegram's limits overall and per chat, lets a reply
to a person overtake bulk sends (the `Notifier` marks its sends `Priority.BULK`, see `bulk`), and
on a 429 pauses what Telegram said and sends the same request again, so nothing is lost.

Only sends and edits are paced; everything else (answering a button press, `getMe`, commands)
goes straight through, and `getUpdates` never comes here (PTB).
"""

from __future__ import annotations

import asyncio
import logging
import warnings
from collections.abc import Callable, Coroutine
from datetime import timedelta
from typing import Any, Protocol

from telegram import Bot
from telegram.error import RetryAfter
from telegram.ext import BaseRateLimiter, ExtBot
from telegram.warnings import PTBDeprecationWarning

from bot.domain.pacing import Limits, Pacer, Priority, Ticket

log = logging.getLogger(__name__)

Result = bool | dict[str, Any] | list[dict[str, Any]]

# Sends that are not messages: a "typing..." hint is free.
_NOT_MESSAGES = frozenset({"sendChatAction"})
_OTHER_SENDS = frozenset({"copyMessage", "copyMessages", "forwardMessage", "forwardMessages"})


def takes_token(endpoint: str) -> bool | None:
    """True for a new message (a chat token), False for an edit (overall only), None for a call
    that is not paced."""
    if endpoint in _NOT_MESSAGES:
        return None
    if endpoint.startswith("send") or endpoint in _OTHER_SENDS:
        return True
    if endpoint.startswith("editMessage") or endpoint.startswith("stopPoll"):
        return False
    return None


def retry_seconds(error: RetryAfter) -> float:
    """`RetryAfter.retry_after` as seconds, whichever type this PTB version hands out."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PTBDeprecationWarning)
        value = error.retry_after
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


def bulk(bot: Bot) -> dict[str, Any]:
    """The keyword that marks a send as bulk, for a bot that has this limiter (PTB refuses
    `rate_limit_args` without one)."""
    if isinstance(bot, ExtBot) and isinstance(bot.rate_limiter, ChatLimiter):
        return {"rate_limit_args": Priority.BULK}
    return {}


class Timer(Protocol):
    """Monotonic seconds and a way to wait: the event loop's, or a virtual one in tests."""

    def now(self) -> float: ...

    async def sleep(self, seconds: float) -> None: ...


class LoopTimer:
    def now(self) -> float:
        return asyncio.get_running_loop().time()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


class VirtualTimer:
    """Time that jumps ahead instead of waiting: the order of requests is real, the pauses
    take no time (tests, and anything that talks to a local Bot API without limits)."""

    def __init__(self) -> None:
        self.current = 0.0

    def now(self) -> float:
        return self.current

    async def sleep(self, seconds: float) -> None:
        self.current += max(seconds, 0.0)
        await asyncio.sleep(0)


class ChatLimiter(BaseRateLimiter[Priority]):
    def __init__(
        self,
        limits: Limits | None = None,
        *,
        timer: Timer | None = None,
        max_retries: int = 5,
    ) -> None:
        self.pacer = Pacer(limits)
        self.timer: Timer = timer or LoopTimer()
        self.max_retries = max_retries
        self.retried = 0  # how many 429s were answered by waiting and sending again
        self._turns: dict[Ticket, asyncio.Future[None]] = {}
        self._changed = asyncio.Event()
        self._dispatcher: asyncio.Task[None] | None = None

    async def initialize(self) -> None:
        self._start()

    async def shutdown(self) -> None:
        task, self._dispatcher = self._dispatcher, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    async def process_request(
        self,
        callback: Callable[..., Coroutine[Any, Any, Result]],
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: Priority | None,
    ) -> Result:
        token = takes_token(endpoint)
        if token is None:
            return await callback(*args, **kwargs)
        chat = data.get("chat_id")
        chat = chat if isinstance(chat, int | str) else None
        priority = (
            rate_limit_args if isinstance(rate_limit_args, Priority) else Priority.INTERACTIVE
        )
        seq: int | None = None
        attempt = 0
        while True:
            ticket = self.pacer.submit(chat, priority, takes_token=token, seq=seq)
            seq = ticket.seq
            await self._turn(ticket)
            try:
                return await callback(*args, **kwargs)
            except RetryAfter as error:
                if attempt >= self.max_retries:
                    raise
                attempt += 1
                self.retried += 1
                seconds = retry_seconds(error)
                log.warning("%s to chat %s: Telegram says retry after %ss", endpoint, chat, seconds)
                self.pacer.retry_after(chat, seconds, self.timer.now())
                self._changed.set()

    async def _turn(self, ticket: Ticket) -> None:
        """Wait until the dispatcher lets the ticket go."""
        self._start()
        turn = asyncio.get_running_loop().create_future()
        self._turns[ticket] = turn
        self._changed.set()
        try:
            await turn
        except asyncio.CancelledError:
            self._turns.pop(ticket, None)
            self.pacer.cancel(ticket)
            raise

    def _start(self) -> None:
        if self._dispatcher is None or self._dispatcher.done():
            self._changed = asyncio.Event()
            self._dispatcher = asyncio.get_running_loop().create_task(
                self._dispatch(), name="chat-pacing"
            )

    async def _dispatch(self) -> None:
        """Let go what may go, then sleep until the next may, or until something changes."""
        while True:
            self._changed.clear()
            now = self.timer.now()
            for ticket in self.pacer.grant(now):
                turn = self._turns.pop(ticket, None)
                if turn is not None and not turn.done():
                    turn.set_result(None)
            due = self.pacer.next_time(now)
            if due is None:
                await self._changed.wait()
                continue
            sleeper = asyncio.ensure_future(self.timer.sleep(due - now))
            waker = asyncio.ensure_future(self._changed.wait())
            try:
                await asyncio.wait({sleeper, waker}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                sleeper.cancel()
                waker.cancel()
