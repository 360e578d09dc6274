"""Retention, as the scheduler runs it: a supervisor inactive for two whole seasons is asked
whether to stay; no answer in 60 days erases them as /delete does, with an audit row that holds
counts only, and nothing reaches them afterwards; "Stay" keeps them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update
from sqlmodel import col

from bot.jobs.scheduler import Scheduler
from storage import audit, repository
from storage.models import Supervisor, Task
from tests.helpers import mails
from tests.support.coordinators import supervisor_with_task

# Registered 24 Nov 2026 (season 2026); seasons 2027 and 2028 pass without a word from them.
LAST_DAY_OF_2028 = datetime(2029, 3, 30, 8, 0, tzinfo=UTC)  # a Friday, 10:00 in Oslo
FIRST_TUESDAY_OF_2029 = datetime(2029, 4, 3, 8, 0, tzinfo=UTC)
ASKED = "Do you want to stay with Veileder?"


async def _sweep(services) -> None:
    scheduler = Scheduler(services)
    await scheduler.run_all_once()
    await scheduler.stop()
    await services.sender.run_once()


def _questions(chat) -> list[str]:
    return [m.text for m in chat.messages() if ASKED in m.text]


async def _registered(services, chat) -> Supervisor | None:
    async with services.db.session() as session:
        return await repository.get_supervisor(session, chat.user.id)


async def test_an_inactive_supervisor_who_never_answers_is_erased_after_sixty_days(
    services, settings, john, clock
):
    await supervisor_with_task(services, john, title="Heart failure clinic")
    email = (await _registered(services, john)).email  # type: ignore[union-attr]

    clock.current = LAST_DAY_OF_2028
    await _sweep(services)
    assert _questions(john) == []  # season 2028 is not over yet

    clock.current = FIRST_TUESDAY_OF_2029
    await _sweep(services)
    await _sweep(services)  # asked once, however often the sweep runs
    assert len(_questions(john)) == 1
    assert "within 60 days" in john.last().text
    assert john.last().button_texts == ["✅ Stay", "🗑 Delete me"]

    clock.advance(timedelta(days=59, hours=23))
    await _sweep(services)
    assert await _registered(services, john) is not None

    clock.advance(timedelta(hours=2))
    await _sweep(services)
    assert await _registered(services, john) is None
    async with services.db.session() as session:
        tasks = (await session.execute(select(Task))).scalars().all()
        entries = await audit.entries(session)
    assert tasks == []
    assert [(e.kind, e.counts["profiles"], e.counts["tasks"]) for e in entries] == [
        ("retention", 1, 1)
    ]
    assert entries[0].created_at == clock.now()
    stored = repr(entries[0].model_dump())
    for trace in (str(john.user.id), email, "John", "Heart failure"):
        assert trace not in stored

    # The season check for 2030 would email a supervisor with a task in an earlier season now.
    clock.current = datetime(2030, 2, 5, 9, 0, tzinfo=UTC)
    await _sweep(services)
    assert not [m for m in mails(settings.mail_dir) if email in str(m["To"])]
    assert len(_questions(john)) == 1


async def test_a_supervisor_who_answers_stay_is_kept_and_asked_again_only_much_later(
    services, kari, clock
):
    await supervisor_with_task(services, kari, title="Hjertesviktpoliklinikk")
    clock.current = FIRST_TUESDAY_OF_2029
    await _sweep(services)
    assert "Vil du bli værende i Veileder?" in kari.last().text
    await kari.press("Bli værende")
    assert "Godt å ha deg med." in kari.last().text  # the question, answered
    mark = kari.mark()

    clock.advance(timedelta(days=61))
    await _sweep(services)
    supervisor = await _registered(services, kari)
    assert supervisor is not None and supervisor.retention_asked_at is None
    assert supervisor.last_active_at == FIRST_TUESDAY_OF_2029
    assert kari.since(mark) == []
    async with services.db.session() as session:
        assert await audit.entries(session) == []


async def test_delete_me_erases_at_once_and_audits_it_as_the_persons_request(services, john, clock):
    await supervisor_with_task(services, john, title="Heart failure clinic")
    clock.current = FIRST_TUESDAY_OF_2029
    await _sweep(services)
    await john.press("Delete me")
    assert "All your data is erased." in john.last().text
    assert await _registered(services, john) is None
    async with services.db.session() as session:
        assert [e.kind for e in await audit.entries(session)] == ["request"]


async def test_a_supervisor_who_blocked_the_bot_is_asked_by_email(services, settings, john, clock):
    await supervisor_with_task(services, john, title="Heart failure clinic")
    async with services.db.session() as session:
        await session.execute(
            update(Supervisor)
            .where(col(Supervisor.telegram_user_id) == john.user.id)
            .values(chat_unreachable_at=datetime(2027, 1, 4, tzinfo=UTC))
        )
    clock.current = FIRST_TUESDAY_OF_2029
    await _sweep(services)
    assert _questions(john) == []
    sent = [m for m in mails(settings.mail_dir) if m["Subject"] == ASKED]
    assert len(sent) == 1
    body = sent[0].get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "within 60 days" in body and "?start=stay" in body
