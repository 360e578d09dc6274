"""Benchmark 2, crash: people register while the bot is killed with SIGKILL again and again.

The real bot (`python -m bot run`, SQLite) polls a local Bot API server that answers every call
after 50 ms (`bench.people`). People register, pausing 1-3 s (seeded) before each answer, each
waiting for the reply its step expects; meanwhile the bot is killed with SIGKILL at random
instants (1-6 s after it is up again) and started again at once on the same files.

Afterwards, from what the people saw and what the database holds:
- every person completed registration (a supervisor with the verified email);
- every answer was stored once in the inbox (the update id is its key) and is done;
- no answer lost: each step got its reply (a person waits a minute for it, and up to
  `CODE_WAIT` for their code, as an email being sent at the instant of a kill waits out its
  2-minute lease); a person whose answer is lost stays stuck there, as they would in Telegram;
- no duplicate reply: no answer's reply was sent twice (counted between it and the next answer,
  where a person waits for it).
"""

from __future__ import annotations

import asyncio
import contextlib
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
FULL = (100, 20, (1.0, 3.0))  # people, kills, seconds a person pauses before an answer
QUICK = (2, 1, (0.2, 0.5))


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


class InboxWatch:
    """The update ids the bot's inbox has held, read every few seconds: done rows are purged
    10 minutes after they were done, and a long run outlives the first ones."""

    def __init__(self, db: Path) -> None:
        self.db = db
        self.seen: set[int] = set()
        self.undone = 0

    def read(self) -> None:
        if not self.db.exists():
            return
        with contextlib.closing(sqlite3.connect(f"file:{self.db}?mode=ro", uri=True)) as db:
            db.execute("PRAGMA busy_timeout = 5000")
            rows = db.execute("SELECT update_id, done_at IS NULL FROM inbox_update").fetchall()
        self.seen.update(update_id for update_id, _ in rows)
        self.undone = sum(undone for _, undone in rows)

    async def watch(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            await asyncio.to_thread(self.read)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=3.0)


def _registered(db: Path) -> set[int]:
    """The people's ids with a supervisor row and a verified email."""
    with contextlib.closing(sqlite3.connect(db)) as connection:
        rows = connection.execute(
            "SELECT telegram_user_id FROM supervisor WHERE email_verified_at IS NOT NULL"
            " AND telegram_user_id >= ?",
            (FIRST_PERSON,),
        ).fetchall()
    return {user_id for (user_id,) in rows}


async def run(quick: bool) -> str:
    people, kills, pause = QUICK if quick else FULL
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
        inbox = InboxWatch(var_dir / "veileder.db")
        watching = asyncio.create_task(inbox.watch(done))
        started = time.monotonic()
        killing = asyncio.create_task(_killer(bot, kills, rng, done))
        # A quick run waits less for a lost reply: it only shows the figures are produced.
        await asyncio.gather(*(person.register(30.0 if quick else 60.0) for person in crowd))
        done.set()
        made = await killing
        await watching
        elapsed = time.monotonic() - started
        bot.stop()
        inbox.read()
        registered = _registered(var_dir / "veileder.db")
        tracebacks = bot.tracebacks()
    answers = len(fake.queued_ids)
    stored = len(inbox.seen.intersection(fake.queued_ids))
    replied = sum(len(p.latencies) for p in crowd)
    extra = sum(duplicates(fake, p) for p in crowd)
    stored_ok = stored == answers and inbox.undone == 0
    targets = [
        (
            "people who completed registration",
            f"{len(registered)} of {people}",
            len(registered) == people,
        ),
        (
            "answers stored in the inbox, once, and done",
            f"{stored} of {answers}, {inbox.undone} not done",
            stored_ok,
        ),
        (
            "answers that got their reply (none lost)",
            f"{replied} of {answers}",
            replied == answers,  # who finished is the first row's
        ),
        ("duplicate replies", f"{extra}", extra == 0),
    ]
    errors = [p.error for p in crowd if p.error] + [
        f"person {p.number} saw the thanks but is not stored as registered"
        for p in crowd
        if p.finished and p.user_id not in registered
    ]
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
        lines += ["", "Errors: " + "; ".join(e for e in errors[:5] if e)]
    if fake.violations:
        lines += ["", "Broken rules: " + "; ".join(fake.violations[:3])]
    return "\n".join(lines) + "\n"
