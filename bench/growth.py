"""Benchmark 4, growth: proposing a slot and the reminder sweep on a seeded SQLite file.

A migrated SQLite file is seeded with bulk inserts (SQLAlchemy Core `executemany`, not the ORM
row by row): N verified supervisors with one approved task each, N/10 open slots, and three
waiting offers per slot (half already emailed eight days ago, so a follow-up is due; half never
emailed). Then, for each size, on the real services:

- propose: `bot.services.offers.propose` for one new slot;
- the reminder sweep in working hours (Tuesday 10:00 Oslo): emails queued, chat nudges recorded
  by a notifier that sends nothing;
- the reminder sweep at night (Tuesday 23:00 Oslo): nothing may go out, so it should cost
  (almost) nothing.

Each is measured for wall time, SQL statements issued (a `before_cursor_execute` listener on the
engine) and the longest event-loop stall (a ticker that wakes every 5 ms notes its lateness).

Targets (issue 10): the same number of SQL statements at every size (no N+1); each 10x of data at
most 12x time; each stall under 100 ms.
"""

from __future__ import annotations

import asyncio
import itertools
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, event

from bot.core.context import Services
from bot.core.ports import Delivery
from bot.core.screen import Screen
from bot.core.settings import Settings
from bot.domain.clock import FrozenClock
from bot.services import offer_reminders, offers
from storage.db import Database
from storage.migrate import upgrade
from storage.models import (
    Offer,
    OfferEmail,
    OfferStatus,
    OutboxEmail,
    OutboxStatus,
    Slot,
    SlotStatus,
    Supervisor,
    SupervisorStatus,
    Task,
    TaskStatus,
)

SIZES = [1_000, 10_000]
QUICK_SIZES = [200]
BIG = 100_000  # run only when asked (`GROWTH_BIG=1`): seeding and sweeping it takes minutes
CITIES = ["oslo", "bergen", "trondheim", "tromso"]
DAY = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)  # Tuesday 10:00 in Oslo: working hours
NIGHT = datetime(2026, 11, 24, 22, 0, tzinfo=UTC)  # Tuesday 23:00 in Oslo
SLOT_START = date(2027, 2, 1)
OFFERS_PER_SLOT = 3


class RecordingNotifier:
    """Says nothing in chat: records what would have been shown."""

    def __init__(self) -> None:
        self.shown: list[tuple[int, str]] = []

    async def send_text(self, chat_id: int, text: str, what: str = "notice") -> Delivery:
        self.shown.append((chat_id, what))
        return Delivery.SENT

    async def show(
        self, chat_id: int, user_id: int, screen: Screen, what: str = "notice"
    ) -> Delivery:
        self.shown.append((chat_id, what))
        return Delivery.SENT


class IdleOutbox:
    """The outbox sender, not sending: the benchmark measures the sweep, not the mail."""

    def wake(self) -> None: ...

    def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def run_once(self) -> int:
        return 0


def _supervisor(number: int) -> dict[str, Any]:
    return {
        "telegram_user_id": 10_000_000 + number,
        "chat_id": 10_000_000 + number,
        "language": "nb" if number % 2 else "en",
        "name": f"Person {number}",
        "title": "overlege",
        "workplace": "Sykehuset",
        "city": CITIES[number % len(CITIES)],
        "fields": ["epidemiology"],
        "exchange_types": ["research"],
        "email": f"person{number}@example.no",
        "email_verified_at": DAY - timedelta(days=60),
        "consent_version": "2026-11",
        "consent_at": DAY - timedelta(days=60),
        "status": SupervisorStatus.ACTIVE,
        "created_at": DAY - timedelta(days=60),
        "updated_at": DAY - timedelta(days=60),
    }


def _task(number: int) -> dict[str, Any]:
    return {
        "supervisor_id": number + 1,
        "season": 2026,
        "exchange_type": "research",
        "title": f"Registry study {number}",
        "field": "epidemiology",
        "city": CITIES[number % len(CITIES)],
        "site": "Sykehuset",
        "activities": [],
        "learning_goals": [],
        "products": [],
        "weeks": 4,
        "months": ["2027-02", "2027-03"],
        "capacity": 1,
        "backup_contact": "backup@example.no",
        "status": TaskStatus.APPROVED,
        "created_at": DAY - timedelta(days=50),
        "updated_at": DAY - timedelta(days=50),
    }


