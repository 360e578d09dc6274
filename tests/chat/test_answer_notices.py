"""Coordinators hear of every "no", but at most once an hour: the bundling policy as a property,
and the story in the coordinator's chat."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import pairwise

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.services import answer_notices
from bot.services.answer_notices import BUNDLE_WINDOW, is_due, send_at
from tests.chat.test_offers_chat import _propose, _slot, _supervisor
from tests.chat.test_placements_chat import _coordinator

NOW = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
SWEEP = timedelta(minutes=1)


def test_nothing_pending_is_never_due():
    assert send_at(None, None) is None and send_at(NOW, None) is None
    assert not is_due(NOW - timedelta(days=1), None, NOW)


@pytest.mark.parametrize(
    ("last_sent", "oldest", "now", "due"),
    [
        (None, NOW, NOW, True),  # the first "no" after a quiet time goes out at once
        (NOW - timedelta(minutes=59), NOW, NOW, False),
        (NOW - timedelta(minutes=60), NOW, NOW, True),
        (NOW - timedelta(minutes=30), NOW, NOW + timedelta(minutes=30), True),
        (NOW - timedelta(minutes=30), NOW, NOW + timedelta(minutes=29), False),
    ],
)
def test_the_policy_table(last_sent, oldest, now, due):
    assert is_due(last_sent, oldest, now) is due


@given(st.lists(st.integers(min_value=0, max_value=6 * 60 * 60), max_size=40))
def test_at_most_one_message_an_hour_and_no_notice_waits_much_longer(offsets):
    """Notices at arbitrary seconds, each tried at once and by a sweep every minute."""
    created = sorted(NOW + timedelta(seconds=s) for s in offsets)
    sweeps = (NOW + SWEEP * i for i in range(8 * 60))
    queue = list(enumerate(created))
    pending: list[tuple[int, datetime]] = []
    sends: list[datetime] = []
    delivered: dict[int, datetime] = {}
    for moment in sorted({*created, *sweeps}):
        while queue and queue[0][1] <= moment:
            pending.append(queue.pop(0))
        last = sends[-1] if sends else None
        if pending and is_due(last, min(made for _, made in pending), moment):
            sends.append(moment)
            delivered.update({index: moment for index, _ in pending})
            pending.clear()
    assert all(b - a >= BUNDLE_WINDOW for a, b in pairwise(sends))
    assert len(delivered) == len(created)
    for index, made in enumerate(created):
        assert delivered[index] - made <= BUNDLE_WINDOW + SWEEP


# ---- in the coordinator's chat ---------------------------------------------------------------


@pytest.fixture
def database_url(sqlite_url: str) -> str:
    return sqlite_url


async def test_declines_reach_the_coordinator_bundled_at_most_once_an_hour(
    app, services, fake, john, kari, clock
):
    clock.current = NOW
    await _supervisor(services, john.user, "John Smith")
    await _supervisor(services, kari.user, "Kari Nordmann")
    nora = await _coordinator(services, fake, app)
    await _propose(app, services, await _slot(services))
    before = nora.mark()

    await john.press("Not this time")
    await john.press("Too busy")
    [first] = nora.new_messages(before)
    assert "John Smith declined for “John Smith's registry study” (Too busy)" in first.text
    assert "SCORE-2027-03-OSL-1" in first.text

    clock.advance(timedelta(minutes=10))
    await kari.press("Not this month")
    await kari.press("Away then")
    clock.advance(timedelta(minutes=45))
    await answer_notices.deliver_due(services)  # the sweep: not yet an hour
    assert nora.new_messages(before) == [first]

    clock.advance(timedelta(minutes=6))
    assert await answer_notices.deliver_due(services) == 1
    second = nora.last()
    assert "Kari Nordmann cannot take a student that month" in second.text
    assert "John Smith" not in second.text  # told once
    assert await answer_notices.deliver_due(services) == 0
