"""Per-person flood control: how many updates one person may send in a short time.

A token bucket per person: `FloodLimits.updates` tokens, refilled evenly over
`FloodLimits.seconds`; each update takes one. A person who types and taps at any human pace
never runs dry (a burst of `updates` is always allowed, and the bucket refills while they read),
while a script, a stuck key or a client replaying a queue is slowed to `updates / seconds` a
second, without slowing anyone else: every person has a bucket of their own.

Over the limit the update is **dropped, not delayed**. A delay would hold the person's update in
memory (lost on a restart, while the durable inbox already marked it done) and would hold back
the updates behind it; a dropped update has changed nothing, so no flow can be half-applied: the
person's conversation still waits on the question it asked. The first update dropped in a flood
gets one polite notice ("you are sending messages faster than I can read them; your last message
was not taken"), the rest of that flood are dropped silently, and the next update taken starts
over (a later flood gets a notice again).

Pure bookkeeping: the caller passes the time (seconds on a monotonic clock). `admit` makes no
await and so cannot interleave with another task's call: a `FloodGuard` may be shared by the
handlers of concurrently processed people. Buckets of people who have been quiet long enough to
be full again are forgotten (they would behave exactly like a new bucket), so memory stays
bounded by the people active in the last `seconds`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum


class Verdict(Enum):
    TAKE = "take"  # process the update
    NOTICE = "notice"  # drop it and tell the person, once per flood
    DROP = "drop"  # drop it silently (they were told)


@dataclass(frozen=True)
class FloodLimits:
    """At most `updates` in a burst, refilled at `updates` per `seconds`; 0 updates: no limit."""

    updates: int = 30
    seconds: float = 15.0

    @property
    def enabled(self) -> bool:
        return self.updates > 0 and self.seconds > 0

    @property
    def rate(self) -> float:
        """Tokens regained per second."""
        return self.updates / self.seconds


@dataclass
class _Bucket:
    tokens: float
    at: float
    told: bool = False  # the notice of the current flood was given


@dataclass
class FloodGuard:
    limits: FloodLimits = field(default_factory=FloodLimits)
    _buckets: dict[int, _Bucket] = field(default_factory=dict)
    _swept_at: float | None = None

    def admit(self, person: int, now: float) -> Verdict:
        """Whether `person`'s update arriving at `now` is taken."""
        if not self.limits.enabled:
            return Verdict.TAKE
        self._forget_quiet(now)
        bucket = self._buckets.get(person)
        if bucket is None:
            bucket = self._buckets[person] = _Bucket(float(self.limits.updates), now)
        else:  # time never runs backwards here, even if the caller's clock did
            elapsed = max(0.0, now - bucket.at)
            bucket.tokens = min(
                float(self.limits.updates), bucket.tokens + elapsed * self.limits.rate
            )
            bucket.at = max(bucket.at, now)
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            bucket.told = False
            return Verdict.TAKE
        if bucket.told:
            return Verdict.DROP
        bucket.told = True
        return Verdict.NOTICE

    def tracked(self) -> int:
        """How many people have a bucket (for tests of the memory bound)."""
        return len(self._buckets)

    def _forget_quiet(self, now: float) -> None:
        """At most once per `seconds`: drop buckets full again by now (as good as new)."""
        if self._swept_at is not None and now - self._swept_at < self.limits.seconds:
            return
        self._swept_at = now
        rate, full = self.limits.rate, float(self.limits.updates)
        quiet = [p for p, b in self._buckets.items() if b.tokens + (now - b.at) * rate >= full]
        for person in quiet:
            del self._buckets[person]
