"""The retention policy's dates: whole seasons without activity, then a question, then erasure."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from bot.domain.retention import erase_after, inactive_before, is_inactive
from bot.domain.season import season_of


def test_two_whole_seasons_without_activity_are_needed():
    last = date(2027, 3, 31)  # the last day of season 2026
    assert not is_inactive(last, date(2029, 3, 31), 2)  # season 2028 is not over yet
    assert is_inactive(last, date(2029, 4, 1), 2)
    assert not is_inactive(date(2027, 4, 1), date(2029, 4, 1), 2)  # active in season 2027


@given(
    last=st.dates(min_value=date(2020, 1, 1), max_value=date(2040, 1, 1)),
    today=st.dates(min_value=date(2020, 1, 1), max_value=date(2040, 1, 1)),
    seasons=st.integers(min_value=1, max_value=5),
)
def test_inactive_means_that_many_whole_seasons_between(last, today, seasons):
    whole_seasons_between = season_of(today) - season_of(last) - 1
    assert is_inactive(last, today, seasons) == (whole_seasons_between >= seasons)


def test_an_unanswered_question_is_erased_after_the_given_days():
    asked = datetime(2029, 4, 2, 9, tzinfo=UTC)
    assert erase_after(asked, 60) == asked + timedelta(days=60)
    assert inactive_before(date(2029, 4, 2), 2) == date(2027, 4, 1)
