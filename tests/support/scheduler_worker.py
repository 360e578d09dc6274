"""A scheduler process for the two-process leader test.

Run as `python -m tests.support.scheduler_worker`: settings come from the environment as in
production (DATABASE_URL, VAR_DIR, SECRET_KEY), plus SCHEDULER_LEASE_SECONDS and SWEEP_LOG. It
runs the real `Scheduler` (lease, renewal job, leader check before each sweep) with one sweep
that appends `{"pid", "start", "end"}` (wall-clock seconds) to SWEEP_LOG, taking a moment, every
second, until it is killed (SIGKILL) or stopped (SIGTERM, which lets go of the lease).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import sys
import time
from datetime import timedelta
from pathlib import Path

from bot.core.context import Services
from bot.core.settings import Settings
from bot.domain.clock import SystemClock
from bot.jobs.scheduler import Scheduler, Sweep
from bot.mail.backends import FileBackend
from bot.mail.sender import OutboxSender
from storage.db import Database


def recording_sweep(log_path: Path) -> Sweep:
    async def run() -> None:
        start = time.time()
        await asyncio.sleep(0.3)  # long enough that two sweepers at once would overlap
        line = json.dumps({"pid": os.getpid(), "start": start, "end": time.time()}) + "\n"
        with log_path.open("a") as log:  # one short append per line: lines never interleave
            log.write(line)

    return Sweep("record", run, 1)


async def main() -> int:
    settings = Settings()
    logging.basicConfig(level=settings.log_level, stream=sys.stderr)
    lease = timedelta(seconds=float(os.environ["SCHEDULER_LEASE_SECONDS"]))
    db = Database(settings.database)
    clock = SystemClock()
    svc = Services(
        settings=settings,
        db=db,
        clock=clock,
        secret=b"scheduler-worker",
        sender=OutboxSender(db, FileBackend(settings.mail_dir), clock),
    )
    sweep = recording_sweep(Path(os.environ["SWEEP_LOG"]))
    scheduler = Scheduler(svc, sweep_list=[sweep], lease=lease)
    stopped = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stopped.set)
    scheduler.start()
    try:
        await stopped.wait()
    finally:
        await scheduler.stop()
        await db.close()
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
