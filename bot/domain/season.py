"""The exchange calendar: seasons (April-March), the months a stay touches, reply-by dates.

Pure date arithmetic, kept apart so the importer, the matcher and the offer service agree on it.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Final

# IFMSA: a host confirms a student's place (Card of Acceptance) at least 8 weeks before the start.
ACCEPTANCE_WEEKS: Final = 8
FIRST_MONTH: Final = 4  # April


def season_of(d: date) -> int:
    """The season a day belongs to, named by the year of its April (March 2027 -> 2026)."""
    return d.year if d.month >= FIRST_MONTH else d.year - 1


def season_months(season: int) -> list[str]:
    """The twelve months of a season as "YYYY-MM", April first."""
    return [
        f"{season + (m - 1) // 12}-{(m - 1) % 12 + 1:02d}"
        for m in range(FIRST_MONTH, FIRST_MONTH + 12)
    ]


def months_touched(start: date, weeks: int) -> list[str]:
    """Every calendar month ("YYYY-MM") any day of [start, start + weeks) falls in, in order.

    A supervisor must be available for all of them: a four-week stay starting 20 January also
    needs February.
    """
    if weeks <= 0:
        return []
    last = start + timedelta(days=weeks * 7 - 1)
    months: list[str] = []
    year, month = start.year, start.month
    while (year, month) <= (last.year, last.month):
        months.append(f"{year}-{month:02d}")
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return months


def reply_by(start: date, margin_weeks: int) -> date:
    """The last day a supervisor can say yes: IFMSA's deadline minus the coordinators' margin."""
    return start - timedelta(weeks=ACCEPTANCE_WEEKS + margin_weeks)


def seasons_open(today: date) -> list[int]:
    """The seasons a task can be defined for: the current one (if more than two months of it
    remain) and the next; otherwise the next two. The first is a new task's default."""
    current = season_of(today)
    remaining = (current + 1) * 12 + 3 - (today.year * 12 + today.month)
    return [current, current + 1] if remaining > 2 else [current + 1, current + 2]


def first_open_month(today: date) -> str:
    """The first month ("YYYY-MM") still open for applications: its first day is at least
    IFMSA's acceptance period away, so a student placed in it can still be confirmed."""
    earliest = today + timedelta(weeks=ACCEPTANCE_WEEKS)
    year, month = earliest.year, earliest.month
    if earliest.day > 1:
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return f"{year}-{month:02d}"
