"""Time as a dependency.

Every piece of code that needs "now" asks a clock it was given, so tests and the demo can travel
in time (code expiry, rate limits, reminders) without sleeping or patching the standard library.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware in UTC."""
        ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


@dataclass
class FrozenClock:
    """A clock that only moves when told to: for tests."""

    current: datetime = field(default_factory=lambda: datetime(2026, 11, 24, 9, 0, tzinfo=UTC))

    def now(self) -> datetime:
        return self.current

    def advance(self, delta: timedelta) -> None:
        self.current += delta


@dataclass
class ShiftedClock:
    """The system clock moved to another day: the demo's `--today`, for showing what happens
    on a given date (reply-by dates, seasons) while time still runs."""

    offset: timedelta

    @classmethod
    def starting(cls, day: datetime) -> ShiftedClock:
        return cls(day - datetime.now(UTC))

    def now(self) -> datetime:
        return datetime.now(UTC) + self.offset
