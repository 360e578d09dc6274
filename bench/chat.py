"""Benchmark 1, chat load: many people registering at once through the real bot.

`python -m bot run` polls a local Bot API server that answers every call after 50 ms
(`bench.people`). Two variants run in the same run, each on a fresh database:

- stock: `MAX_CONCURRENT_UPDATES=1`, one update at a time, as python-telegram-bot does with
  `concurrent_updates(False)`;
- ours: the default (per-person concurrency).

The load: 100 people register at once, each pausing 5-10 s (seeded) before each answer; then a
saturation run, 30 people answering as soon as they see the reply, which shows how close the
bot gets to the 30 messages a second Telegram allows (pacing keeps it at 29). Latency is from an
answer (the update available to `getUpdates`) to the first message the person then sees (the
tapped message frozen, or the reply); "next question" is to the reply the step leads to.

The bot and this process (the people and the server's threads) are pinned to different cores,
and this process's CPU is measured: past 80% of its core it may have slowed the figures, and the
run says INVALID.
"""

from __future__ import annotations

import asyncio
import os
import random
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from bench.people import (
    ANSWERS,
    LATENCY,
    BotProcess,
    Mailbox,
    Person,
    TimedFake,
    percentile,
    pinning,
    script,
    verdict,
)
from tests.support.botapi.flood import is_paced
from tests.support.botapi.server import BotApiServer

SEED = 20261130
CEILING = 30.0  # Telegram's messages a second overall
STOCK = {"MAX_CONCURRENT_UPDATES": "1"}
MAX_LOAD = 0.8  # of the load generator's core, past which the run is INVALID


@dataclass
class Run:
    name: str
    people: int
    finished: int
    answers: int
    seconds: float  # from the first answer to the last reply
    messages: int  # sends and edits the server served
    first: list[float]  # per answer: to the first message shown
    question: list[float]  # per answer: to the reply the step leads to
    in_order: int  # people whose replies all came, in the order of the steps
    load: float  # this process's CPU seconds over wall seconds
    bot_cpu: float  # the bot's CPU seconds over the run
    at_once: int  # the most Bot API calls in flight at one time (long polls aside)
    errors: list[str]

    @property
    def answers_per_second(self) -> float:
        return self.answers / self.seconds if self.seconds else 0.0

    @property
    def messages_per_second(self) -> float:
        return self.messages / self.seconds if self.seconds else 0.0


def in_order(fake: TimedFake, person: Person, steps: int) -> bool:
    """Every step's reply arrived, each after the one before (the sends and edits in the chat,
    walked in the order the server served them)."""
    needles = [reply for _, reply in script(person.number)[:steps]]
    step = 0
    for shown in fake.shown_in(person.user_id):
        # A message edited in place may carry the step's question and the next one's.
        while step < len(needles) and needles[step] in shown.text:
            step += 1
    return step == len(needles)


async def load(
    name: str,
    env: dict[str, str],
    people: int,
    pause: tuple[float, float],
    steps: int = ANSWERS,
) -> Run:
    fake = TimedFake()
    cores = pinning()
    with (
        tempfile.TemporaryDirectory(prefix="bench-chat-") as tmp,
        BotApiServer(fake, latency=LATENCY) as server,
    ):
        var_dir = Path(tmp) / "var"
        bot = BotProcess(server, var_dir, env, cores=cores[1] if cores else None)
        await bot.start()
        mailbox = Mailbox(var_dir / "mail")
        rng = random.Random(f"{SEED}-{people}-{pause}")  # the same pauses in both variants
        crowd = [
            Person(n, fake, mailbox, pause, random.Random(rng.random()), steps=steps)
            for n in range(people)
        ]
        mark = len(fake.calls)
        saved = os.sched_getaffinity(0)
        if cores:
            os.sched_setaffinity(0, cores[0])
        try:
            began = wall = time.monotonic()
            cpu, bot_cpu = time.process_time(), bot.cpu_seconds()
            await asyncio.gather(*(person.register() for person in crowd))
            wall, cpu = time.monotonic() - wall, time.process_time() - cpu
            bot_cpu = bot.cpu_seconds() - bot_cpu
        finally:
            os.sched_setaffinity(0, saved)
            bot.stop()
        served = [c for c in fake.calls[mark:] if is_paced(c.method)]
    shown = [s for person in crowd for s in fake.shown_in(person.user_id)]
    answered = [at for person in crowd for at in person.answered_at]
    span = max(s.at for s in shown) - min(answered) if shown and answered else 0.0
    return Run(
        name=name,
        people=people,
        finished=sum(person.finished for person in crowd),
        answers=sum(len(person.latencies) for person in crowd),
        seconds=span,
        messages=sum(c.ok for c in served),
        first=[x for person in crowd for x in person.latencies],
        question=[x for person in crowd for x in person.question_latencies],
        in_order=sum(in_order(fake, person, steps) for person in crowd),
        load=cpu / wall if wall else 0.0,
        bot_cpu=bot_cpu,
        at_once=fake.most_at_once(began),
        errors=[person.error for person in crowd if person.error] + _broken(fake, bot),
    )


