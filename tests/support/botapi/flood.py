"""Telegram's flood control for the fake Bot API: a 429 "Too Many Requests: retry after N"
(with `parameters.retry_after`), either scripted (`Floods.next`: the next sends to a chat are
refused) or measured on real time (`FloodLimits`: past N messages a second overall or past a
per-chat bucket, as the pacing benchmark needs).

Sends are the `send*` methods (not `sendChatAction`); edits count towards the overall limit only.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any


def is_send(method: str) -> bool:
    return method.startswith("send") and method != "sendChatAction"


def is_paced(method: str) -> bool:
    return is_send(method) or method.startswith("editMessage")


def too_many_requests(retry_after: int) -> dict[str, Any]:
    return {
        "ok": False,
        "error_code": 429,
        "description": f"Too Many Requests: retry after {retry_after}",
        "parameters": {"retry_after": retry_after},
    }


@dataclass
class FloodLimits:
    """Refuse past `overall` messages in any `window` seconds, or past a bucket of `chat_burst`
    sends refilled at one per `chat_interval` seconds in one chat. Refused calls do not count."""

    overall: int = 30
    window: float = 1.0
    chat_burst: int = 3
    chat_interval: float = 1.0
    clock: Callable[[], float] = time.monotonic
    refused: int = 0
    accepted: list[tuple[float, Any]] = field(default_factory=list)  # (time, chat) of sends
    _recent: deque[float] = field(default_factory=deque)
    _buckets: dict[Any, tuple[float, float]] = field(default_factory=dict)

    def check(self, method: str, params: Mapping[str, Any]) -> int | None:
        """None if the call may go, else the seconds to tell the caller to wait."""
        now = self.clock()
        while self._recent and self._recent[0] <= now - self.window:
            self._recent.popleft()
        if len(self._recent) >= self.overall:
            self.refused += 1
            return max(1, math.ceil(self._recent[0] + self.window - now))
        chat = params.get("chat_id")
        if is_send(method) and chat is not None:
            tokens, at = self._buckets.get(chat, (float(self.chat_burst), now))
            tokens = min(float(self.chat_burst), tokens + (now - at) / self.chat_interval)
            if tokens < 1:
                self.refused += 1
                return max(1, math.ceil((1 - tokens) * self.chat_interval))
            self._buckets[chat] = (tokens - 1, now)
        if is_send(method):
            self.accepted.append((now, chat))
        self._recent.append(now)
        return None


@dataclass
class Floods:
    """What the fake refuses with 429: scripted refusals per chat, and optional limits."""

    limits: FloodLimits | None = None
    scripted: dict[int, list[int]] = field(default_factory=dict)
    refused: list[tuple[str, Any]] = field(default_factory=list)

    def next(self, chat_id: int, times: int = 1, retry_after: int = 1) -> None:
        """The next `times` sends to `chat_id` are refused with "retry after `retry_after`"."""
        self.scripted.setdefault(chat_id, []).extend([retry_after] * times)

    def check(self, method: str, params: Mapping[str, Any]) -> dict[str, Any] | None:
        """The 429 body to answer instead of serving the call, or None."""
        if not is_paced(method):
            return None
        chat = params.get("chat_id")
        waiting = self.scripted.get(chat) if isinstance(chat, int) and is_send(method) else None
        if waiting:
            self.refused.append((method, chat))
            return too_many_requests(waiting.pop(0))
        if self.limits is not None:
            seconds = self.limits.check(method, params)
            if seconds is not None:
                self.refused.append((method, chat))
                return too_many_requests(seconds)
        return None
