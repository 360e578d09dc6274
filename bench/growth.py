"""Benchmark 4, growth: every operation whose cost grows with the data, at 1k, 10k and 100k
supervisors, on SQLite and PostgreSQL.

Each database is seeded in bulk (`bench.growth_seed`): N supervisors with one approved task each,
N/10 open slots, three waiting offers per slot, six bound coordinators. Then, on the real
services, in this order:

- propose: `bot.services.offers.propose` for one new slot;
- the reminder sweep at night (nothing may go out: it must cost nothing) and in working hours
  (emails queued, chat nudges recorded by a notifier that sends nothing);
- /slots: what the chat handler reads (`storage.coordinators.slots_in_scopes`, the placements)
  and its messages (`month_screens`), for the national research coordinator;
- a national digest preview (`bot.services.digests.preview`, the email rendered; its size in KB);
- the digest sweep (`send_due_digests`: six coordinators' weekly digests);
- one run of the season check (1 February 2027, everyone is due).

Each is measured for wall time, SQL statements issued (a `before_cursor_execute` listener) and the
longest event-loop stall (a ticker that wakes every 5 ms notes its lateness). A sweep that works
in batches reports how many it ran: its statements are a fixed number per batch, never one per
supervisor.

Targets (issue 10): the same number of SQL statements at every size (no N+1); each 10x of data at
most 12x time; each operation under 10 s at the largest size; each stall under 100 ms.

Sizes: 1k and 10k in `make bench`; 100k with `python -m bench --full` (or `BENCH_FULL=1`), since
seeding and running 100k on both databases takes minutes on two cores. PostgreSQL
(127.0.0.1:5432, user postgres, trust) is skipped, with the reason printed, when unreachable.
"""

from __future__ import annotations

import asyncio
import gc
import itertools
import os
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import event

from bench import growth_seed as seeding
from bench.growth_seed import DAY, NATIONAL_EMAIL, NIGHT, SEASON_DAY
from bot.chat.flows.coordinator.slots import month_screens
from bot.core.context import Services
from bot.core.i18n import Translator
from bot.core.ports import Delivery
from bot.core.screen import Screen
from bot.core.settings import Settings
from bot.domain.clock import FrozenClock
from bot.services import digests, offer_reminders, offers
from bot.services.campaigns import season_check
from storage import coordinators as coordinator_store
from storage import placements as placement_store
from storage.db import Database
from storage.models import Slot

SIZES = [1_000, 10_000]
FULL_SIZES = [1_000, 10_000, 100_000]
QUICK_SIZES = [200]
WARM_UP = 100  # a first, unreported run: what a process does once (compiling templates) is not
# what grows with the data
STALL_TARGET_MS = 100
TIME_TARGET_S = 10


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


@dataclass
class Measure:
    seconds: float = 0.0
    statements: int = 0
    stall_ms: float = 0.0  # the longest lateness of a 5 ms tick (wall clock)
    cpu_stall_ms: float = 0.0  # the loop thread's CPU time in the longest tick: load-proof
    result: str = ""
    batches: int = 1


@dataclass
class Row:
    backend: str
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
            planned, cpu = loop.time() + 0.005, time.thread_time()
            await asyncio.sleep(0.005)
            counted.stall_ms = max(counted.stall_ms, (loop.time() - planned) * 1000)
            counted.cpu_stall_ms = max(counted.cpu_stall_ms, (time.thread_time() - cpu) * 1000)

    event.listen(db.engine.sync_engine, "before_cursor_execute", count)
    tick = asyncio.create_task(ticker())
    await asyncio.sleep(0.01)
    started = time.perf_counter()
    try:
        counted.result = await work()
    finally:
        counted.seconds = time.perf_counter() - started
        stop.set()
        await tick
        event.remove(db.engine.sync_engine, "before_cursor_execute", count)
    return counted


def _settings(url: str, directory: Path) -> Settings:
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        var_dir=directory / "var",
        database_url=url,
        secret_key="bench-secret-key-of-at-least-32-characters",
        mail_backend="file",
        mail_from="Veileder <veileder@nmf.example>",
    )


