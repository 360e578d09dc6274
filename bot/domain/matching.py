"""Which tasks may be offered a slot, best first. Pure: the storage layer builds the views.

Everything the decision needs is flattened into two frozen views (`SlotView`, `Candidate`) so the
policy is one function that property tests can hammer without a database. The filters are hard
rules (a paused or unverified supervisor, an unapproved task or a task without a free place is
never asked); the order is a soft preference: the student's field first, then whoever was asked
least recently (spreading the load is how supervisors stay willing), then the task id so the
same input always gives the same ranking.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

from bot.domain.season import months_touched


@dataclass(frozen=True)
class SlotView:
    slot_id: int
    exchange_type: str
    city: str
    start_date: date
    weeks: int
    open_places: int
    field_preference: str | None


@dataclass(frozen=True)
class Candidate:
    task_id: int
    supervisor_id: int
    exchange_type: str
    city: str
    weeks: int
    months: tuple[str, ...]
    capacity: int
    busy: int  # accepted (or awaiting an answer) offers of this task overlapping the slot's stay
    field: str
    supervisor_active: bool  # active, and not paused now or on the slot's start
    verified: bool
    task_approved: bool  # approved (so neither withdrawn nor archived)
    recent_asks: int  # offers sent to this supervisor in the last 90 days
    already_offered: bool  # this slot was already offered to this supervisor
    declined_months: tuple[str, ...] = ()  # months this task answered "not this month" for


def eligible(slot: SlotView, candidate: Candidate) -> bool:
    """The hard rules: every one must hold for a task to be asked."""
    needed = months_touched(slot.start_date, slot.weeks)
    return (
        candidate.exchange_type == slot.exchange_type
        and candidate.city == slot.city
        and candidate.weeks == slot.weeks
        and all(month in candidate.months for month in needed)
        and not any(month in candidate.declined_months for month in needed)
        and candidate.busy < candidate.capacity
        and candidate.supervisor_active
        and candidate.verified
        and candidate.task_approved
        and not candidate.already_offered
    )


def rank(slot: SlotView, candidates: Iterable[Candidate]) -> list[Candidate]:
    """The eligible candidates, best first, at most one task per supervisor (nobody gets the
    same slot twice); deterministic and independent of input order."""
    ordered = sorted(
        (c for c in candidates if eligible(slot, c)),
        key=lambda c: (
            not (slot.field_preference is not None and c.field == slot.field_preference),
            c.recent_asks,
            c.task_id,
        ),
    )
    seen: set[int] = set()
    best: list[Candidate] = []
    for candidate in ordered:
        if candidate.supervisor_id not in seen:
            seen.add(candidate.supervisor_id)
            best.append(candidate)
    return best
