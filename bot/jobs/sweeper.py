"""A small periodic job in the bot's own event loop: run now when woken, else every N seconds.

Used for delivering offers in chat (and expiring unanswered ones) within seconds of their
creation, whichever process created them. It keeps no state of its own: each run reads what is
due from the database, so a missed or repeated run changes nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)


class Sweeper:
    def __init__(self, name: str, job: Callable[[], Awaitable[object]], every: float) -> None:
        self.name = name
        self.job = job
        self.every = every
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def wake(self) -> None:
        self._wake.set()

    async def _loop(self) -> None:
        while True:
            self._wake.clear()
            try:
                await self.job()
            except Exception:
                log.exception("sweep %s failed; it runs again shortly", self.name)
            # asyncio.timeout, not wait_for: no helper task is created on every pass.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.every):
                    await self._wake.wait()

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name=self.name)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
