"""/digest in the chat: a coordinator chooses every morning or every Monday; to anyone else it
is an unknown command; a press is checked against the coordinator register again."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import col, select

from bot.domain import periods
from bot.services import digests
from storage import coordinators as store
from storage.models import Coordinator
from tests.support import coordinator_fixtures
from tests.support.coordinators import bound_coordinator

# The coordinators' stories: files served, the app wired as in production, and Nora.
fake, app, nora = coordinator_fixtures.fake, coordinator_fixtures.app, coordinator_fixtures.nora


async def _frequencies(services) -> list[str]:
    async with services.db.session() as session:
        result = await session.execute(select(Coordinator).order_by(col(Coordinator.id)))
        return [row.digest_frequency for row in result.scalars()]


async def test_a_coordinator_switches_to_every_morning_for_all_her_scopes(services, clock, nora):
    await bound_coordinator(services, nora)
    await bound_coordinator(services, nora, role="LORE", exchange_type="research", city="bergen")

    await nora.command("digest")
    assert "You get the digest email every Monday at 07:30." in nora.last().text
    assert nora.last().button_texts == ["Every morning", "Every Monday"]

    await nora.press("Every morning")

    assert nora.last().text == "📬 You get the digest email every morning at 07:30."
    assert nora.last().button_texts == []
    assert await _frequencies(services) == ["daily", "daily"]

    # and the scheduler follows: tomorrow at 07:30 local time (the clock is 24 Nov, 10:00)
    tomorrow = clock.now().replace(hour=6, minute=30) + timedelta(days=1)
    async with services.db.session() as session:
        rows = await store.coordinators_of_user(session, nora.user.id)
    assert digests.frequency_of(rows) == periods.DAILY
    assert periods.due_period(tomorrow, periods.DAILY, periods.parse_time("07:30"),
                              services.settings.tz, set()) == "2026-11-25"  # fmt: skip

    await nora.command("digest")
    await nora.press("Every Monday")
    assert await _frequencies(services) == ["weekly", "weekly"]


async def test_to_anyone_else_digest_is_an_unknown_command(kari):
    await kari.command("frobnicate")
    unknown = kari.last()
    await kari.command("digest")
    assert (kari.last().text, kari.last().button_texts) == (unknown.text, unknown.button_texts)


async def test_a_press_after_the_scope_was_removed_changes_nothing(services, fake, nora):
    await bound_coordinator(services, nora)
    await nora.command("digest")
    async with services.db.session() as session:
        assert await store.remove_coordinator(session, "nora@nmf.example") == 1
        session.add(
            Coordinator(email="other@nmf.example", role="LEO", exchange_type="clinical",
                        city="oslo", invited_at=services.clock.now())
        )  # fmt: skip

    query = await nora.press("Every morning")

    answer = fake.callback_answer(query)
    assert answer is not None and answer.text == "This button is no longer active."
    assert await _frequencies(services) == ["weekly"]


async def test_a_forged_frequency_is_refused(services, fake, nora):
    await bound_coordinator(services, nora)
    await nora.command("digest")
    _, button = nora.find_button("Every morning")
    assert button.callback_data is not None
    forged = button.callback_data.replace(":daily:", ":hourly:")

    query = await nora.press_data(forged)

    answer = fake.callback_answer(query)
    assert answer is not None and answer.text == "This button is no longer active."
    assert await _frequencies(services) == ["weekly"]
