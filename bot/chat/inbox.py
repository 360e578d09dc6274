"""The bot's own polling loop: each update is committed to the inbox before Telegram is told.

    delete_webhook, then: replay what a crash left undone, and forever
        getUpdates(offset) -> store the batch, commit -> offset = last id + 1
        -> hand each stored update not yet done to its person's lane (done at its first answer)

Telegram drops an update once a `getUpdates` call passes an offset beyond it, and this loop only
asks again after the batch is committed, so a crash at any instant leaves every update at
Telegram (delivered again, and dropped on insert when it is already stored) or in the inbox (not
done: processed at the next start). An update is marked done when `process_update` returned (it
never raises: a handler's failure goes to the error handler), so a crash at any instant before
that processes it again and no reply is lost. Processed again, an update whose change was already
committed finds it made (the flows' `last_update_id`, the other handlers' own guards) and shows
the person where they are now, so they are never left waiting; a button press already answered
is not answered again (`AnswerGate`, which marks `answered_at` before the press is answered:
Telegram refuses a second answer). The cost is a repeat only for a crash after the reply went
out and before the done mark: the person then sees the current question twice, never nothing. A
webhook feeds the same inbox through `receive` (and `run(stop, poll=False)` then only processes).

**Per-person ordered concurrency.** Each update goes to a lane keyed by its person (the
effective user, else the chat, else one shared lane): a lane processes its updates one after the
other in the order they came, and different lanes run at once, at most `max_concurrent` updates
together. A lane holds its person's turn first and takes a place under the bound only for the
update it processes, so a person whose handler waits (a slow query, a Bot API call held by the
limiter) never keeps a place from anyone else while their next updates wait: one slow person
delays only themselves. With `max_concurrent=1` every update shares one lane: processed strictly
one after the other in the order received, as a stock sequential bot does. What made this safe
for the handlers: each unit of work is one transaction, SQLite transactions begin IMMEDIATE
(`storage.db`), and each read-then-write that two people could race is one conditional statement
or a unique constraint (see the README, "Concurrency").

Done rows hold what people wrote: they are purged `PURGE_AFTER` after they were done, but only
once Telegram can no longer send them again (a later call passed an offset beyond them, or they
are older than the 24 hours Telegram keeps updates), so a copy delivered again always finds its
row. Update ids are only compared for equality (see `storage.inbox`).

With a webhook (`run(stop, poll=False)`) Telegram posts each update to the web app, which calls
`receive`: the update is stored and committed before the web app answers 200 (a database that is
down is a 5xx, and Telegram delivers it again), then handed to its person's lane, as a polled one
is. The row is the same either way, so a crash loses nothing in both modes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
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

from bot.chat.forwarding import ForwardingRequest
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


Lane = tuple[str, int] | None  # ("user", id), ("chat", id), or None: the shared lane


class Inbox:
    def __init__(
        self,
        application: App,
        *,
        poll_seconds: int = LONG_POLL_SECONDS,
        purge_after: timedelta = PURGE_AFTER,
        allowed_updates: Sequence[str] = Update.ALL_TYPES,
        max_concurrent: int | None = None,
    ) -> None:
        self.application = application
        self.poll_seconds = poll_seconds
        self.purge_after = purge_after
        self.allowed_updates = list(allowed_updates)
        self.max_concurrent = max_concurrent or self.svc.settings.max_concurrent_updates
        self._offset: int | None = None
        # When the last call began that left Telegram nothing unconfirmed that we had stored.
        self._confirmed_at: datetime | None = None
        self._purged_at: datetime | None = None
        self._places = asyncio.Semaphore(self.max_concurrent)
        self._lanes: dict[Lane, deque[inbox.InboxUpdate]] = {}
        self._workers: set[asyncio.Task[None]] = set()
        self._queued: set[int] = set()  # update ids in a lane or being processed
        self._handing = asyncio.Lock()  # reading pending rows and queueing them, one at a time
        self._started = False
        self._stop = asyncio.Event()

    @property
    def svc(self) -> Services:
        services: Services = self.application.bot_data[SERVICES_KEY]
        return services

    async def run(self, stop: asyncio.Event, *, poll: bool = True) -> None:
        """Poll and process until `stop` is set; the updates being processed then are finished,
        the ones still waiting in a lane stay not done (processed at the next start).

        With `poll=False` (a webhook feeds `receive`) it neither deletes the webhook nor calls
        `getUpdates`: it processes what a crash left undone and what `receive` hands it. `stop`
        is set when it returns, whatever ended it, so that no lane takes another update."""
        self._stop = stop
        try:
            if poll:
                await self._retrying(
                    stop, "delete the webhook", self.application.bot.delete_webhook
                )
            await self._retrying(stop, "purge the inbox", self._purge_expired)
            await self._retrying(stop, "read the inbox", partial(self._hand_over, None, True))
            if poll:
                await self._poll_loop(stop)
            else:
                await self._purge_loop(stop)
        finally:
            stop.set()  # lanes stop taking updates; what is being processed finishes
            while self._workers:
                await asyncio.gather(*self._workers, return_exceptions=True)

    async def receive(self, updates: Sequence[Update]) -> None:
        """Store a batch (committed when this returns: a webhook may answer 200) and hand the
        stored ones to their lanes, without waiting for them to be processed. Before `run` has
        replayed what a crash left (or after it stopped) they are only stored: `run` takes them
        from the inbox in their turn."""
        if not updates:
            return
        received = [_received(update) for update in updates]
        await self._store(received)
        await self._hand_over([item.update_id for item in received])

    async def _poll_loop(self, stop: asyncio.Event) -> None:
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
                ids = [item.update_id for item in received]
                handed = await self._retrying(stop, "read the inbox", partial(self._hand_over, ids))
                if handed is None:
                    return  # stored and not done: processed at the next start
            await self._retrying(stop, "purge the inbox", self._purge_done)

    async def _purge_loop(self, stop: asyncio.Event) -> None:
        """Without polling, a stored update is one the webhook answered 200 for: Telegram sends
        it again only when that answer was lost, within moments, far inside `purge_after`."""
        while not await _stopped_within(stop, PURGE_EVERY.total_seconds()):
            self._confirmed_at = self.svc.clock.now()
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

    async def _hand_over(self, update_ids: list[int] | None, start: bool = False) -> bool:
        """Queue the stored updates not yet done (of `update_ids`, else all) in their lanes.

        One hand-over at a time, so each person's updates enter their lane in the order they
        were stored; an update already queued (a copy a webhook delivered again while it is
        processed) is not queued twice."""
        async with self._handing:
            self._started = self._started or start
            if not self._started or self._stop.is_set():
                return True
            for row in await self._pending(update_ids):
                if row.update_id in self._queued:
                    continue
                self._queued.add(row.update_id)
                lane = self._lane_of(row)
                waiting = self._lanes.get(lane)
                if waiting is not None:
                    waiting.append(row)
                    continue
                self._lanes[lane] = deque([row])
                worker = asyncio.create_task(self._work(lane), name=f"inbox lane {lane}")
                self._workers.add(worker)
                worker.add_done_callback(self._workers.discard)
        return True

    def _lane_of(self, row: inbox.InboxUpdate) -> Lane:
        if self.max_concurrent == 1:
            return None  # one lane: strictly one update after the other, in the order received
        if row.telegram_user_id is not None:
            return ("user", row.telegram_user_id)
        chat = Update.de_json(row.payload, self.application.bot).effective_chat
        return ("chat", chat.id) if chat is not None else None

    async def _work(self, lane: Lane) -> None:
        """A person's updates, one after the other; each takes a place under the bound only
        while it is processed. Stops taking updates once `stop` is set."""
        waiting = self._lanes[lane]
        try:
            while waiting and not self._stop.is_set():
                row = waiting[0]
                async with self._places:
                    if self._stop.is_set():
                        return
                    try:
                        await self.handle(row)
                    except Exception:  # process_update never raises; marking done retries
                        log.exception("update %s could not be processed", row.update_id)
                waiting.popleft()
                self._queued.discard(row.update_id)
        finally:
            if self._lanes.get(lane) is waiting:
                del self._lanes[lane]
            for row in waiting:
                self._queued.discard(row.update_id)  # not done: the next start processes them

    async def handle(self, row: inbox.InboxUpdate) -> None:
        """Process one stored update; it is done once `process_update` returned. A crash
        before that processes it again: its handlers find what it changed already committed and
        show the current screen, and `AnswerGate` does not answer its press a second time."""
        answering = _Answering(
            answered=row.answered_at is not None,
            # Not cancellable by `stop`: the mark must be made before the press is answered.
            mark=partial(
                self._retrying,
                None,
                "mark a press answered",
                partial(self._answered, row.update_id),
            ),
        )
        update = Update.de_json(row.payload, self.application.bot)
        token = _answering.set(answering)
        try:
            await self.application.process_update(update)
        finally:
            _answering.reset(token)
        await self._retrying(None, "mark an update done", partial(self._done, row.update_id))

    async def _pending(self, update_ids: list[int] | None) -> list[inbox.InboxUpdate]:
        async with self.svc.db.session(write=False) as session:
            return await inbox.pending(session, update_ids)

    async def _done(self, update_id: int) -> bool:
        async with self.svc.db.session() as session:
            await inbox.mark_done(session, update_id, self.svc.clock.now())
        return True

    async def _answered(self, update_id: int) -> bool:
        async with self.svc.db.session() as session:
            await inbox.mark_answered(session, update_id, self.svc.clock.now())
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


class _Answering:
    """The update being processed: whether its button press was answered (by this run or one
    a crash cut short), and how to record that before the answer goes out."""

    def __init__(self, *, answered: bool, mark: Callable[[], Awaitable[object]]) -> None:
        self.answered = answered
        self._mark = mark
        self._marking = asyncio.Lock()

    async def claim(self) -> bool:
        """True (once) when the press is still to be answered, after recording that it is."""
        async with self._marking:
            if self.answered:
                return False
            await self._mark()
            self.answered = True
            return True


# Set while the inbox processes an update, in its task only: the sweeps' and the sender's
# messages (other tasks, started before) never see it.
_answering: ContextVar[_Answering | None] = ContextVar("inbox_answering", default=None)

ANSWER_METHOD: Final = "answerCallbackQuery"
# What Telegram returns for an answered press: what a repeated answer is given instead.
_ANSWERED: Final = (200, b'{"ok":true,"result":true}')


class AnswerGate(ForwardingRequest):
    """The bot's requests (not `getUpdates`): an update's button press is answered once, even
    when a crash makes the inbox process the update again.

    An update is done only when its handler returned, so a crash after its press was answered
    and before the rest of its reply went out processes it again: its handler then shows the
    current screen and answers the press as usual. Telegram refuses a second answer to a press
    (400, "query is too old ... or query ID is invalid"), so the press is marked answered
    (`answered_at`, committed) before its answer goes out, and an update processed again with
    that mark gets Telegram's success for its answer without asking Telegram. Handlers need not
    know whether they run for the first time. A crash between the mark and the answer leaves the
    press unanswered: its spinner stops by itself after a few seconds, while the screen comes."""

    def __init__(self, inner: BaseRequest, health: Health | None = None) -> None:
        super().__init__(inner)
        self.health = health

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
        answering = _answering.get()
        is_answer = answering is not None and url.endswith("/" + ANSWER_METHOD)
        if is_answer and answering is not None and not await answering.claim():
            return _ANSWERED
        code, payload = await super().do_request(
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
