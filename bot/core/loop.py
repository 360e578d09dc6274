"""A small periodic job in the process's own event loop: run now when woken, else every N seconds.

The outbox sender and the offer courier both work this way: whoever writes rows calls `wake()`
after the commit, so what was queued goes within moments, and the timer catches what other
processes wrote (the CLI, another bot). The job keeps no state here: each run reads what is due
from the database, so a missed or repeated run changes nothing, and a failed one is logged and
tried again at the next turn. Stopping cancels the run in progress; the job's own `finally`
blocks decide what a cancellation leaves behind (the sender hands back what it had not begun).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

_log = logging.getLogger(__name__)


class Periodic:
    def __init__(
        self,
        name: str,
        job: Callable[[], Awaitable[object]],
        every: float,
        *,
        log: logging.Logger | None = None,
    ) -> None:
        """`log`: where a failed run is reported (the owner's logger, so its name says whose)."""
        self.name = name
        self.job = job
        self.every = every
        self.log = log or _log
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def wake(self) -> None:
        self._wake.set()

    async def run_forever(self) -> None:
        while True:
            self._wake.clear()
            try:
                await self.job()
            except Exception:
                self.log.exception("sweep %s failed; it runs again shortly", self.name)
            # asyncio.timeout, not wait_for: no helper task is created on every pass.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.every):
                    await self._wake.wait()

    def start(self) -> None:
        self._task = asyncio.create_task(self.run_forever(), name=self.name)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
