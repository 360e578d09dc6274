"""The bot's own polling loop: each update is committed to the inbox before Telegram is told.

    delete_webhook, then: replay what a crash left undone, and forever
        getUpdates(offset) -> store the batch, commit -> offset = last id + 1
        -> for each stored update not yet done: process_update (done at its first answer)

Telegram drops an update once a `getUpdates` call passes an offset beyond it, and this loop only
asks again after the batch is committed, so a crash at any instant leaves every update at
Telegram (delivered again, and dropped on insert when it is already stored) or in the inbox (not
done: processed at the next start). An update is marked done just before its first call to
Telegram (`AnswerGate`), or when `process_update` returned having said nothing (it never raises:
a handler's failure goes to the error handler). So a crash before the first answer processes it
again, and a crash after never answers it twice.

Done rows hold what people wrote: they are purged `PURGE_AFTER` after they were done, but only
once Telegram can no longer send them again (a later call passed an offset beyond them, or they
are older than the 24 hours Telegram keeps updates), so a copy delivered again always finds its
row. Update ids are only compared for equality (see `storage.inbox`).

Processing is sequential, one update at a time in the order received, as conversations require.

With a webhook (`run(stop, poll=False)`) Telegram posts each update to the web app, which calls
`receive`: the update is stored and committed before the web app answers 200 (a database that is
down is a 5xx, and Telegram delivers it again), then handed to `run`, which processes it as it
processes a polled one. The row is the same either way, so a crash loses nothing in both modes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from contextvars import ContextVar
from datetime import datetime, timedelta
from functools import partial
from typing import Any, Final, TypeVar

from telegram import Update
from telegram._utils.defaultvalue import DEFAULT_NONE
from telegram._utils.types import ODVInput
from telegram.error import InvalidToken, RetryAfter, TelegramError, TimedOut
from telegram.ext import Application
from telegram.request import BaseRequest, RequestData

from bot.chat.pacing import retry_seconds
from bot.core.context import SERVICES_KEY, Services
from bot.core.health import Health
from storage import inbox
from storage.inbox import Received

log = logging.getLogger(__name__)

PURGE_AFTER: Final = timedelta(minutes=10)
TELEGRAM_KEEPS: Final = timedelta(hours=24)  # an update not confirmed by then is gone anyway
PURGE_EVERY: Final = timedelta(minutes=1)
LONG_POLL_SECONDS: Final = 10
BATCH: Final = 100
MAX_BACKOFF_SECONDS: Final = 30.0

T = TypeVar("T")
App = Application[Any, Any, Any, Any, Any, Any]


class Inbox:
    def __init__(
        self,
        application: App,
        *,
        poll_seconds: int = LONG_POLL_SECONDS,
        purge_after: timedelta = PURGE_AFTER,
        allowed_updates: Sequence[str] = Update.ALL_TYPES,
    ) -> None:
        self.application = application
        self.poll_seconds = poll_seconds
        self.purge_after = purge_after
        self.allowed_updates = list(allowed_updates)
        self._offset: int | None = None
        # When the last call began that left Telegram nothing unconfirmed that we had stored.
        self._confirmed_at: datetime | None = None
        self._purged_at: datetime | None = None
        self._received: asyncio.Queue[list[int]] = asyncio.Queue()

    @property
    def svc(self) -> Services:
        services: Services = self.application.bot_data[SERVICES_KEY]
        return services

    async def receive(self, updates: Sequence[Update]) -> None:
        """Store `updates` and commit (raising when the database fails: the caller must not
        confirm them to Telegram), then hand them to `run` without waiting for their processing."""
        started = self.svc.clock.now()
        received = [_received(update) for update in updates]
        if not received:
            return
        await self._store(received)
        self._confirmed_at = started  # answered 200 next: Telegram forgets them
        self._received.put_nowait([item.update_id for item in received])

    async def run(self, stop: asyncio.Event, *, poll: bool = True) -> None:
        """Poll (or, with `poll=False`, take what `receive` stored) and process until `stop` is
        set; the update being processed then is finished."""
        if poll:
            await self._retrying(stop, "delete the webhook", self.application.bot.delete_webhook)
        await self._retrying(stop, "purge the inbox", self._purge_expired)
        await self._process(None, stop)  # what a crash left undone, before anything new
        if not poll:
            while (ids := await self._retrying(stop, "wait", self._received.get)) is not None:
                await self._process(ids, stop)
                await self._retrying(stop, "purge the inbox", self._purge_done)
            return
        self.svc.health.polling()
        while not stop.is_set():
            started = self.svc.clock.now()
            batch = await self._poll(stop)
            if batch is None:
                return
            self.svc.health.polled()
            if self._offset is not None or not batch:
                self._confirmed_at = started
            if batch:
                received = [_received(update) for update in batch]
                stored = await self._retrying(stop, "store updates", partial(self._store, received))
                if stored is None:
                    return  # stopped before they were stored: Telegram sends them again
                self._offset = batch[-1].update_id + 1
                await self._process([item.update_id for item in received], stop)
            await self._retrying(stop, "purge the inbox", self._purge_done)

    async def _poll(self, stop: asyncio.Event) -> tuple[Update, ...] | None:
        """One `getUpdates`, abandoned when `stop` is set (nothing is lost: it was not stored)."""
        return await self._retrying(
            stop,
            "get updates",
            lambda: self.application.bot.get_updates(
                offset=self._offset,
                limit=BATCH,
                timeout=self.poll_seconds,
                allowed_updates=self.allowed_updates,
            ),
        )

    async def _store(self, received: list[Received]) -> bool:
        async with self.svc.db.session() as session:
            await inbox.store(session, received, self.svc.clock.now())
        return True

    async def _process(self, update_ids: list[int] | None, stop: asyncio.Event) -> None:
        """Process the stored updates not yet done (of `update_ids`, else all), one at a time."""
        rows = await self._retrying(stop, "read the inbox", partial(self._pending, update_ids))
        for row in rows or []:
            if stop.is_set():
                return  # the rest stay not done: processed at the next start
            await self.handle(row)

    async def handle(self, row: inbox.InboxUpdate) -> None:
        """Process one stored update; it is done from its first answer on (see `AnswerGate`)."""
        # Not cancellable by `stop`: once an answer is going out, the update must be done.
        first = _FirstAnswer(
            partial(self._retrying, None, "mark an update done", partial(self._done, row.update_id))
        )
        update = Update.de_json(row.payload, self.application.bot)
        token = _answering.set(first)
        try:
            await self.application.process_update(update)
        finally:
            _answering.reset(token)
        await first()  # it said nothing

    async def _pending(self, update_ids: list[int] | None) -> list[inbox.InboxUpdate]:
        async with self.svc.db.session() as session:
            return await inbox.pending(session, update_ids)

    async def _done(self, update_id: int) -> bool:
        async with self.svc.db.session() as session:
            await inbox.mark_done(session, update_id, self.svc.clock.now())
        return True

    async def _purge_expired(self) -> bool:
        """At start: rows older than Telegram keeps updates can never come again."""
        async with self.svc.db.session() as session:
            await inbox.purge_done(session, self.svc.clock.now() - TELEGRAM_KEEPS)
        return True

    async def _purge_done(self) -> bool:
        now = self.svc.clock.now()
        if self._confirmed_at is None:
            return True
        if self._purged_at is not None and now - self._purged_at < PURGE_EVERY:
            return True
        async with self.svc.db.session() as session:
            await inbox.purge_done(session, min(now - self.purge_after, self._confirmed_at))
        self._purged_at = now
        return True

    async def _retrying(
        self, stop: asyncio.Event | None, what: str, call: Callable[[], Awaitable[T]]
    ) -> T | None:
        """`call` until it succeeds (None when `stop` is set first): a network or database
        failure waits and tries again, doubling the wait up to `MAX_BACKOFF_SECONDS`."""
        backoff = 1.0
        while stop is None or not stop.is_set():
            try:
                return await _unless_stopped(stop, call)
            except _Stopped:
                return None
            except InvalidToken:
                raise  # a configuration problem: no retry helps
            except RetryAfter as exc:
                wait = retry_seconds(exc)
            except TimedOut:
                wait = 0.0  # a long poll that took too long: ask again at once
            except (TelegramError, OSError) as exc:
                log.warning("could not %s (%s); trying again in %.0f s", what, exc, backoff)
                wait, backoff = backoff, min(backoff * 2, MAX_BACKOFF_SECONDS)
            except Exception:
                log.exception("could not %s; trying again in %.0f s", what, backoff)
                wait, backoff = backoff, min(backoff * 2, MAX_BACKOFF_SECONDS)
            if wait > 0 and await _stopped_within(stop, wait):
                return None
        return None


class _FirstAnswer:
    """Marks the update being processed done, once, before the first Bot API call it makes."""

    def __init__(self, mark: Callable[[], Awaitable[object]]) -> None:
        self._mark: Callable[[], Awaitable[object]] | None = mark

    async def __call__(self) -> None:
        mark, self._mark = self._mark, None
        if mark is not None:
            await mark()


# Set while the inbox processes an update, in its task only: the sweeps' and the sender's
# messages (other tasks, started before) never see it.
_answering: ContextVar[_FirstAnswer | None] = ContextVar("inbox_answering", default=None)


class AnswerGate(BaseRequest):
    """The bot's requests (not `getUpdates`): an update's first call to Telegram waits until the
    update is marked done.

    Handlers commit what an update changed before they answer it, and an update delivered again
    finds its change made (the flows' `last_update_id`): processed again, it is at best ignored
    and at worst answered twice (a button's query cannot be answered twice). So an update counts
    as done from its first answer on: a crash after that does not process it again; a crash
    before does, and its handler commits and answers it then."""

    def __init__(self, inner: BaseRequest, health: Health | None = None) -> None:
        self.inner = inner
        self.health = health

    @property
    def read_timeout(self) -> float | None:
        return self.inner.read_timeout

    async def initialize(self) -> None:
        await self.inner.initialize()

    async def shutdown(self) -> None:
        await self.inner.shutdown()

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: ODVInput[float] = DEFAULT_NONE,
        write_timeout: ODVInput[float] = DEFAULT_NONE,
        connect_timeout: ODVInput[float] = DEFAULT_NONE,
        pool_timeout: ODVInput[float] = DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        first = _answering.get()
        if first is not None:
            await first()
        code, payload = await self.inner.do_request(
            url, method, request_data, read_timeout, write_timeout, connect_timeout, pool_timeout
        )
        if self.health is not None and 200 <= code < 300:
            self.health.bot_api_answered()
        return code, payload


class _Stopped(Exception):
    pass


async def _unless_stopped(stop: asyncio.Event | None, call: Callable[[], Awaitable[T]]) -> T:
    if stop is None:
        return await call()
    task = asyncio.ensure_future(call())
    stopping = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({task, stopping}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopping.cancel()
    if not task.done():
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
        raise _Stopped
    return task.result()


async def _stopped_within(stop: asyncio.Event | None, seconds: float) -> bool:
    if stop is None:
        await asyncio.sleep(seconds)
        return False
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(seconds):
            await stop.wait()
    return stop.is_set()


def _received(update: Update) -> Received:
    user = update.effective_user
    return Received(
        update_id=update.update_id,
        telegram_user_id=user.id if user is not None else None,
        payload=update.to_dict(),
    )
