"""The scheduler: a few idempotent sweeps, every minute or so, whose state is in the database.

Each sweep reads what is due and does it (reminders, digests, the season check, thank-yous,
expiry of unfinished drafts), so a restart, a missed run or a daylight-saving change never skips
or repeats anything: an email that was due is found again, and one that was queued is not queued
twice (idempotency keys, unique rows). No job is persisted in a job store.

On PostgreSQL several processes may run the scheduler; only the one holding an advisory lock
sweeps, the others stand by and take over when it goes away. On SQLite (one host) the single
process always sweeps.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Final

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection
from telegram import Bot

from bot.services import Services
from storage import repository

log = logging.getLogger(__name__)

LOCK_KEY: Final = 0x7665696C  # "veil": one scheduler per database


@dataclass(frozen=True)
class Sweep:
    name: str
    run: Callable[[], Awaitable[object]]
    every_seconds: int


async def expire_drafts(svc: Services) -> int:
    """Unfinished registrations and task drafts untouched for `draft_expiry_days` are deleted."""
    cutoff = svc.clock.now() - timedelta(days=svc.settings.draft_expiry_days)
    async with svc.db.session() as session:
        return await repository.expire_conversations(session, cutoff)


def sweeps(bot: Bot, svc: Services) -> list[Sweep]:
    from bot import answer_notices, campaigns, delivery, digests
    from bot.conversations import offers

    return [
        Sweep("reminders", lambda: offers.reminder_sweep(bot, svc), 60),
        Sweep("thanks", lambda: offers.thanks_sweep(bot, svc), 300),
        Sweep("declines", lambda: answer_notices.deliver_due(bot, svc), 60),
        Sweep(
            "digests", lambda: digests.send_due_digests(svc.db, svc.settings, svc.clock.now()), 60
        ),
        Sweep("season-check", lambda: campaigns.season_check_sweep(svc, bot), 300),
        Sweep("delivery-problems", lambda: delivery.report_sweep(svc, bot), 60),
        Sweep("draft-expiry", lambda: expire_drafts(svc), 3600),
    ]


class Scheduler:
    def __init__(self, bot: Bot, svc: Services) -> None:
        self.svc = svc
        self.sweeps = sweeps(bot, svc)
        self._scheduler = AsyncIOScheduler(timezone=svc.settings.tz)
        self._lock: AsyncConnection | None = None

    async def leader(self) -> bool:
        """Whether this process may sweep: always on SQLite, the advisory lock's holder on PG."""
        if self.svc.db.is_sqlite:
            return True
        if self._lock is not None:
            try:
                await self._lock.execute(text("SELECT 1"))
                return True
            except Exception:  # the connection (and so the lock) is gone: try to lock again
                log.warning("lost the scheduler lock's connection")
                self._lock = None
        connection = await self.svc.db.engine.connect()
        got = (
            await connection.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": LOCK_KEY})
        ).scalar()
        if got:
            self._lock = connection  # held for as long as this connection lives
            log.info("this process runs the scheduler")
            return True
        await connection.close()
        return False

    def _job(self, sweep: Sweep) -> Callable[[], Awaitable[None]]:
        async def job() -> None:
            try:
                if await self.leader():
                    await sweep.run()
            except Exception:
                log.exception("sweep %s failed; it runs again at its next turn", sweep.name)

        return job

    async def run_all_once(self) -> None:
        """Every sweep once, in order (tests, and the first pass at start)."""
        for sweep in self.sweeps:
            await self._job(sweep)()

    def start(self) -> None:
        for sweep in self.sweeps:
            self._scheduler.add_job(
                self._job(sweep),
                "interval",
                seconds=sweep.every_seconds,
                id=sweep.name,
                max_instances=1,
                coalesce=True,
                misfire_grace_time=sweep.every_seconds,
            )
        self._scheduler.start()

    async def stop(self) -> None:
        if self._scheduler.running:
            self._scheduler.shutdown(wait=False)
        if self._lock is not None:
            # The connection goes back to the pool, so the session lock must be let go of here.
            await self._lock.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": LOCK_KEY})
            await self._lock.close()
            self._lock = None