def _batches(count: int, size: int) -> int:
    return max(-(-count // size), 1)


async def operations(url: str, size: int, directory: Path, row: Row) -> None:
    """Run every operation once on the seeded database at `url`, recording the figures."""
    settings = _settings(url, directory)
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
    figures = row.figures
    try:
        async with db.session() as session:
            new = Slot(**seeding.slot_row(size * 10))
            session.add(new)
            await session.flush()
            new_id = new.id or 0

        async def propose() -> str:
            async with db.session() as session:
                made = await offers.propose(session, settings, new_id, DAY)
            return f"{len(made)} offers"

        cursor = offer_reminders.Cursor()  # as the scheduler runs it: a batch a run

        async def sweep() -> str:
            before = len(notifier.shown)
            queued = await offer_reminders.reminder_sweep(svc, cursor)
            return f"{queued} emails, {len(notifier.shown) - before} nudges"

        async def slots() -> str:
            today = DAY.astimezone(settings.tz).date()
            async with db.session() as session:
                scopes = await coordinator_store.coordinators_of_user(session, 900)
                found = await coordinator_store.slots_in_scopes(session, scopes, ending_after=today)
                taken = await placement_store.of_slots(session, [s.id or 0 for s in found])
            screens = await asyncio.to_thread(  # as the handler does (cmd_slots)
                month_screens,
                found,
                Translator("en"),
                today,
                settings.coordinator_margin_weeks,
                taken,
            )
            return f"{len(found)} slots, {len(screens)} messages"

        async def preview() -> str:
            made = await digests.preview(db, settings, NATIONAL_EMAIL, DAY)
            assert made is not None
            text = await asyncio.to_thread(made[1].as_string)
            return f"{len(text) / 1024:.0f} KB email"

        async def digest_sweep() -> str:
            return f"{await digests.send_due_digests(db, settings, DAY)} digests"

        async def season() -> str:
            before = len(notifier.shown)
            asked = await season_check.season_check_sweep(svc)
            return f"{asked} asked, {len(notifier.shown) - before} chat"

        figures["propose one slot"] = await measure(db, propose)
        figures["reminder sweep, night"] = await measure(db, sweep)
        clock.current = DAY
        day = figures["reminder sweep, working hours"] = await measure(db, sweep)
        waiting = min(size // 10 * seeding.OFFERS_PER_SLOT + 2, size)
        day.result += f"; runs a whole pass takes: {_batches(waiting, offer_reminders.BATCH)}"
        figures["/slots (national)"] = await measure(db, slots)
        figures["digest preview (national)"] = await measure(db, preview)
        figures["digest sweep"] = await measure(db, digest_sweep)
        clock.current = SEASON_DAY
        figures["season check, one run"] = await measure(db, season)
    finally:
        await db.close()


async def one_size(size: int, directory: Path, backend: str = "sqlite") -> Row:
    """Seed a database of `size` supervisors on `backend` and measure every operation."""
    if backend == "sqlite":
        path = directory / f"growth-{size}.sqlite3"
        url = f"sqlite+aiosqlite:///{path}"
        started = time.perf_counter()
        await asyncio.to_thread(seeding.seed, url, size)
        row = Row(backend, size, time.perf_counter() - started)
        await operations(url, size, directory, row)
        return row
    with seeding.postgres_database() as url:
        started = time.perf_counter()
        await asyncio.to_thread(seeding.seed, url, size)
        row = Row(backend, size, time.perf_counter() - started)
        await operations(url, size, directory, row)
        return row


def verdicts(rows: list[Row]) -> list[str]:
    lines: list[str] = []
    names = list(rows[0].figures) if rows else []
    for name in names:
        counts = [r.figures[name].statements for r in rows]
        batches = [r.figures[name].batches for r in rows]
        per_batch = [c / b for c, b in zip(counts, batches, strict=True)]
        same = len(set(counts)) == 1
        line = f"- {name}: statements {' / '.join(map(str, counts))}"
        if same:
            line += " — the same at every size: met"
        elif max(per_batch) <= min(per_batch) * 1.2 and max(batches) > 1:
            shown = " / ".join(f"{p:.0f}" for p in per_batch)
            line += (
                f" in {' / '.join(map(str, batches))} batches ({shown} per batch of"
                f" {offer_reminders.BATCH} supervisors: no N+1, but not the same): not met"
            )
        else:
            line += " — the same at every size: not met"
        lines.append(line)
        for small, large in itertools.pairwise(rows):
            a, b = small.figures[name].seconds, large.figures[name].seconds
            ratio = b / a if a > 0.001 else 0.0
            limit = 12 * (large.size / small.size) / 10
            verdict = "met" if ratio <= limit or b < 0.05 else "not met"
            lines.append(
                f"  - {small.size:,} -> {large.size:,}: time x{ratio:.1f} (limit x{limit:.0f}):"
                f" {verdict}"
            )
        largest = rows[-1].figures[name].seconds
        lines.append(
            f"  - {largest:.2f} s at {rows[-1].size:,} (target < {TIME_TARGET_S} s):"
            f" {'met' if largest < TIME_TARGET_S else 'not met'}"
        )
        stall = max(r.figures[name].stall_ms for r in rows)
        cpu = max(r.figures[name].cpu_stall_ms for r in rows)
        lines.append(
            f"  - longest stall {stall:.0f} ms, {cpu:.0f} ms of it on the loop's CPU (target"
            f" < {STALL_TARGET_MS} ms): {'met' if stall < STALL_TARGET_MS else 'not met'}"
        )
    return lines


def _table(rows: list[Row]) -> list[str]:
    table = [
        "| database | supervisors | seed s | operation | result | time s | SQL statements"
        " | longest stall ms | of it on CPU ms |",
        "|---|---:|---:|---|---|---:|---:|---:|---:|",
    ]
    for row in rows:
        for name, m in row.figures.items():
            table.append(
                f"| {row.backend} | {row.size:,} | {row.seed_seconds:.1f} | {name} | {m.result} |"
                f" {m.seconds:.3f} | {m.statements} | {m.stall_ms:.0f} | {m.cpu_stall_ms:.0f} |"
            )
    return table


async def run(quick: bool) -> str:
    full = os.environ.get("BENCH_FULL") == "1"
    sizes = QUICK_SIZES if quick else FULL_SIZES if full else SIZES
    backends = ["sqlite"]
    skipped = seeding.postgres_reason()
    if skipped is None:
        backends.append("postgresql")
    else:
        print(f"growth: PostgreSQL skipped: {skipped}", flush=True)
    if not quick:  # (a smoke run inside the test suite leaves the suite's objects alone)
        gc.collect()
        gc.freeze()  # as `python -m bot run` does after start-up (bot.__main__.settle)
    results: dict[str, list[Row]] = {}
    with tempfile.TemporaryDirectory(prefix="veileder-growth-") as tmp:
        for backend in backends:
            await one_size(WARM_UP, Path(tmp), backend)  # templates, catalogs, SQL compiled once
            for size in sizes:
                print(f"growth: {backend}, {size:,} supervisors", flush=True)
                results.setdefault(backend, []).append(await one_size(size, Path(tmp), backend))
    parts = [
        "## Growth",
        "",
        "Seeded in bulk: N supervisors with one approved task each, N/10 open slots,"
        f" {seeding.OFFERS_PER_SLOT} waiting offers per slot (half with a follow-up due), six"
        " bound coordinators. Propose asks candidates for one new slot; the reminder sweep runs"
        " at night and in working hours; /slots and the digest preview are the national research"
        " coordinator's; the digest sweep makes six weekly digests; the season check runs once"
        " on 2 February 2027 (a run asks one batch: the next run, a minute later, the next)."
        + (
            ""
            if full or quick
            else " 100k runs only with `python -m bench --full` (minutes of seeding on 2 cores)."
        ),
    ]
    if skipped is not None:
        parts += ["", f"PostgreSQL: skipped ({skipped})."]
    for backend, rows in results.items():
        parts += ["", f"### {backend}", "", *_table(rows), "", "Targets:", "", *verdicts(rows)]
    return "\n".join(parts) + "\n"
