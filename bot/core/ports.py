"""What the services need from the adapters, as interfaces the adapters implement.

Services tell people things in chat through a `Notifier` (the chat adapter's is
`bot.chat.notifier.ChatNotifier`, on the real Bot, paced by `bot.chat.pacing`), and
they wake the background loops (the outbox sender, the offer courier) through `Waker`. The
container (`bot.core.context.Services`) holds these, so neither it nor the services import
Telegram, the mail adapter or the jobs.
"""

from __future__ import annotations

from enum import Enum
from typing import Protocol

from bot.core.screen import Screen


class Delivery(Enum):
    """What became of a chat message. Only `SENT` is true, so `if await notifier.show(...)`
    reads as "if it went"."""

    SENT = "sent"
    BLOCKED = "blocked"  # the person blocked the bot (Telegram's 403): stop chatting to them
    LATER = "later"  # not now (still flooded after the limiter's retries, network): try again
    FAILED = "failed"  # anything else; the notifier has logged it

    def __bool__(self) -> bool:
        return self is Delivery.SENT


class Notifier(Protocol):
    """Telling a person something in chat outside their own conversation: best effort, one
    failure never stops the caller, and a failure is logged where it happened."""

    async def send_text(self, chat_id: int, text: str, what: str = "notice") -> Delivery:
        """An HTML text built from the catalogs (values escaped), cut into messages as needed;
        `what` names it in the log."""
        ...

    async def show(
        self, chat_id: int, user_id: int, screen: Screen, what: str = "notice"
    ) -> Delivery:
        """A screen with buttons, signed for `user_id` (the person who may press them)."""
        ...


class Waker(Protocol):
    def wake(self) -> None:
        """There is new work: do it now rather than at the next turn."""
        ...


class Worker(Protocol):
    """A background loop of this process: started after start-up, stopped at shutdown."""

    def start(self) -> None: ...

    async def stop(self) -> None: ...


class Loop(Waker, Worker, Protocol):
    """A background loop that also runs at once when woken (the offer courier)."""


class Outbox(Loop, Protocol):
    """The outbox sender: queued email goes out in the background, or now with `run_once`."""

    async def run_once(self) -> int: ...
