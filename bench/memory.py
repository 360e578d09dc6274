"""Benchmark 5, memory: the resident memory of `python -m bot run`, idle and over many
registrations.

The real bot (SQLite, a local Bot API server answering after 50 ms, `bench.people`) starts; its
VmRSS (/proc/<pid>/status) is read every 0.5 s. Idle is the highest reading over the seconds
after its first poll; then people register in batches (all of a batch at once, answering as soon
as they see the reply) until the count is reached or the time is up. Growth is the last reading
after the last batch less idle; "flat" compares the reading after the last batch with the one
after the batch that passed half the registrations.

A registration sends about 19 messages (sends and edits), and pacing keeps the bot under 29 a
second, so 2,000 registrations take at least 22 minutes: more than `make bench` may take. The
run stops at its time limit and says how many it made.
"""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
import time
from pathlib import Path

from bench.people import LATENCY, BotProcess, Mailbox, Person, TimedFake, verdict
from tests.support.botapi.server import BotApiServer

TARGET = 2_000
IDLE_LIMIT_MB = 150
GROWTH_LIMIT_MB = 15
FLAT_MB = 3.0  # at most this much more after the halfway mark


async def _sample(bot: BotProcess, readings: list[int], stop: asyncio.Event) -> None:
    while not stop.is_set():
        readings.append(bot.rss_kib())
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=0.5)


async def run(quick: bool) -> str:
    wanted, batch, budget, idle_seconds = (4, 2, 60.0, 1.0) if quick else (TARGET, 20, 90.0, 5.0)
    fake = TimedFake()
    with (
        tempfile.TemporaryDirectory(prefix="bench-memory-") as tmp,
        BotApiServer(fake, latency=LATENCY) as server,
    ):
        var_dir = Path(tmp) / "var"
        bot = BotProcess(server, var_dir)
        await bot.start()
        mailbox = Mailbox(var_dir / "mail")
        readings: list[int] = []
        stop = asyncio.Event()
        sampler = asyncio.create_task(_sample(bot, readings, stop))
        await asyncio.sleep(idle_seconds)
        idle = max(readings)
        after: list[tuple[int, int]] = []  # (registrations so far, VmRSS KiB after that batch)
        made, failed = 0, 0
        started = time.monotonic()
        while made < wanted and time.monotonic() - started < budget:
            crowd = [Person(made + n, fake, mailbox) for n in range(min(batch, wanted - made))]
            await asyncio.gather(*(person.register() for person in crowd))
            made += sum(person.finished for person in crowd)
            failed += sum(not person.finished for person in crowd)
            after.append((made, bot.rss_kib()))
            if failed:
                break
        elapsed = time.monotonic() - started
        stop.set()
        await sampler
        bot.stop()
    mb = 1024.0
    peak = max(readings) / mb
    last = after[-1][1] / mb if after else idle / mb
    half = next(((n, kib) for n, kib in after if n >= made / 2), (0, idle))
    growth = last - idle / mb
    later = last - half[1] / mb
    batches = len(after) >= 2 and half is not after[-1]
    rows = [
        ("idle", f"{idle / mb:.1f} MB", f"< {IDLE_LIMIT_MB} MB", idle / mb < IDLE_LIMIT_MB),
        (
            f"growth over {made:,} registrations (after the last less idle)",
            f"{growth:+.1f} MB",
            f"< {GROWTH_LIMIT_MB} MB",
            growth < GROWTH_LIMIT_MB,
        ),
        (
            f"after the {half[0]:,}th registration to the last",
            f"{later:+.1f} MB" if batches else "one batch: not measured",
            f"flat (<= {FLAT_MB:g} MB)",
            batches and later <= FLAT_MB,
        ),
        ("registrations", f"{made:,} ({failed} failed)", f"{TARGET:,}", made >= TARGET),
    ]
    trace = ", ".join(f"{n:,}: {kib / mb:.0f}" for n, kib in after[:: max(1, len(after) // 8)])
    lines = [
        "## Memory",
        "",
        f"Resident memory (VmRSS) of `python -m bot run` (SQLite, a local Bot API server answering"
        f" after {LATENCY * 1000:.0f} ms), read every 0.5 s: idle over {idle_seconds:g} s after it"
        f" is up, then people registering in batches of {batch} for {elapsed:.0f} s (limit"
        f" {budget:g} s); peak {peak:.1f} MB. After so many registrations (MB): {trace}.",
        "",
        "| figure | measured | target | |",
        "|---|---|---|---|",
        *(f"| {name} | {value} | {target} | {verdict(ok)} |" for name, value, target, ok in rows),
    ]
    if made < TARGET:
        lines += [
            "",
            f"Only {made:,} of {TARGET:,} registrations fit the time limit: each sends about 19"
            " messages and pacing allows 29 a second, so 2,000 take at least 22 minutes.",
        ]
    return "\n".join(lines) + "\n"
