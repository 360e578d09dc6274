"""A digest's periods: which one a moment is in and when its digest becomes due. Pure.

A period is a local date ("2026-11-24", daily) or an ISO week ("2026-W48", weekly, weeks start
on Monday). Its digest is due from a local time of day on its first day; moments are compared in
UTC, so the days when Norway changes clocks are days like any other (`due_moment` says what
happens to a time the change skips or repeats).
"""

from __future__ import annotations

import re
from collections.abc import Collection
from datetime import UTC, date, datetime, time, timedelta
from typing import Final
from zoneinfo import ZoneInfo

DAILY: Final = "daily"
WEEKLY: Final = "weekly"
FREQUENCIES: Final = (DAILY, WEEKLY)


def parse_time(value: str) -> time:
    """ "07:30" -> 07:30; raises ValueError for anything else."""
    match = re.fullmatch(r"([0-9]{1,2}):([0-9]{2})", value.strip())
    if match is None:  # ASCII digits only: "²".isdigit() is true, and int() refuses it
        raise ValueError(f"expected HH:MM, not {value!r}")
    return time(int(match.group(1)), int(match.group(2)))


def first_day(day: date, frequency: str) -> date:
    """The first day of the period `day` is in: the day itself, or the Monday of its week."""
    return day if frequency == DAILY else day - timedelta(days=day.weekday())


def period_key(day: date, frequency: str) -> str:
    """ "2026-11-24" (daily) or "2026-W48" (weekly, ISO week) for the period `day` is in."""
    if frequency == DAILY:
        return day.isoformat()
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"


def local_day(now: datetime, tz: ZoneInfo) -> date:
    return now.astimezone(tz).date()


def due_moment(day: date, frequency: str, at: time, tz: ZoneInfo) -> datetime:
    """When the digest of the period `day` is in becomes due, in UTC (`at` local, first day).

    A wall-clock time that does not exist that day (skipped by the spring change) counts as
    the same time before the change, i.e. an hour later; one that occurs twice, the first one.
    """
    local = datetime.combine(first_day(day, frequency), at, tzinfo=tz)
    return local.astimezone(UTC)


def due_period(
    now: datetime, frequency: str, at: time, tz: ZoneInfo, done: Collection[str]
) -> str | None:
    """The period whose digest is due at `now`, or None: the current period, once its start
    moment has passed and no run of it is in `done`."""
    day = local_day(now, tz)
    key = period_key(day, frequency)
    if key in done or now < due_moment(day, frequency, at, tz):
        return None
    return key


def previous_start(now: datetime, frequency: str, at: time, tz: ZoneInfo) -> datetime:
    """The due moment of the period before the current one (the default start of a report)."""
    start = first_day(local_day(now, tz), frequency)
    before = start - timedelta(days=1 if frequency == DAILY else 7)
    return due_moment(before, frequency, at, tz)