def _slot(number: int) -> dict[str, Any]:
    return {
        "reference": f"G-{number}",
        "exchange_type": "research",
        "city": CITIES[number % len(CITIES)],
        "start_date": SLOT_START,
        "weeks": 4,
        "places": 1,
        "filled": 0,
        "status": SlotStatus.OPEN,
        "created_at": DAY - timedelta(days=20),
        "updated_at": DAY - timedelta(days=20),
    }


def seed(path: Path, supervisors: int) -> None:
    """Migrate a new SQLite file and fill it in a few bulk inserts."""
    url = f"sqlite:///{path}"
    upgrade(f"sqlite+aiosqlite:///{path}")
    engine = create_engine(url)
    slots = max(supervisors // 10, 1)
    waiting = min(slots * OFFERS_PER_SLOT, supervisors)
    before = DAY - timedelta(days=8)
    with engine.begin() as conn:
        conn.execute(Supervisor.__table__.insert(), [_supervisor(i) for i in range(supervisors)])  # type: ignore[attr-defined]
        conn.execute(Task.__table__.insert(), [_task(i) for i in range(supervisors)])  # type: ignore[attr-defined]
        conn.execute(Slot.__table__.insert(), [_slot(i) for i in range(slots)])  # type: ignore[attr-defined]
        # Offer i: slot i // 3 to supervisor (task) i, so no supervisor has two.
        conn.execute(
            Offer.__table__.insert(),  # type: ignore[attr-defined]
            [
                {
                    "slot_id": i // OFFERS_PER_SLOT + 1,
                    "task_id": i + 1,
                    "supervisor_id": i + 1,
                    "status": OfferStatus.SENT,
                    "not_this_month": False,
                    "reply_by": SLOT_START - timedelta(weeks=2),
                    "created_at": before,
                    "delivered_at": before,
                }
                for i in range(waiting)
            ],
        )
        emailed = range(0, waiting, 2)  # every second offer had its first email 8 days ago
        conn.execute(
            OutboxEmail.__table__.insert(),  # type: ignore[attr-defined]
            [
                {
                    "idempotency_key": f"remind:{i + 1}:{before.date().isoformat()}",
                    "kind": "offer",
                    "telegram_user_id": 10_000_000 + i,
                    "recipient": f"person{i}@example.no",
                    "subject": "",
                    "message": "",
                    "status": OutboxStatus.SENT,
                    "attempts": 1,
                    "attempts_before_hold": 0,
                    "next_attempt_at": before,
                    "created_at": before,
                }
                for i in emailed
            ],
        )
        conn.execute(
            OfferEmail.__table__.insert(),  # type: ignore[attr-defined]
            [
                {"offer_id": i + 1, "outbox_email_id": n + 1, "kind": "offer", "created_at": before}
                for n, i in enumerate(emailed)
            ],
        )
    engine.dispose()


@dataclass
class Measure:
    seconds: float = 0.0
    statements: int = 0
    stall_ms: float = 0.0
    result: str = ""


@dataclass
class Row:
    size: int
    seed_seconds: float
    figures: dict[str, Measure] = field(default_factory=dict)


async def measure(db: Database, work: Callable[[], Awaitable[str]]) -> Measure:
    """Wall time, statements and the longest event-loop stall while `work` runs."""
    counted = Measure()

    def count(*_: Any) -> None:
        counted.statements += 1

    stop = asyncio.Event()

    async def ticker() -> None:
        loop = asyncio.get_running_loop()
        while not stop.is_set():
            planned = loop.time() + 0.005
            await asyncio.sleep(0.005)
            counted.stall_ms = max(counted.stall_ms, (loop.time() - planned) * 1000)

    event.listen(db.engine.sync_engine, "before_cursor_execute", count)
    tick = asyncio.create_task(ticker())
    await asyncio.sleep(0)
    started = time.perf_counter()
    try:
        counted.result = await work()
    finally:
        counted.seconds = time.perf_counter() - started
        stop.set()
        await tick
        event.remove(db.engine.sync_engine, "before_cursor_execute", count)
    return counted


async def one_size(size: int, directory: Path) -> Row:
    path = directory / f"growth-{size}.sqlite3"
    started = time.perf_counter()
    await asyncio.to_thread(seed, path, size)
    row = Row(size, time.perf_counter() - started)
    url = f"sqlite+aiosqlite:///{path}"
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        var_dir=directory / "var",
        database_url=url,
        secret_key="bench-secret-key-of-at-least-32-characters",
        mail_backend="file",
        mail_from="Veileder <veileder@nmf.example>",
    )
    db = Database(url)
    clock = FrozenClock(NIGHT)
    notifier = RecordingNotifier()
    svc = Services(
        settings=settings,
        db=db,
        clock=clock,
        secret=b"bench-growth",
        sender=IdleOutbox(),
        notifier=notifier,
    )
    try:
        async with db.session() as session:
            new = Slot(**_slot(size * 10))
            session.add(new)
            await session.flush()
            new_id = new.id or 0

        async def propose() -> str:
            async with db.session() as session:
                made = await offers.propose(session, settings, new_id, DAY)
            return f"{len(made)} offers"

        async def sweep() -> str:
            queued = await offer_reminders.reminder_sweep(svc)
            return f"{queued} emails, {len(notifier.shown)} nudges"

        row.figures["propose one slot"] = await measure(db, propose)
        row.figures["reminder sweep, night"] = await measure(db, sweep)
        clock.current = DAY
        row.figures["reminder sweep, working hours"] = await measure(db, sweep)
    finally:
        await db.close()
    return row