def _broken(fake: TimedFake, bot: BotProcess) -> list[str]:
    return fake.violations + [f"{bot.tracebacks()} tracebacks in the bot's log"] * (
        bot.tracebacks() > 0
    )


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:,.0f} ms"


def _row(run: Run) -> str:
    load = f"{run.load:.0%}" + (" INVALID" if run.load > MAX_LOAD else "")
    return (
        f"| {run.name} | {run.finished} of {run.people} | {run.in_order} | {run.answers}"
        f" | {run.answers_per_second:.1f} | {run.messages_per_second:.1f}"
        f" | {_ms(percentile(run.first, 0.5))} | {_ms(percentile(run.first, 0.95))}"
        f" | {_ms(percentile(run.first, 0.99))} | {_ms(percentile(run.question, 0.95))}"
        f" | {run.bot_cpu / max(run.answers, 1) * 1000:.0f} ms"
        f" | {run.bot_cpu / run.seconds if run.seconds else 0:.0%} | {run.at_once} | {load} |"
    )


async def run(quick: bool) -> str:
    if quick:
        people, pause, crowd, steps = 3, (0.1, 0.3), 3, 3
    else:
        people, pause, crowd, steps = 100, (5.0, 10.0), 30, ANSWERS
    runs = [
        await load("stock, paused", STOCK, people, pause, steps),
        await load("ours, paused", {}, people, pause, steps),
        await load("stock, no pauses", STOCK, crowd, (0.0, 0.0), steps),
        await load("ours, no pauses", {}, crowd, (0.0, 0.0), steps),
    ]
    _, ours, stock_flat, ours_flat = runs
    p95, p99 = percentile(ours.first, 0.95), percentile(ours.first, 0.99)
    share = ours_flat.messages_per_second / CEILING
    speedup = (
        ours_flat.answers_per_second / stock_flat.answers_per_second
        if stock_flat.answers_per_second
        else 0.0
    )
    everyone = all(r.finished == r.people == r.in_order and not r.errors for r in runs)
    targets = [
        (
            "everyone finished, replies in order, no error",
            "yes" if everyone else "no",
            everyone,
            "all",
        ),
        ("p95 to the first reply (ours, paused)", _ms(p95), p95 < 0.5, "< 500 ms"),
        ("p99 to the first reply (ours, paused)", _ms(p99), p99 < 1.0, "< 1 s"),
        (
            "messages/s without pauses (ours) of the 30/s ceiling",
            f"{ours_flat.messages_per_second:.1f}/s = {share:.0%}",
            share >= 0.8,
            ">= 80%",
        ),
        ("answers/s without pauses, ours / stock", f"{speedup:.1f}x", speedup >= 3, ">= 3x"),
    ]
    invalid = [r.name for r in runs if r.load > MAX_LOAD]
    cores = pinning()
    lines = [
        "## Chat load",
        "",
        f"The real bot (`python -m bot run`, SQLite) polling a local Bot API server that answers"
        f" every call after {LATENCY * 1000:.0f} ms. Paused: {people} people register at once,"
        f" each pausing {pause[0]:g}-{pause[1]:g} s (seeded) before each of {steps} answers."
        f" No pauses: {crowd} people answer as soon as they see the reply. Stock is the same bot"
        " with `MAX_CONCURRENT_UPDATES=1` (one update at a time). Latency: from an answer"
        " (available to `getUpdates`) to the first message the person then sees (the tapped"
        " message frozen, or the reply); next question: to the reply the step leads to.",
        "",
        "Pinning: "
        + (
            f"the bot on core {min(cores[1])}, the people and the server on core {min(cores[0])}."
            if cores
            else "none (one core, or no `taskset`): the figures share a core with the load."
        )
        + " Bot's core busy: the bot's CPU time over the run's (near 100%, it is the limit)."
        " Calls at once: the most Bot API calls the bot had waiting at one time (polls aside);"
        " 1 means it waits for each call before it makes the next, whatever its concurrency."
        " Load: the people's and the server's CPU over wall time (INVALID past 80%).",
        "",
        "| variant | finished | in order | answers | answers/s | messages/s | p50 | p95 | p99"
        " | next question p95 | bot CPU per answer | bot's core busy | calls at once | load |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
        *(_row(r) for r in runs),
        "",
        "| target | measured | goal | |",
        "|---|---|---|---|",
        *(f"| {name} | {value} | {goal} | {verdict(ok)} |" for name, value, ok, goal in targets),
    ]
    errors = [e for r in runs for e in r.errors][:5]
    if errors:
        lines += ["", "Errors: " + "; ".join(errors)]
    if invalid:
        lines += ["", f"**INVALID**: the load generator was busy past 80% in {', '.join(invalid)}."]
    return "\n".join(lines) + "\n"
