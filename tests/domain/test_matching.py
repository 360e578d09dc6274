"""Matching is a pure policy: hard rules never bend, and the ranking is reproducible."""

from __future__ import annotations

import dataclasses
from datetime import date

from hypothesis import given
from hypothesis import strategies as st

from bot.domain.matching import Candidate, SlotView, eligible, rank
from bot.domain.season import months_touched

SLOT = SlotView(1, "research", "oslo", date(2027, 3, 1), 4, 1, "cardiology")


def candidate(task_id: int = 1, **changes) -> Candidate:
    base = Candidate(
        task_id=task_id,
        supervisor_id=task_id,
        exchange_type="research",
        city="oslo",
        weeks=4,
        months=("2027-03",),
        capacity=1,
        busy=0,
        field="epidemiology",
        supervisor_active=True,
        verified=True,
        task_approved=True,
        recent_asks=0,
        already_offered=False,
    )
    return dataclasses.replace(base, **changes)


def test_a_matching_task_is_offered():
    assert rank(SLOT, [candidate()]) == [candidate()]


def test_each_hard_rule_excludes():
    for change in (
        {"exchange_type": "clinical"},
        {"city": "bergen"},
        {"weeks": 8},
        {"months": ("2027-04",)},
        {"busy": 1},
        {"supervisor_active": False},
        {"verified": False},
        {"task_approved": False},
        {"already_offered": True},
        {"declined_months": ("2027-03",)},
    ):
        assert rank(SLOT, [candidate(**change)]) == [], change


def test_a_stay_over_a_month_end_needs_both_months_available():
    slot = dataclasses.replace(SLOT, start_date=date(2027, 3, 15))
    assert rank(slot, [candidate(months=("2027-03",))]) == []
    assert rank(slot, [candidate(months=("2027-03", "2027-04"))]) != []


def test_field_first_then_fewer_recent_asks_then_task_id():
    tired = candidate(1, recent_asks=3)
    rested = candidate(2)
    cardiologist = candidate(3, field="cardiology", recent_asks=5)
    twin = candidate(4)
    assert rank(SLOT, [twin, tired, rested, cardiologist]) == [cardiologist, rested, twin, tired]


def test_one_supervisor_is_asked_once_even_with_two_tasks():
    first, second = candidate(1, supervisor_id=9), candidate(2, supervisor_id=9)
    assert rank(SLOT, [second, first]) == [first]


# ---- properties ---------------------------------------------------------------------------

MONTHS = [f"{y}-{m:02d}" for y, m in [(2027, 1), (2027, 2), (2027, 3), (2027, 4)]]

slots = st.builds(
    SlotView,
    slot_id=st.just(1),
    exchange_type=st.sampled_from(["clinical", "research"]),
    city=st.sampled_from(["oslo", "bergen"]),
    start_date=st.dates(min_value=date(2027, 1, 1), max_value=date(2027, 3, 10)),
    weeks=st.sampled_from([4, 8]),
    open_places=st.integers(1, 3),
    field_preference=st.sampled_from([None, "cardiology", "epidemiology"]),
)


@st.composite
def candidate_lists(draw):
    task_ids = draw(st.lists(st.integers(1, 500), unique=True, max_size=12))
    return [
        Candidate(
            task_id=task_id,
            supervisor_id=draw(st.integers(1, 8)),
            exchange_type=draw(st.sampled_from(["clinical", "research"])),
            city=draw(st.sampled_from(["oslo", "bergen"])),
            weeks=draw(st.sampled_from([4, 8])),
            months=tuple(draw(st.lists(st.sampled_from(MONTHS), unique=True))),
            capacity=draw(st.integers(1, 3)),
            busy=draw(st.integers(0, 4)),
            field=draw(st.sampled_from(["cardiology", "epidemiology"])),
            supervisor_active=draw(st.booleans()),
            verified=draw(st.booleans()),
            task_approved=draw(st.booleans()),
            recent_asks=draw(st.integers(0, 5)),
            already_offered=draw(st.booleans()),
            declined_months=tuple(draw(st.lists(st.sampled_from(MONTHS), max_size=1))),
        )
        for task_id in task_ids
    ]


@given(slots, candidate_lists())
def test_never_over_capacity_paused_unverified_or_unapproved(slot, candidates):
    for chosen in rank(slot, candidates):
        assert chosen.busy < chosen.capacity
        assert chosen.supervisor_active and chosen.verified and chosen.task_approved
        assert not chosen.already_offered


@given(slots, candidate_lists())
def test_every_survivor_fits_the_slot(slot, candidates):
    for chosen in rank(slot, candidates):
        assert (chosen.exchange_type, chosen.city, chosen.weeks) == (
            slot.exchange_type,
            slot.city,
            slot.weeks,
        )
        assert set(months_touched(slot.start_date, slot.weeks)) <= set(chosen.months)


@given(slots, candidate_lists(), st.randoms(use_true_random=False))
def test_same_input_same_ranking_in_any_order(slot, candidates, random):
    shuffled = list(candidates)
    random.shuffle(shuffled)
    assert rank(slot, candidates) == rank(slot, candidates) == rank(slot, shuffled)


@given(slots, candidate_lists())
def test_nobody_eligible_is_left_out_except_a_second_task_of_the_same_supervisor(slot, candidates):
    ranked = rank(slot, candidates)
    assert len({c.supervisor_id for c in ranked}) == len(ranked)
    assert {c.supervisor_id for c in ranked} == {
        c.supervisor_id for c in candidates if eligible(slot, c)
    }


@given(slots, candidate_lists())
def test_a_field_match_is_never_ranked_below_a_non_match(slot, candidates):
    matches = [c.field == slot.field_preference for c in rank(slot, candidates)]
    assert matches == sorted(matches, reverse=True)