def verdicts(rows: list[Row]) -> list[str]:
    lines = []
    names = list(rows[0].figures) if rows else []
    for name in names:
        counts = [r.figures[name].statements for r in rows]
        same = len(set(counts)) == 1
        lines.append(
            f"- {name}: statements {' / '.join(map(str, counts))} — same at every size:"
            f" {'met' if same else 'not met'}"
        )
        for small, large in itertools.pairwise(rows):
            a, b = small.figures[name].seconds, large.figures[name].seconds
            ratio = b / a if a > 0 else 0.0
            scale = large.size / small.size
            limit = 12 * scale / 10
            lines.append(
                f"  - {small.size:,} -> {large.size:,}: time x{ratio:.1f} (limit x{limit:.0f}):"
                f" {'met' if ratio <= limit else 'not met'}"
            )
        stall = max(r.figures[name].stall_ms for r in rows)
        lines.append(
            f"  - longest stall {stall:.0f} ms (target < 100 ms):"
            f" {'met' if stall < 100 else 'not met'}"
        )
    return lines


async def run(quick: bool) -> str:
    sizes = QUICK_SIZES if quick else SIZES
    rows = []
    with tempfile.TemporaryDirectory(prefix="veileder-growth-") as tmp:
        for size in sizes:
            rows.append(await one_size(size, Path(tmp)))
    table = [
        "| supervisors | seed s | operation | result | time s | SQL statements"
        " | longest stall ms |",
        "|---:|---:|---|---|---:|---:|---:|",
    ]
    for row in rows:
        for name, m in row.figures.items():
            table.append(
                f"| {row.size:,} | {row.seed_seconds:.1f} | {name} | {m.result} |"
                f" {m.seconds:.3f} | {m.statements} | {m.stall_ms:.0f} |"
            )
    parts = [
        "## Growth",
        "",
        "Seeded SQLite (bulk inserts): N supervisors with one approved task each, N/10 open"
        f" slots, {OFFERS_PER_SLOT} waiting offers per slot (half with a follow-up due)."
        " Propose asks candidates for one new slot; the reminder sweep runs once at night and"
        " once in working hours. 100k is not run by default (seeding and one sweep take minutes"
        " on 2 cores). PostgreSQL, the season check, `/slots` and the digests are not measured"
        " here yet.",
        "",
        *table,
        "",
        "Targets:",
        "",
        *verdicts(rows),
    ]
    return "\n".join(parts) + "\n"
