"""`python -m tests.support.paused_bot`: `python -m bot run`, except that before it processes an
update it writes `<PAUSE_DIR>/taken-<update_id>` and, if `<PAUSE_DIR>/hold` exists, waits forever.

A test kills it there: after the update was taken from Telegram and committed to the inbox, before
any of it was processed (the production code has no hook for this; the module wraps the one step).
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from bot.__main__ import main
from bot.chat.inbox import Inbox
from storage.models import InboxUpdate

_handle = Inbox.handle


async def _paused(self: Inbox, row: InboxUpdate) -> None:
    pause = Path(os.environ["PAUSE_DIR"])
    (pause / f"taken-{row.update_id}").touch()
    if (pause / "hold").exists():
        await asyncio.Event().wait()  # until the test kills the process
    await _handle(self, row)


if __name__ == "__main__":
    Inbox.handle = _paused  # type: ignore[method-assign]
    sys.exit(main(["run"]))
