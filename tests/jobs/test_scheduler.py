"""The scheduler: every sweep runs against a real database without error, and on either
database only one process (the lease row's holder) sweeps at a time."""

from __future__ import annotations

from datetime import timedelta

from bot.app import build_application, running, services_of
from bot.jobs.scheduler import Scheduler
from storage import repository
from storage.models import Conversation
from tests.support.botapi.request import RecordingRequest
from tests.support.pacing import virtual_limiter


async def test_every_sweep_runs_once_cleanly(app, services):
    scheduler = Scheduler(services)
    assert {s.name for s in scheduler.sweeps} >= {
        "reminders",
        "digests",
        "season-check",
        "draft-expiry",
    }
    await scheduler.run_all_once()
    assert await scheduler.leader()
    await scheduler.stop()


async def test_unfinished_drafts_expire_after_thirty_days(app, services, john, clock):
    await john.command("start")
    await john.press("I agree")
    scheduler = Scheduler(services)
    clock.advance(timedelta(days=29))
    await scheduler.run_all_once()
    async with services.db.session() as s:
        assert await repository.get_conversation(s, john.user.id) is not None
    clock.advance(timedelta(days=2))
    await scheduler.run_all_once()
    async with services.db.session() as s:
        assert await s.get(Conversation, john.user.id) is None
    await scheduler.stop()


async def test_only_one_scheduler_sweeps(migrated_url, tmp_path, fake, clock):
    from bot.core.settings import Settings

    settings = Settings(
        _env_file=None,
        var_dir=tmp_path / "var",
        database_url=migrated_url,  # type: ignore[call-arg]
        secret_key="k" * 32,
    )
    first = build_application(
        settings,
        request=RecordingRequest(fake),
        clock=clock,
        start_sender=False,
        rate_limiter=virtual_limiter(),
    )
    second = build_application(
        settings,
        request=RecordingRequest(fake),
        clock=clock,
        start_sender=False,
        rate_limiter=virtual_limiter(),
    )
    async with running(first), running(second):
        a = Scheduler(services_of(first))
        b = Scheduler(services_of(second))
        assert await a.leader() is True
        assert await b.leader() is False
        await a.stop()  # the leader goes away: the other takes over at its next turn
        assert await b.leader() is True
        await b.stop()
