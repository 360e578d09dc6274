"""Per-person flood control as pure bookkeeping (`bot.domain.flood`), property-tested."""

from __future__ import annotations

from itertools import accumulate

from hypothesis import given
from hypothesis import strategies as st

from bot.domain.flood import FloodGuard, FloodLimits, Verdict

LIMITS = FloodLimits(updates=5, seconds=10.0)  # 0.5 a second, bursts of 5

gaps = st.lists(st.floats(min_value=0, max_value=30, allow_nan=False), max_size=80)


def arrivals(gap_list: list[float]) -> list[float]:
    return list(accumulate(gap_list, initial=0.0))[1:]


def verdicts(times: list[float], person: int = 1, guard: FloodGuard | None = None) -> list[Verdict]:
    guard = guard or FloodGuard(LIMITS)
    return [guard.admit(person, t) for t in times]


@given(gaps)
def test_no_interval_takes_more_than_a_burst_plus_what_refilled(gap_list):
    times = arrivals(gap_list)
    taken = [t for t, v in zip(times, verdicts(times), strict=True) if v is Verdict.TAKE]
    for i, start in enumerate(taken):
        for j in range(i, len(taken)):
            span = taken[j] - start
            assert j - i + 1 <= LIMITS.updates + span * LIMITS.rate + 1e-6


@given(st.lists(st.floats(min_value=2.0, max_value=100, allow_nan=False), max_size=80))
def test_a_person_at_a_human_pace_is_never_slowed(gap_list):
    """One update every 2 seconds or slower (the refill rate here) is always taken."""
    assert set(verdicts(arrivals(gap_list))) <= {Verdict.TAKE}


@given(gaps)
def test_one_notice_per_flood(gap_list):
    """Between two taken updates, the first dropped one gets the notice, the others none."""
    run: list[Verdict] = []
    for verdict in [*verdicts(arrivals(gap_list)), Verdict.TAKE]:
        if verdict is Verdict.TAKE:
            assert run == [] or (run[0] is Verdict.NOTICE and set(run[1:]) <= {Verdict.DROP})
            run = []
        else:
            run.append(verdict)


@given(gaps, gaps)
def test_nobody_is_slowed_by_someone_else(mine, theirs):
    times = arrivals(mine)
    alone = verdicts(times)
    guard = FloodGuard(LIMITS)
    events = sorted([(t, 1) for t in times] + [(t, 2) for t in arrivals(theirs)])
    together = [v for t, p in events if (v := guard.admit(p, t)) and p == 1]
    assert together == alone


def test_a_burst_then_the_notice_then_silence_then_taken_again():
    guard = FloodGuard(LIMITS)
    burst = [guard.admit(7, 0.0) for _ in range(8)]
    assert burst == [Verdict.TAKE] * 5 + [Verdict.NOTICE, Verdict.DROP, Verdict.DROP]
    assert guard.admit(7, 2.0) is Verdict.TAKE  # one token back after 2 seconds
    assert guard.admit(7, 2.0) is Verdict.NOTICE  # a new flood is told again


def test_quiet_people_are_forgotten():
    guard = FloodGuard(LIMITS)
    for person in range(1_000):
        guard.admit(person, 0.0)
    guard.admit(5_000, 11.0)  # everyone else is full again by now
    assert guard.tracked() == 1


def test_time_running_backwards_gives_nothing_back():
    guard = FloodGuard(LIMITS)
    assert [guard.admit(1, 100.0) for _ in range(5)] == [Verdict.TAKE] * 5
    assert guard.admit(1, 50.0) is Verdict.NOTICE


@given(gaps)
def test_off_when_updates_is_zero(gap_list):
    guard = FloodGuard(FloodLimits(updates=0))
    assert set(verdicts(arrivals(gap_list) * 3, guard=guard)) <= {Verdict.TAKE}
