"""The exchange calendar: seasons run April-March; a stay needs every month it touches."""

from __future__ import annotations

from datetime import date, timedelta

from hypothesis import given
from hypothesis import strategies as st

from bot.domain.season import months_touched, reply_by, season_months, season_of

days = st.dates(min_value=date(2000, 1, 1), max_value=date(2100, 12, 31))


def test_a_season_is_named_by_the_year_of_its_april():
    assert season_of(date(2027, 3, 31)) == 2026
    assert season_of(date(2027, 4, 1)) == 2027
    assert season_months(2026)[0] == "2026-04"
    assert season_months(2026)[-1] == "2027-03"


def test_a_stay_across_a_month_end_needs_both_months():
    assert months_touched(date(2027, 1, 20), 4) == ["2027-01", "2027-02"]
    assert months_touched(date(2027, 1, 4), 4) == ["2027-01"]
    assert months_touched(date(2026, 12, 14), 8) == ["2026-12", "2027-01", "2027-02"]


def test_reply_by_is_eight_weeks_and_the_margin_before_the_start():
    assert reply_by(date(2027, 1, 4), 2) == date(2026, 10, 26)
    assert reply_by(date(2027, 1, 4), 0) == date(2026, 11, 9)


@given(days)
def test_every_day_is_in_the_twelve_months_of_its_season(day):
    months = season_months(season_of(day))
    assert len(months) == 12 == len(set(months))
    assert f"{day.year}-{day.month:02d}" in months


@given(days, st.sampled_from([4, 8]))
def test_months_touched_are_exactly_the_months_of_the_days(start, weeks):
    expected = sorted(
        {f"{d.year}-{d.month:02d}" for d in (start + timedelta(days=i) for i in range(weeks * 7))}
    )
    assert months_touched(start, weeks) == expected


@given(days, st.integers(min_value=0, max_value=12))
def test_reply_by_leaves_at_least_the_ifmsa_deadline(start, margin):
    assert (start - reply_by(start, margin)).days == 7 * (8 + margin)
