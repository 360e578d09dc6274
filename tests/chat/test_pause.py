"""Pausing offers for "1 month" or "3 months" means calendar months, from any day of the year."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from bot.chat.flows.profile import add_months
from tests.chat.test_profile import _register_unverified
from tests.helpers import stored


@given(st.dates(min_value=date(2000, 1, 1), max_value=date(2100, 12, 31)), st.integers(1, 24))
def test_a_month_later_is_the_same_day_or_the_end_of_a_shorter_month(day, months):
    later = add_months(day, months)
    assert (later.year * 12 + later.month) - (day.year * 12 + day.month) == months
    assert later.day == day.day or (later.day < day.day and (later + timedelta(days=1)).day == 1)
    assert later - day >= timedelta(days=28 * months)


def test_the_awkward_ends_of_months():
    assert add_months(date(2026, 11, 30), 1) == date(2026, 12, 30)
    assert add_months(date(2027, 1, 31), 1) == date(2027, 2, 28)
    assert add_months(date(2028, 1, 31), 1) == date(2028, 2, 29)
    assert add_months(date(2026, 11, 30), 3) == date(2027, 2, 28)
    assert add_months(date(2026, 12, 15), 1) == date(2027, 1, 15)


async def test_a_supervisor_pausing_for_a_month_on_30_november_is_paused_until_30_december(
    john, services, clock
):
    await _register_unverified(john)
    clock.current = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
    await john.command("start")
    await john.press("Pause offers")
    await john.press("1 month")
    assert "Paused until 30.12.2026" in john.last().text
    _, supervisor = await stored(services, john.user.id)
    assert supervisor is not None
    assert supervisor.paused_until == datetime(2026, 12, 29, 23, 0, tzinfo=UTC)  # Oslo midnight


async def test_three_months_from_30_november_end_on_the_last_day_of_february(john, clock):
    await _register_unverified(john)
    clock.current = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
    await john.command("start")
    await john.press("Pause offers")
    await john.press("3 months")
    assert "Paused until 28.02.2027" in john.last().text
