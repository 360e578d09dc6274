"""The pacer's arithmetic: Telegram's limits are never exceeded, interactive goes first, a 429
pauses what it should. Times are plain numbers; nothing sleeps."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.domain.pacing import EPSILON, Limits, Pacer, Priority, Ticket


def drain(pacer: Pacer, start: float = 0.0) -> list[tuple[float, Ticket]]:
    """Run the pacer until nothing waits: (time, ticket) in the order they went."""
    now, gone = start, []
    while (due := pacer.next_time(now)) is not None:
        now = due
        gone += [(now, ticket) for ticket in pacer.grant(now)]
    return gone


UNSPREAD = Limits(overall_burst=29)  # the overall limit out of the way of the per-chat one


def test_a_chat_gets_a_burst_of_three_then_one_a_second():
    pacer = Pacer(UNSPREAD)
    for _ in range(6):
        pacer.submit(42)
    times = [t for t, _ in drain(pacer)]
    assert times[:3] == [0.0, 0.0, 0.0]
    assert [round(t, 6) for t in times[3:]] == [1.0, 2.0, 3.0]


def test_edits_take_no_chat_token():
    pacer = Pacer(UNSPREAD)
    for _ in range(10):
        pacer.submit(42, takes_token=False)
    assert [t for t, _ in drain(pacer)] == [0.0] * 10


def test_overall_sends_are_spread_evenly():
    pacer = Pacer(Limits(overall=20))
    for chat in range(5):
        pacer.submit(chat)
    assert [round(t, 6) for t, _ in drain(pacer)] == [0.0, 0.05, 0.1, 0.15, 0.2]


def test_the_overall_limit_holds_across_chats():
    pacer = Pacer(UNSPREAD)
    for chat in range(60):
        pacer.submit(chat)
    times = [t for t, _ in drain(pacer)]
    assert times.count(0.0) == 29
    assert sum(1 for t in times if t < 1.0) == 29
    assert sum(1 for t in times if t < 2.0) == 58


def test_interactive_overtakes_waiting_bulk():
    pacer = Pacer(Limits(overall=1))
    bulk = [pacer.submit(chat, Priority.BULK) for chat in range(5)]
    reply = pacer.submit(99, Priority.INTERACTIVE)
    order = [ticket for _, ticket in drain(pacer)]
    assert order[0] == reply
    assert order[1:] == bulk


def test_a_bulk_send_goes_while_an_interactive_one_waits_for_its_chat():
    pacer = Pacer(UNSPREAD)
    for _ in range(3):
        pacer.submit(1)
    assert len(pacer.grant(0.0)) == 3
    reply = pacer.submit(1, Priority.INTERACTIVE)
    offer = pacer.submit(2, Priority.BULK)
    assert pacer.grant(0.5) == [offer]
    assert pacer.grant(1.0) == [reply]


def test_a_retried_request_keeps_its_place():
    pacer = Pacer(Limits(overall=1))
    first = pacer.submit(1)
    pacer.submit(2)
    assert pacer.grant(0.0) == [first]
    again = pacer.submit(1, seq=first.seq)
    assert again == first
    assert [ticket.chat for _, ticket in drain(pacer, 0.0)] == [1, 2]


def test_retry_after_pauses_that_chat_only():
    pacer = Pacer(UNSPREAD)
    pacer.retry_after(1, 5, now=0.0)
    pacer.submit(1)
    other = pacer.submit(2)
    assert pacer.grant(0.0) == [other]
    assert pacer.next_time(0.0) == 5.0
    assert [ticket.chat for ticket in pacer.grant(5.0)] == [1]


def test_retry_after_in_two_chats_at_once_pauses_everything():
    pacer = Pacer()
    pacer.retry_after(1, 3, now=0.0)
    pacer.retry_after(2, 3, now=0.1)
    pacer.submit(3)
    assert pacer.grant(0.2) == []
    assert pacer.next_time(0.2) == 3.1


def test_a_cancelled_request_leaves_the_queue():
    pacer = Pacer()
    ticket = pacer.submit(1)
    pacer.cancel(ticket)
    assert pacer.next_time(0.0) is None


requests = st.lists(
    st.tuples(
        st.floats(min_value=0, max_value=5, allow_nan=False),  # when it arrives
        st.integers(min_value=0, max_value=6),  # chat
        st.sampled_from(list(Priority)),
        st.booleans(),  # a send (else an edit)
    ),
    max_size=120,
)


@settings(max_examples=150, deadline=None)
@given(requests, st.integers(min_value=1, max_value=30), st.integers(min_value=1, max_value=30))
def test_no_window_ever_exceeds_the_limits_and_interactive_goes_first(
    arrivals: list[tuple[float, int, Priority, bool]], overall: int, burst: int
) -> None:
    limits = Limits(overall=overall, overall_burst=burst)
    pacer = Pacer(limits)
    arrivals = sorted(arrivals, key=lambda a: a[0])
    gone: list[tuple[float, Ticket]] = []
    now, index = 0.0, 0
    while index < len(arrivals) or pacer.waiting:
        while index < len(arrivals) and arrivals[index][0] <= now:
            _, chat, priority, send = arrivals[index]
            pacer.submit(chat, priority, takes_token=send)
            index += 1
        granted = pacer.grant(now)
        gone += [(now, ticket) for ticket in granted]
        if any(t.priority is Priority.BULK for t in granted):
            # no interactive request that its chat would let go was left behind
            assert all(
                pacer.chat_ready_at(t, now) > now
                for t in pacer.waiting
                if t.priority is Priority.INTERACTIVE
            )
        due = pacer.next_time(now)
        upcoming = arrivals[index][0] if index < len(arrivals) else None
        candidates = [t for t in (due, upcoming) if t is not None]
        if not candidates:
            break
        now = max(now, min(candidates))
    assert len(gone) == len(arrivals)
    times = [t for t, _ in gone]
    for i in range(len(times)):
        in_window = [t for t in times[i:] if t - times[i] < limits.window - EPSILON]
        assert len(in_window) <= overall
    for chat in {ticket.chat for _, ticket in gone}:
        sends = [t for t, ticket in gone if ticket.chat == chat and ticket.takes_token]
        for i in range(len(sends)):
            for j in range(i, len(sends)):
                allowed = limits.chat_burst + (sends[j] - sends[i]) / limits.chat_interval
                assert j - i + 1 <= allowed + EPSILON
