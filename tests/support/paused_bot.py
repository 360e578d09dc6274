"""`python -m tests.support.paused_bot`: `python -m bot run`, except that at one point of an
update's life (`PAUSE_AT`) it writes `<PAUSE_DIR>/<point>-<update_id>` and, if
`<PAUSE_DIR>/hold` names that update's id, waits forever, so that a test can kill it exactly
there (any other update, such as a /help sent after a restart, goes on):

- `fetched`: `getUpdates` returned it, nothing is stored yet;
- `stored`: committed to the inbox, the next offset not yet asked for;
- `taken` (the default): its processing starts, nothing of it is done;
- `answered`: its first Bot API call went out (it is not done yet), the handler has not finished;
- `finished`: processed and done, before anything else (the purge, the next poll's offset).

The production code has no hooks for this; the module wraps the inbox's steps.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Iterable
from contextvars import ContextVar
from pathlib import Path
from typing import Any

from telegram import Update

from bot.__main__ import main
from bot.chat.inbox import AnswerGate, Inbox
from storage.inbox import Received
from storage.models import InboxUpdate

POINT = os.environ.get("PAUSE_AT", "taken")
_handle, _poll, _store, _request = Inbox.handle, Inbox._poll, Inbox._store, AnswerGate.do_request
_current: ContextVar[int | None] = ContextVar("paused_update", default=None)
_answered: set[int] = set()


async def _pause(point: str, update_ids: Iterable[int]) -> None:
    if point != POINT:
        return
    pause, update_ids = Path(os.environ["PAUSE_DIR"]), list(update_ids)
    for update_id in update_ids:
        (pause / f"{point}-{update_id}").touch()
    hold = pause / "hold"
    if hold.exists() and hold.read_text().strip() in {str(i) for i in update_ids}:
        await asyncio.Event().wait()  # until the test kills the process


async def _paused_poll(self: Inbox, stop: asyncio.Event) -> tuple[Update, ...] | None:
    batch = await _poll(self, stop)
    await _pause("fetched", [update.update_id for update in batch or ()])
    return batch


async def _paused_store(self: Inbox, received: list[Received]) -> bool:
    stored = await _store(self, received)
    await _pause("stored", [item.update_id for item in received])
    return stored


async def _paused_handle(self: Inbox, row: InboxUpdate) -> None:
    await _pause("taken", [row.update_id])
    token = _current.set(row.update_id)
    try:
        await _handle(self, row)
    finally:
        _current.reset(token)
    await _pause("finished", [row.update_id])


async def _paused_request(self: AnswerGate, *args: Any, **kwargs: Any) -> tuple[int, bytes]:
    answer = await _request(self, *args, **kwargs)
    update_id = _current.get()
    if update_id is not None and update_id not in _answered:
        _answered.add(update_id)
        await _pause("answered", [update_id])
    return answer


if __name__ == "__main__":
    Inbox.handle = _paused_handle  # type: ignore[method-assign]
    Inbox._poll = _paused_poll  # type: ignore[method-assign]
    Inbox._store = _paused_store  # type: ignore[method-assign]
    AnswerGate.do_request = _paused_request  # type: ignore[method-assign]
    sys.exit(main(["run"]))
