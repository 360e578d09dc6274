"""Benchmark 2, crash: people register while the bot is killed with SIGKILL again and again.

The real bot (`python -m bot run`, SQLite) polls a local Bot API server that answers every call
after 50 ms (`bench.people`). People register, pausing 1-3 s (seeded) before each answer, each
waiting for the reply its step expects; meanwhile the bot is killed with SIGKILL at random
instants (1-6 s after it is up again) and started again at once on the same files.

Afterwards, from what the people saw and what the database holds:
- every person completed registration (a supervisor with the verified email);
- every answer was stored once in the inbox (the update id is its key) and is done;
- no answer lost: each step got its reply (a person waits up to 5 minutes, as an email being
  sent at the instant of a kill waits out its 2-minute lease);
- no duplicate reply: no answer's reply was sent twice (counted between it and the next answer,
  where a person waits for it).
"""

from __future__ import annotations

import asyncio
import random
import sqlite3
import tempfile
import time
from pathlib import Path

from bench.people import (
    FIRST_PERSON,
    LATENCY,
    BotProcess,
    Mailbox,
    Person,
    TimedFake,
    script,
    verdict,
)
from tests.support.botapi.server import BotApiServer

SEED = 20261130


def duplicates(fake: TimedFake, person: Person) -> int:
    """Replies sent beyond one per answer: for each answer, the messages sent before the next
    answer that carry the reply the step expects, less one."""
    shown = [s for s in fake.shown_in(person.user_id) if s.method == "sendmessage"]
    steps = script(person.number)
    ends = [*person.answered_at[1:], float("inf")]
    extra = 0
    for (_, reply), start, end in zip(steps, person.answered_at, ends, strict=False):
        extra += max(0, sum(start <= s.at < end and reply in s.text for s in shown) - 1)
    return extra


async def _killer(bot: BotProcess, kills: int, rng: random.Random, done: asyncio.Event) -> int:
    """Kill the bot `kills` times at random instants, starting it again each time; returns how
    many kills were made before everyone was done."""
    made = 0
    while made < kills and not done.is_set():
        try:
            await asyncio.wait_for(done.wait(), timeout=rng.uniform(1.0, 6.0))
        except TimeoutError:
            bot.kill()
            made += 1
            await bot.start()
    return made


def _stored(db: Path) -> tuple[int, int, int]:
    """(supervisors with a verified email among the people, inbox rows, inbox rows not done)"""
    with sqlite3.connect(db) as connection:
        registered = connection.execute(
            "SELECT count(*) FROM supervisor WHERE email_verified_at IS NOT NULL"
            " AND telegram_user_id >= ?",
            (FIRST_PERSON,),
        ).fetchone()[0]
        rows, undone = connection.execute(
            "SELECT count(*), count(*) - count(done_at) FROM inbox_update"
        ).fetchone()
    return registered, rows, undone


async def run(quick: bool) -> str:
    people, kills, pause = (2, 1, (0.2, 0.5)) if quick else (100, 20, (1.0, 3.0))
    rng = random.Random(SEED)
    fake = TimedFake()
    with (
        tempfile.TemporaryDirectory(prefix="bench-crash-") as tmp,
        BotApiServer(fake, latency=LATENCY) as server,
    ):
        var_dir = Path(tmp) / "var"
        bot = BotProcess(server, var_dir)
        await bot.start()
        mailbox = Mailbox(var_dir / "mail")
        crowd = [
            Person(n, fake, mailbox, pause, random.Random(rng.random())) for n in range(people)
        ]
        done = asyncio.Event()
        started = time.monotonic()
        killing = asyncio.create_task(_killer(bot, kills, rng, done))
        await asyncio.gather(*(person.register(within=300.0) for person in crowd))
        done.set()
        made = await killing
        elapsed = time.monotonic() - started
        bot.stop()
        registered, rows, undone = _stored(var_dir / "veileder.db")
        tracebacks = bot.tracebacks()
    answers = sum(len(p.answered_at) for p in crowd)
    replied = sum(len(p.latencies) for p in crowd)
    extra = sum(duplicates(fake, p) for p in crowd)
    finished = sum(p.finished for p in crowd)
    rows_ok = rows == answers and undone == 0
    targets = [
        ("people who completed registration", f"{registered} of {people}", registered == people),
        (
            "answers stored in the inbox, once, and done",
            f"{rows} of {answers}, {undone} not done",
            rows_ok,
        ),
        (
            "answers that got their reply (none lost)",
            f"{replied} of {answers}",
            replied == answers and finished == people,
        ),
        ("duplicate replies", f"{extra}", extra == 0),
    ]
    errors = [p.error for p in crowd if p.error][:3]
    lines = [
        "## Crash",
        "",
        f"{people} people register through the real bot (SQLite, a local Bot API server answering"
        f" after {LATENCY * 1000:.0f} ms), pausing {pause[0]:g}-{pause[1]:g} s before each answer,"
        f" while the bot is killed with SIGKILL {made} times at random instants (1-6 s after it is"
        f" up) and started again at once: {elapsed:.0f} s in all, {bot.starts} starts. Broken"
        f" Telegram rules seen by the server: {len(fake.violations)}; tracebacks in the bot's"
        f" log: {tracebacks}.",
        "",
        "| target | measured | goal | |",
        "|---|---|---|---|",
        *(f"| {name} | {value} | all | {verdict(ok)} |" for name, value, ok in targets[:3]),
        f"| {targets[3][0]} | {targets[3][1]} | 0 | {verdict(targets[3][2])} |",
    ]
    if errors:
        lines += ["", "Errors: " + "; ".join(e for e in errors if e)]
    if fake.violations:
        lines += ["", "Broken rules: " + "; ".join(fake.violations[:3])]
    return "\n".join(lines) + "\n"
