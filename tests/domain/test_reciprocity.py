"""The reciprocity meter, pure: hosted counts filled places of the season (past months too), the
gap is what is still needed, and the months where it is lie ahead in the season."""

from __future__ import annotations

from datetime import date, timedelta

from hypothesis import given
from hypothesis import strategies as st

from bot.domain.reciprocity import (
    Meter,
    Places,
    meter,
    meters,
    month_runs,
    season_calendar,
    season_label,
)
from bot.domain.season import season_of

TODAY = date(2026, 11, 30)


def test_hosted_x_of_y_with_the_gap_and_where_it_is():
    places = [
        Places(date(2027, 5, 3), places=3, filled=3),  # hosted, and May has places
        Places(date(2027, 9, 6), places=2, filled=1),  # one hosted, one open in September
        Places(date(2027, 10, 4), places=1, filled=0),  # open in October
        Places(date(2026, 9, 7), places=5, filled=5),  # the season before: not counted
    ]
    m = meter(2027, "clinical", 10, places, TODAY)
    assert (m.hosted, m.needed, m.gap, m.met) == (4, 10, 6, False)
    assert m.percent == 40 and m.bar == "████░░░░░░ 40%"
    assert m.open_places == 2 and m.open_months == ((2027, 9), (2027, 10))
    assert m.empty_months == (
        (2027, 4), (2027, 6), (2027, 7), (2027, 8), (2027, 11), (2027, 12),
        (2028, 1), (2028, 2), (2028, 3),
    )  # fmt: skip


def test_a_met_target_has_no_gap_and_no_months():
    m = meter(2026, "research", 2, [Places(date(2027, 1, 4), 3, 3)], TODAY)
    assert (m.hosted, m.gap, m.met, m.percent) == (3, 0, True, 100)
    assert m.bar == "██████████ 100%" and m.open_months == m.empty_months == ()


def test_months_gone_by_are_no_longer_where_the_gap_is():
    m = meter(2026, "clinical", 5, [Places(date(2026, 9, 7), 2, 1)], TODAY)
    assert m.hosted == 1 and m.open_places == 0 and m.open_months == ()
    assert m.empty_months == ((2026, 11), (2026, 12), (2027, 1), (2027, 2), (2027, 3))


def test_meters_follow_the_targets_order_and_types():
    places = {"clinical": [Places(date(2027, 9, 6), 1, 1)]}
    found = meters([(2027, "clinical", 2), (2027, "research", 1)], places, TODAY)
    assert [(m.exchange_type, m.hosted, m.needed) for m in found] == [
        ("clinical", 1, 2),
        ("research", 0, 1),
    ]


slot = st.builds(
    Places,
    start=st.dates(date(2025, 4, 1), date(2029, 3, 31)),
    places=st.integers(0, 6),
    filled=st.integers(-1, 8),
)


@given(
    season=st.integers(2025, 2028),
    needed=st.integers(1, 40),
    places=st.lists(slot, max_size=30),
    today=st.dates(date(2025, 1, 1), date(2029, 6, 30)),
)
def test_the_meter_always_adds_up(season, needed, places, today):
    m = meter(season, "clinical", needed, places, today)
    in_season = [p for p in places if season_of(p.start) == season]
    assert isinstance(m, Meter)
    assert 0 <= m.hosted <= sum(max(p.places, 0) for p in in_season)
    assert m.gap == max(needed - m.hosted, 0) and m.met == (m.gap == 0)
    assert 0 <= m.percent <= 100 and (m.percent == 100) == m.met
    assert len(m.bar.split()[0]) == 10
    calendar = season_calendar(season)
    for months in (m.open_months, m.empty_months):
        assert list(months) == sorted(set(months))  # calendar order, once each
        assert all(month in calendar and month >= (today.year, today.month) for month in months)
    assert not set(m.open_months) & set(m.empty_months)
    if m.met:
        assert m.open_places == 0 and m.open_months == m.empty_months == ()
    else:
        assert m.open_places == sum(p.open for p in in_season if p.start >= today)
        assert bool(m.open_places) == bool(m.open_months)


@given(needed=st.integers(1, 20), filled=st.integers(0, 20))
def test_filling_a_place_never_widens_the_gap(needed, filled):
    start = TODAY + timedelta(days=60)
    before = meter(season_of(start), "research", needed, [Places(start, 20, filled)], TODAY)
    after = meter(season_of(start), "research", needed, [Places(start, 20, filled + 1)], TODAY)
    assert after.gap <= before.gap and after.hosted >= before.hosted


def test_months_read_as_runs_across_the_new_year():
    assert month_runs([(2027, 4), (2027, 6), (2027, 7), (2027, 12), (2028, 1), (2028, 3)]) == [
        ((2027, 4), (2027, 4)),
        ((2027, 6), (2027, 7)),
        ((2027, 12), (2028, 1)),
        ((2028, 3), (2028, 3)),
    ]
    assert season_label(2027) == "2027/28" and season_label(2099) == "2099/00"


@given(st.sets(st.sampled_from(season_calendar(2027))))
def test_runs_cover_exactly_the_months(months):
    runs = month_runs(sorted(months))
    covered = [m for first, last in runs for m in season_calendar(2027) if first <= m <= last]
    assert covered == sorted(months)
