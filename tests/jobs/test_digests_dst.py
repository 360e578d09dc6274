"""Digests across Norway's clock changes (2026-03-29 and 2026-10-25, Europe/Oslo): the scheduler's
call, every minute of the days around them, with a restart just after the send time, makes
exactly one daily digest per local date at 07:30 local time, and one weekly digest per ISO
week on Monday at 07:30.

The restart is a new `Database` (new engine, new connections): only what is in the database
carries over, as after a real restart."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import col, select

from bot.core.settings import Settings
from bot.domain import periods
from bot.domain.clock import FrozenClock
from bot.services import digests
from storage.db import Database
from storage.models import Coordinator, OutboxEmail
from tests.support import slots as make

OSLO = ZoneInfo("Europe/Oslo")


@pytest.fixture
def database_url(sqlite_url: str) -> str:
    """Thousands of scheduler calls: the database is not what these tests are about."""
    return sqlite_url


def local(*args: int) -> datetime:
    return datetime(*args, tzinfo=OSLO).astimezone(UTC)  # type: ignore[misc]


async def _coordinator_with_an_open_place(settings: Settings, frequency: str) -> int:
    db = Database(settings.database)
    try:
        async with db.session() as s:
            row = Coordinator(email="nora@nmf.example", role="LEO", exchange_type="clinical",
                              city="oslo", language="en", digest_frequency=frequency,
                              invited_at=datetime(2026, 1, 1, tzinfo=UTC),
                              bound_at=datetime(2026, 1, 2, tzinfo=UTC))  # fmt: skip
            s.add(row)
            await make.slot(s, "OSL-1", exchange_type="clinical", start_date=date(2027, 6, 7))
            await s.flush()
            return row.id or 0
    finally:
        await db.close()


async def _run(
    settings: Settings, clock: FrozenClock, end: datetime, step: timedelta, restart_at: datetime
) -> list[OutboxEmail]:
    """Call the digest sweep at every step until `end`, restarting once at `restart_at`."""
    db = Database(settings.database)
    try:
        restarted = False
        while clock.now() <= end:
            if not restarted and clock.now() >= restart_at:
                await db.close()
                db = Database(settings.database)
                restarted = True
            await digests.send_due_digests(db, settings, clock.now())
            clock.advance(step)
        assert restarted
        async with db.session() as s:
            result = await s.execute(
                select(OutboxEmail)
                .where(col(OutboxEmail.kind) == digests.KIND)
                .order_by(col(OutboxEmail.id))
            )
            return list(result.scalars())
    finally:
        await db.close()


def _local_sends(emails: list[OutboxEmail]) -> list[tuple[str, datetime]]:
    return [
        (e.idempotency_key.rsplit(":", 1)[1], e.created_at.astimezone(OSLO).replace(tzinfo=None))
        for e in emails
    ]


@pytest.mark.parametrize(
    "change",
    [date(2026, 3, 29), date(2026, 10, 25)],
    ids=["spring-forward", "fall-back"],
)
async def test_a_daily_digest_minute_by_minute_across_a_clock_change(settings, change):
    coordinator_id = await _coordinator_with_an_open_place(settings, periods.DAILY)
    before, after = change - timedelta(days=1), change + timedelta(days=1)
    clock = FrozenClock(local(before.year, before.month, before.day, 0, 0))
    end = local(after.year, after.month, after.day, 23, 59)
    restart = local(change.year, change.month, change.day, 7, 31)  # just after the send

    sent = await _run(settings, clock, end, timedelta(minutes=1), restart)

    assert _local_sends(sent) == [
        (day.isoformat(), datetime(day.year, day.month, day.day, 7, 30))
        for day in (before, change, after)
    ]
    assert [e.idempotency_key for e in sent] == [
        f"digest:{coordinator_id}:{day.isoformat()}" for day in (before, change, after)
    ]
    per_day = Counter(e.created_at.astimezone(OSLO).date() for e in sent)
    assert set(per_day.values()) == {1}, "exactly one digest per local date"


async def test_a_weekly_digest_comes_on_monday_at_0730_once_per_iso_week(settings):
    coordinator_id = await _coordinator_with_an_open_place(settings, periods.WEEKLY)
    # Three ISO weeks around the autumn change (Sunday 25 October), every ten minutes.
    clock = FrozenClock(local(2026, 10, 19, 0, 0))
    end = local(2026, 11, 8, 23, 50)
    restart = local(2026, 10, 26, 7, 40)

    sent = await _run(settings, clock, end, timedelta(minutes=10), restart)

    assert _local_sends(sent) == [
        ("2026-W43", datetime(2026, 10, 19, 7, 30)),
        ("2026-W44", datetime(2026, 10, 26, 7, 30)),
        ("2026-W45", datetime(2026, 11, 2, 7, 30)),
    ]
    assert {e.idempotency_key.split(":")[1] for e in sent} == {str(coordinator_id)}


async def test_a_week_the_scheduler_missed_on_monday_catches_up_once(settings):
    await _coordinator_with_an_open_place(settings, periods.WEEKLY)
    # The scheduler was down on Monday and Tuesday: it starts on Wednesday at noon, then runs
    # every hour until just before the next Monday's digest.
    clock = FrozenClock(local(2026, 3, 25, 12, 0))
    end = local(2026, 3, 30, 7, 0)

    sent = await _run(settings, clock, end, timedelta(hours=1), local(2026, 3, 26, 0, 0))

    assert _local_sends(sent) == [("2026-W13", datetime(2026, 3, 25, 12, 0))]
