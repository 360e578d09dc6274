"""When may the next chat message go out: Telegram's flood limits as pure bookkeeping.

Telegram answers 429 past about 30 messages a second overall and about one a second in one chat
(short bursts tolerated). The chat adapter's rate limiter (`bot.chat.pacing`) asks a `Pacer`
which waiting requests may go now and how long to wait for the next; the pacer only counts,
so the rules can be tested without a clock or an event loop.

- Overall: at most `Limits.overall` messages (sends and edits) in any `Limits.window` seconds
  (a sliding window), a little under Telegram's 30, and spread evenly: a bucket of
  `Limits.overall_burst` refilled at `overall` per window, so requests do not leave in clumps
  that the network could squeeze into a window Telegram counts differently.
- Per chat: a token bucket of `Limits.chat_burst` sends refilled at one per
  `Limits.chat_interval` seconds. Edits change a message already there and take no token.
- Priority: a waiting interactive reply goes before any waiting bulk send (nudges, offers,
  notices); within one priority, first come first served, except that a request whose chat
  must still wait lets the others past.
- A 429 pauses the chat it came from for as long as Telegram said; a second chat's 429 within
  one window means the overall limit was hit, so everything pauses.
"""

from __future__ import annotations

import bisect
from collections import deque
from dataclasses import dataclass, field
from enum import IntEnum

# Float slack: a ticket due at `t` by one computation is not refused at `t` by another.
EPSILON = 1e-9


class Priority(IntEnum):
    """Lower goes first."""

    INTERACTIVE = 0  # a reply to what a person just did
    BULK = 1  # nudges, offers, notices: nobody is waiting on the other side


@dataclass(frozen=True)
class Limits:
    overall: int = 29
    window: float = 1.0
    overall_burst: int = 1
    chat_burst: int = 3
    chat_interval: float = 1.0


@dataclass(frozen=True, order=True)
class Ticket:
    """A request waiting for its turn. Ordered by priority, then arrival."""

    priority: Priority
    seq: int
    chat: int | str | None = field(compare=False)
    takes_token: bool = field(compare=False)  # a send (takes a chat token) or an edit


@dataclass
class _Bucket:
    tokens: float
    at: float


class Pacer:
    """The waiting requests and what has gone out recently. Times are seconds on any monotonic
    scale; every call passes `now`, and `now` never goes back."""

    def __init__(self, limits: Limits | None = None) -> None:
        self.limits = limits or Limits()
        self._waiting: list[Ticket] = []
        self._recent: deque[float] = deque()  # times of the grants within the last window
        self._spread = _Bucket(float(self.limits.overall_burst), float("-inf"))
        self._buckets: dict[int | str, _Bucket] = {}
        self._chat_paused: dict[int | str, float] = {}
        self._all_paused = float("-inf")
        self._last_pause: tuple[int | str | None, float] = (None, float("-inf"))
        self._seq = 0

    # -- the queue ---------------------------------------------------------------------------

    def submit(
        self,
        chat: int | str | None,
        priority: Priority = Priority.INTERACTIVE,
        *,
        takes_token: bool = True,
        seq: int | None = None,
    ) -> Ticket:
        """Queue a request. A retried request passes its first `seq` and keeps its place."""
        if seq is None:
            self._seq += 1
            seq = self._seq
        ticket = Ticket(priority, seq, chat, takes_token and chat is not None)
        bisect.insort(self._waiting, ticket)
        return ticket

    def cancel(self, ticket: Ticket) -> None:
        if ticket in self._waiting:
            self._waiting.remove(ticket)

    @property
    def waiting(self) -> list[Ticket]:
        return list(self._waiting)

    # -- decisions ---------------------------------------------------------------------------

    def grant(self, now: float) -> list[Ticket]:
        """The tickets that may go now, in the order they should go, taken off the queue and
        counted as gone out at `now`."""
        granted: list[Ticket] = []
        remaining: list[Ticket] = []
        for index, ticket in enumerate(self._waiting):
            if self._overall_free_at(now) > now:
                remaining.extend(self._waiting[index:])
                break
            if self.chat_ready_at(ticket, now) > now:
                remaining.append(ticket)
                continue
            self._take(ticket, now)
            granted.append(ticket)
        self._waiting = remaining
        if len(self._buckets) > 4096:
            self._forget_full_buckets(now)
        return granted

    def next_time(self, now: float) -> float | None:
        """When the next waiting ticket could go (`now` at the earliest); None if none waits."""
        if not self._waiting:
            return None
        chat_ready = min(self.chat_ready_at(ticket, now) for ticket in self._waiting)
        return max(now, chat_ready, self._overall_free_at(now))

    def chat_ready_at(self, ticket: Ticket, now: float) -> float:
        """When the ticket's chat lets it go, regardless of the overall limit."""
        if ticket.chat is None:
            return now
        ready = max(now, self._chat_paused.get(ticket.chat, now))
        if ticket.takes_token:
            tokens = self._tokens(ticket.chat, ready)
            if tokens < 1 - EPSILON:
                ready += (1 - tokens) * self.limits.chat_interval
        return ready

    # -- what Telegram said ------------------------------------------------------------------

    def retry_after(self, chat: int | str | None, seconds: float, now: float) -> None:
        """Telegram answered 429 "retry after `seconds`" to a request for `chat`."""
        until = now + max(seconds, 0.0)
        last_chat, last_at = self._last_pause
        if chat is None or (last_chat != chat and now - last_at < self.limits.window):
            self._all_paused = max(self._all_paused, until)
        if chat is not None:
            self._chat_paused[chat] = max(self._chat_paused.get(chat, until), until)
            self._buckets[chat] = _Bucket(0.0, now)
        self._last_pause = (chat, now)

    # -- bookkeeping -------------------------------------------------------------------------

    def _overall_free_at(self, now: float) -> float:
        window = self.limits.window
        while self._recent and self._recent[0] <= now - window + EPSILON:
            self._recent.popleft()
        free = self._all_paused
        tokens = self._spread_tokens(now)
        if tokens < 1 - EPSILON:
            free = max(free, now + (1 - tokens) * window / self.limits.overall)
        if len(self._recent) >= self.limits.overall:
            free = max(free, self._recent[-self.limits.overall] + window)
        return max(now, free)

    def _tokens(self, chat: int | str, at: float) -> float:
        """The chat's tokens at time `at` (not before its last send)."""
        burst = float(self.limits.chat_burst)
        bucket = self._buckets.get(chat)
        if bucket is None:
            return burst
        return min(burst, bucket.tokens + max(0.0, at - bucket.at) / self.limits.chat_interval)

    def _spread_tokens(self, at: float) -> float:
        burst = float(self.limits.overall_burst)
        if self._spread.at == float("-inf"):
            return burst
        gained = max(0.0, at - self._spread.at) * self.limits.overall / self.limits.window
        return min(burst, self._spread.tokens + gained)

    def _take(self, ticket: Ticket, now: float) -> None:
        self._recent.append(now)
        self._spread = _Bucket(self._spread_tokens(now) - 1, now)
        if ticket.chat is not None and ticket.takes_token:
            self._buckets[ticket.chat] = _Bucket(self._tokens(ticket.chat, now) - 1, now)

    def _forget_full_buckets(self, now: float) -> None:
        """A chat whose bucket has filled again is as good as new: keep memory bounded."""
        for chat in list(self._buckets):
            if self._tokens(chat, now) >= self.limits.chat_burst:
                del self._buckets[chat]
        for chat, until in list(self._chat_paused.items()):
            if until <= now:
                del self._chat_paused[chat]
