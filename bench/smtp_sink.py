"""A local SMTP server for the mail benchmark, run as its own process so that it never takes the
event loop (or the GIL) from the sender being measured: `python -m bench.smtp_sink`.

It accepts every message (aiosmtpd, nothing parsed, nothing kept but a count), prints its port
on stdout once listening, then answers each `count` line on stdin with
`<messages> <cpu seconds>`, and exits when stdin closes.
"""

from __future__ import annotations

import asyncio
import os
import sys
import threading
from typing import Any

from aiosmtpd.smtp import SMTP


class Counter:
    def __init__(self) -> None:
        self.messages = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages += 1
        return "250 Message accepted for delivery"


def answer_commands(counter: Counter, loop: asyncio.AbstractEventLoop, done: asyncio.Event) -> None:
    for line in sys.stdin:
        if line.strip() == "count":
            times = os.times()
            print(f"{counter.messages} {times.user + times.system:.3f}", flush=True)
    loop.call_soon_threadsafe(done.set)


async def main() -> None:
    counter = Counter()
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: SMTP(counter, hostname="bench.local", enable_SMTPUTF8=True),
        "127.0.0.1",
        0,
    )
    print(server.sockets[0].getsockname()[1], flush=True)
    done = asyncio.Event()
    threading.Thread(target=answer_commands, args=(counter, loop, done), daemon=True).start()
    await done.wait()
    server.close()


if __name__ == "__main__":
    asyncio.run(main())
