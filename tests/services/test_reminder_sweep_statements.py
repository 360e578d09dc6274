"""Each sweep and each growing read issues the same number of SQL statements whatever the number
of supervisors (no query per supervisor, per slot or per offer). Counts, not timings: they may be
asserted. The databases are the growth benchmark's (`bench.growth_seed`), run through the same
operations as `make bench`; a run of the reminder sweep and of the season check handles one
batch, and the next run the next one, until everyone was handled once."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlmodel import col, func, select

from bench import growth
from bench.growth_seed import DAY, SEASON_DAY, seed
from bot.core.context import Services
from bot.domain.clock import FrozenClock
from bot.services import offer_reminders
from bot.services.campaigns import season_check
from storage.db import Database
from storage.models import OfferEmail, OutboxEmail, SeasonCheck

OPERATIONS = (
    "propose one slot",
    "reminder sweep, night",
    "reminder sweep, working hours",
    "/slots (national)",
    "digest preview (national)",
    "digest sweep",
    "season check, one run",
)


async def test_every_operation_costs_as_many_statements_at_40_supervisors_as_at_400(
    tmp_path: Path,
) -> None:
    small = await growth.one_size(40, tmp_path)
    large = await growth.one_size(400, tmp_path)
    for name in OPERATIONS:
        assert small.figures[name].statements == large.figures[name].statements, name
    assert large.figures["reminder sweep, night"].statements == 0
    # Each did its work at both sizes: emails queued, follow-ups nudged, people asked.
    assert small.figures["reminder sweep, working hours"].result.startswith("14 emails, 6 nudges")
    assert large.figures["reminder sweep, working hours"].result.startswith("122 emails, 60 nudges")
    assert small.figures["season check, one run"].result == "40 asked, 40 chat"
    assert large.figures["season check, one run"].result == "400 asked, 400 chat"
    assert large.figures["/slots (national)"].result.startswith("41 slots")
    assert large.figures["digest sweep"].result == "5 digests"  # national clinical has nothing


@pytest.fixture
async def seeded(tmp_path: Path) -> AsyncIterator[Services]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'seeded.sqlite3'}"
    await asyncio.to_thread(seed, url, 40)  # Alembic runs its own event loop
    db = Database(url)
    svc = Services(
        settings=growth._settings(url, tmp_path),
        db=db,
        clock=FrozenClock(DAY),
        secret=b"test-growth",
        sender=growth.IdleOutbox(),
        notifier=growth.RecordingNotifier(),
    )
    yield svc
    await db.close()


async def _count(svc: Services, statement) -> int:  # type: ignore[no-untyped-def]
    async with svc.db.session() as session:
        return int(await session.scalar(statement) or 0)


async def test_the_season_check_asks_a_batch_a_run_until_everyone_was_asked_once(
    seeded: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(season_check, "BATCH", 15)
    assert isinstance(seeded.clock, FrozenClock)
    seeded.clock.current = SEASON_DAY
    asked = [await season_check.season_check_sweep(seeded) for _ in range(4)]
    assert asked == [15, 15, 10, 0]
    assert await _count(seeded, select(func.count(func.distinct(SeasonCheck.supervisor_id)))) == 40
    emails = select(func.count()).where(col(OutboxEmail.kind) == "season_check")
    assert await _count(seeded, emails) == 40
    assert isinstance(seeded.notifier, growth.RecordingNotifier)
    chats = [chat for chat, _ in seeded.notifier.shown]
    assert len(chats) == len(set(chats)) == 40


async def test_the_scheduler_s_reminder_sweep_goes_on_where_it_stopped_and_starts_again(
    seeded: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    # 40 supervisors, 4 slots: 12 with a waiting offer, half of them with a follow-up due.
    monkeypatch.setattr(offer_reminders, "BATCH", 5)
    cursor = offer_reminders.Cursor()
    queued = [await offer_reminders.reminder_sweep(seeded, cursor) for _ in range(4)]
    assert queued == [5, 5, 2, 0]  # the fourth run starts again: everyone had today's email
    assert cursor.after == 5  # the fourth run read the first batch again
    reminded = select(func.count(func.distinct(OfferEmail.offer_id))).where(
        col(OfferEmail.created_at) == DAY
    )
    assert await _count(seeded, reminded) == 12
