"""The scheduler: a few idempotent sweeps, every minute or so, whose state is in the database.

Each sweep reads what is due and does it (reminders, digests, the season check, thank-yous,
expiry of unfinished drafts, retention of inactive supervisors' data), so a restart, a missed
run or a daylight-saving change never skips or repeats anything: an email that was due is
found again, and one that was queued is not queued twice (idempotency keys, unique rows).
No job is persisted in a job store.

Several processes may run the scheduler (`run` and `worker`, or two workers), on SQLite as on
PostgreSQL; only the holder of the `scheduler_lease` row sweeps (`storage.leases`). The leader
renews the lease every third of its length and checks it again before each sweep; the others
stand by and take the row over once it has expired, so a killed leader is replaced within one
lease (`LEASE`, 90 seconds) and a stopped one at once. A lease row, not an advisory lock: a
session lock would pin one PostgreSQL connection "idle in transaction" for the life of the process
(blocking `CREATE INDEX CONCURRENTLY`, killed by `idle_in_transaction_session_timeout`), and
SQLite has no such lock at all. Expiry is compared with each host's wall clock, so the hosts'
clocks must agree to well within a lease (NTP).
"""

from __future__ import annotations

import logging
import os
import socket
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bot.core.context import Services
from bot.services import answer_notices, campaigns, delivery, digests, offer_reminders, retention
from storage import leases, questions, repository
from storage.db import Database

log = logging.getLogger(__name__)

LEASE_NAME: Final = "scheduler"
LEASE: Final = timedelta(seconds=90)


@dataclass(frozen=True)
class Sweep:
    name: str
    run: Callable[[], Awaitable[object]]
    every_seconds: int


async def expire_drafts(svc: Services) -> int:
    """Unfinished registrations and task drafts untouched for `draft_expiry_days` are deleted,
    and so are yes/no questions as old (their screens are long gone)."""
    cutoff = svc.clock.now() - timedelta(days=svc.settings.draft_expiry_days)
    async with svc.db.session() as session:
        await questions.expire(session, cutoff)
        return await repository.expire_conversations(session, cutoff)


def sweeps(svc: Services) -> list[Sweep]:
    reminders = offer_reminders.Cursor()  # a batch of supervisors a minute (see reminder_sweep)
    return [
        Sweep("reminders", lambda: offer_reminders.reminder_sweep(svc, reminders), 60),
        Sweep("thanks", lambda: offer_reminders.thanks_sweep(svc), 300),
        Sweep("declines", lambda: answer_notices.deliver_due(svc), 60),
        Sweep(
            "digests", lambda: digests.send_due_digests(svc.db, svc.settings, svc.clock.now()), 60
        ),
        Sweep("season-check", lambda: campaigns.season_check_sweep(svc), 60),
        Sweep("delivery-problems", lambda: delivery.report_sweep(svc), 60),
        Sweep("draft-expiry", lambda: expire_drafts(svc), 3600),
        Sweep("retention", lambda: retention.retention_sweep(svc), 3600),
    ]


def _wall_clock() -> datetime:
    """Leases are about real time between processes, not the (possibly frozen) business clock."""
    return datetime.now(UTC)


class Leadership:
    """This process's claim on the scheduler lease: taken, renewed and let go of."""

    def __init__(self, db: Database, lease: timedelta = LEASE, holder: str | None = None) -> None:
        self.db = db
        self.lease = lease
        self.holder = holder or f"{socket.gethostname()[:60]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.held = False

    async def check(self) -> bool:
        """Take or renew the lease; whether this process may sweep now (one short transaction)."""
        try:
            async with self.db.session() as session:
                held = await leases.hold(
                    session, LEASE_NAME, self.holder, _wall_clock(), self.lease
                )
        except Exception:
            log.exception("could not reach the scheduler lease; not sweeping")
            held = False
        if held != self.held:
            log.info("this process %s the scheduler", "runs" if held else "no longer runs")
        self.held = held
        return held

    async def release(self) -> None:
        if self.held:
            async with self.db.session() as session:
                await leases.release(session, LEASE_NAME, self.holder, _wall_clock())
            self.held = False


class Scheduler:
    def __init__(
        self,
        svc: Services,
        *,
        sweep_list: list[Sweep] | None = None,
        lease: timedelta = LEASE,
    ) -> None:
        self.svc = svc
        self.sweeps = sweeps(svc) if sweep_list is None else sweep_list
        self._scheduler = AsyncIOScheduler(timezone=svc.settings.tz)
        self.leadership = Leadership(svc.db, lease)

    async def leader(self) -> bool:
        """Whether this process may sweep: it holds the lease, renewed just now."""
        return await self.leadership.check()

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
        renew_every = max(1.0, self.leadership.lease.total_seconds() / 3)
        self._scheduler.add_job(
            self.leader,
            "interval",
            seconds=renew_every,
            id="lease",
            max_instances=1,
            coalesce=True,
            misfire_grace_time=int(renew_every),
        )
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
        try:
            await self.leadership.release()
        except Exception:  # the standby then takes over when the lease expires
            log.exception("could not let go of the scheduler lease")
