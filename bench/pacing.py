"""Pacing (issue 10, benchmark 6): a burst of offers to 1,000 people through a local Bot API
server that answers 429 with `retry_after` past 30 messages a second overall or one a second in
a chat, while a few people keep talking to the bot.

The bot side is the production path: an `ExtBot` with the chat limiter (`bot.chat.pacing`) and
the `ChatNotifier` (its sends are bulk), over HTTP to the test suite's fake Bot API server
(`tests.support.botapi`) with flood limits measured on real time (`FloodLimits`). The offers are
all handed to the notifier at once; the interactive replies are plain `send_message` calls (the
default priority), one every two seconds per talking person, timed from the call to Telegram's
answer.
"""

from __future__ import annotations

import asyncio
import random
import statistics
import time
from collections import defaultdict

from telegram.ext import ExtBot
from telegram.request import HTTPXRequest

from bot.chat.notifier import ChatNotifier
from bot.chat.pacing import ChatLimiter
from bot.core.ports import Delivery
from bot.core.screen import Button, Screen
from bot.domain.signing import Callback
from tests.support.botapi.fake import FakeTelegram
from tests.support.botapi.flood import FloodLimits
from tests.support.botapi.server import BotApiServer

TOKEN = "1:local-bench-token"
ALLOWED_RATE = 30.0
FIRST_CHAT = 7_000_000
TALKER_CHAT = 9_000_000


def _offer(n: int) -> Screen:
    return Screen(
        f"<b>A student needs a place</b> (offer {n})",
        [[Button("Accept", Callback("offer", str(n), "accept"))]],
    )


def _max_in_window(times: list[float], window: float = 1.0) -> int:
    """The most messages in any `window` seconds."""
    times = sorted(times)
    best, start = 0, 0
    for end, at in enumerate(times):
        while at - times[start] >= window:
            start += 1
        best = max(best, end - start + 1)
    return best


async def _burst(offers: int, talkers: int) -> dict[str, float]:
    fake = FakeTelegram(require_known_chats=False)
    limits = FloodLimits(overall=30, window=1.0, chat_burst=1, chat_interval=1.0)
    fake.floods.limits = limits
    with BotApiServer(fake) as server:
        limiter = ChatLimiter()
        bot = ExtBot(
            TOKEN,
            base_url=server.base_url,
            request=HTTPXRequest(connection_pool_size=64),
            rate_limiter=limiter,
        )
        await bot.initialize()
        notifier = ChatNotifier(bot, b"bench-secret-of-at-least-32-characters")
        latencies: list[float] = []
        done = asyncio.Event()

        async def talk(chat: int) -> None:
            await asyncio.sleep(random.uniform(0.1, 2.0))
            while not done.is_set():
                started = time.monotonic()
                await bot.send_message(chat, "Your answer is saved.")
                latencies.append(time.monotonic() - started)
                await asyncio.sleep(2.0)

        talking = [asyncio.create_task(talk(TALKER_CHAT + n)) for n in range(talkers)]
        started = time.monotonic()
        results = await asyncio.gather(
            *(notifier.show(FIRST_CHAT + n, FIRST_CHAT + n, _offer(n)) for n in range(offers))
        )
        elapsed = time.monotonic() - started
        done.set()
        await asyncio.gather(*talking)
        await bot.shutdown()

    accepted = list(limits.accepted)
    times = [at for at, _ in accepted]
    per_chat: dict[object, list[float]] = defaultdict(list)
    for at, chat in accepted:
        per_chat[chat].append(at)
    span = max(times) - min(times) if len(times) > 1 else 0.0
    return {
        "offers": offers,
        "delivered": sum(result is Delivery.SENT for result in results),
        "elapsed": elapsed,
        "rate": (len(times) - 1) / span if span else 0.0,
        "max_overall_window": _max_in_window(times),
        "refused": limits.refused,
        "retried": limiter.retried,
        "max_chat_window": max(_max_in_window(ts) for ts in per_chat.values()),
        "replies": len(latencies),
        "reply_p50": statistics.median(latencies) if latencies else 0.0,
        "reply_max": max(latencies) if latencies else 0.0,
    }


def _verdict(ok: bool) -> str:
    return "met" if ok else "not met"


async def run(quick: bool) -> str:
    offers, talkers = (60, 3) if quick else (1_000, 5)
    r = await _burst(offers, talkers)
    ratio = r["rate"] / ALLOWED_RATE
    rows = [
        ("Offers delivered", f"{r['delivered']:.0f} of {offers}", "all", r["delivered"] == offers),
        (
            "Achieved rate (all sends)",
            f"{r['rate']:.1f}/s = {ratio:.0%} of {ALLOWED_RATE:.0f}/s",
            ">= 90%",
            ratio >= 0.9,
        ),
        ("429 answers", f"{r['refused']:.0f}", "0", r["refused"] == 0),
        (
            "Most messages to one chat in any 1 s",
            f"{r['max_chat_window']:.0f}",
            "<= 1",
            r["max_chat_window"] <= 1,
        ),
        (
            "Interactive reply latency during the burst (p50 / max)",
            f"{r['reply_p50'] * 1000:.0f} ms / {r['reply_max'] * 1000:.0f} ms"
            f" ({r['replies']:.0f} replies)",
            "< 1 s",
            r["replies"] > 0 and r["reply_max"] < 1.0,
        ),
    ]
    lines = [
        "## Pacing",
        "",
        f"{offers} offers to {offers} people through the chat limiter and the notifier, to a"
        " local Bot API server that answers 429 past 30 messages in any second overall or past"
        f" one a second in a chat; {talkers} people get a reply every 2 s meanwhile. Burst took"
        f" {r['elapsed']:.1f} s; most messages in any 1 s overall:"
        f" {r['max_overall_window']:.0f}; sends retried after a 429: {r['retried']:.0f}.",
        "",
        "| Figure | Measured | Target | |",
        "|---|---|---|---|",
        *(f"| {name} | {value} | {target} | {_verdict(ok)} |" for name, value, target, ok in rows),
    ]
    return "\n".join(lines) + "\n"
