"""What `/healthz` reports: is this deployment doing its work?

A process keeps two times in memory, each set by a one-line hook where the work succeeds: the last
call to the Bot API that Telegram answered (`bot.chat.inbox.AnswerGate`) and the last `getUpdates`
that returned (`bot.chat.inbox.Inbox`). `probe` adds what the database knows: whether it answers
at all, whether some process holds the scheduler's lease (`bot.jobs.scheduler`; any process, this
one or a `worker`), and the outbox's backlog of due emails with how long the oldest has waited.

Only three things make the deployment unhealthy (503): the database does not answer, nobody holds
the scheduler lease (it expired more than `LEASE_GRACE` ago: no process is sweeping), or this
process polls and no poll has returned for `POLL_STALLED`. A backlog of emails is reported, never
a failure: an SMTP server that is slow or down is retried by the outbox, and restarting the bot
(what an orchestrator does on a failed health check) would not help it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from bot.domain.clock import Clock, SystemClock
from storage import leases, outbox
from storage.db import Database

log = logging.getLogger(__name__)

SCHEDULER_LEASE: Final = "scheduler"  # bot.jobs.scheduler.LEASE_NAME
# A standby takes an expired lease over at its next renewal (every 30 s), so a lease expired for
# less than this is a handover, not an outage.
LEASE_GRACE: Final = timedelta(seconds=60)
# A long poll returns within 10 s; failures back off to 30 s between tries.
POLL_STALLED: Final = timedelta(minutes=2)


@dataclass
class Health:
    """This process's own signs of life (times from `clock`)."""

    clock: Clock = field(default_factory=SystemClock)
    last_bot_api_call: datetime | None = None
    last_poll: datetime | None = None
    polling_since: datetime | None = None  # set when this process polls (not with a webhook)

    def bot_api_answered(self) -> None:
        self.last_bot_api_call = self.clock.now()

    def polling(self) -> None:
        self.polling_since = self.clock.now()

    def polled(self) -> None:
        self.last_poll = self.clock.now()

    def poll_stalled(self) -> bool:
        """Whether this process polls and has not had a poll return for `POLL_STALLED`."""
        if self.polling_since is None:
            return False
        last = max(self.polling_since, self.last_poll or self.polling_since)
        return self.clock.now() - last > POLL_STALLED


@dataclass(frozen=True)
class Report:
    healthy: bool
    body: dict[str, Any]


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat(timespec="seconds")


async def probe(health: Health, db: Database, clock: Clock) -> Report:
    """The health report: 503-worthy problems named in `problems`, everything else informative.

    Lease expiry is compared with this host's wall clock, as the scheduler writes it; the outbox
    with `clock`, as the sender reads it."""
    problems: list[str] = []
    body: dict[str, Any] = {
        "database": False,
        "scheduler_leader": None,
        "outbox_due": None,
        "oldest_due_seconds": None,
    }
    try:
        async with db.session() as session:
            lease = await leases.current(session, SCHEDULER_LEASE)
            due, oldest = await outbox.due_backlog(session, clock.now())
    except Exception as exc:  # any failure to answer is "down"; its class says which
        log.warning("health check: the database does not answer (%s)", type(exc).__name__)
        problems.append("database")
    else:
        body["database"] = True
        alive = (
            lease is not None
            and bool(lease.holder)
            and lease.expires_at + LEASE_GRACE >= datetime.now(UTC)
        )
        body["scheduler_leader"] = alive
        if not alive:
            problems.append("scheduler_leader")
        body["outbox_due"] = due
        if oldest is not None:
            body["oldest_due_seconds"] = max(0, int((clock.now() - oldest).total_seconds()))
    stalled = health.poll_stalled()
    if stalled:
        problems.append("polling")
    body |= {
        "last_bot_api_call": _iso(health.last_bot_api_call),
        "polling": health.polling_since is not None,
        "last_poll": _iso(health.last_poll),
        "polling_stalled": stalled,
        "problems": problems,
        "status": "unhealthy" if problems else "ok",
    }
    return Report(healthy=not problems, body=body)
