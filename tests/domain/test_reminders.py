"""The reminder policy with a fake clock: humane cadence, hard caps, working hours, and a stop
the moment an offer is answered or a slot is filled."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import assume, given
from hypothesis import strategies as st

from bot.domain.reminders import (
    OfferState,
    Person,
    Plan,
    Policy,
    allowed,
    at_risk,
    held_until,
    next_working_start,
    parse_days,
    plan,
)

OSLO = ZoneInfo("Europe/Oslo")
POLICY = Policy(tz=OSLO)
TUESDAY_10 = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)  # 10:00 in Oslo
ME = Person(verified=True, unsubscribed=False, paused=False)


def offer(
    i: int = 1,
    *,
    emailed: tuple[datetime, ...] = (),
    reply_by: date = date(2027, 1, 4),
    answered: bool = False,
    slot_open: bool = True,
) -> OfferState:
    return OfferState(
        i, answered=answered, slot_open=slot_open, reply_by=reply_by, emailed_at=emailed
    )


def test_a_new_offer_is_emailed_at_once_in_working_hours():
    assert plan(ME, [offer()], POLICY, TUESDAY_10).first == [1]


def test_nothing_is_emailed_at_night_or_at_the_weekend():
    assert not plan(ME, [offer()], POLICY, datetime(2026, 11, 24, 20, 30, tzinfo=UTC))  # 21:30
    assert not plan(ME, [offer()], POLICY, datetime(2026, 11, 28, 10, 0, tzinfo=UTC))  # Saturday


def test_unverified_unsubscribed_or_paused_supervisors_get_no_offer_email():
    for person in (
        Person(False, False, False),
        Person(True, True, False),
        Person(True, False, True),
    ):
        assert not plan(person, [offer()], POLICY, TUESDAY_10)


def test_a_follow_up_comes_after_seven_days_and_at_most_twice():
    first = TUESDAY_10 - timedelta(days=7)
    assert plan(ME, [offer(emailed=(first,))], POLICY, TUESDAY_10).followups == [1]
    assert not plan(ME, [offer(emailed=(TUESDAY_10 - timedelta(days=6),))], POLICY, TUESDAY_10)
    three = (first - timedelta(days=14), first - timedelta(days=7), first)
    assert not plan(ME, [offer(emailed=three)], POLICY, TUESDAY_10)


def test_no_follow_up_on_or_after_the_reply_by_date():
    sent = (TUESDAY_10 - timedelta(days=8),)
    assert not plan(ME, [offer(emailed=sent, reply_by=date(2026, 11, 24))], POLICY, TUESDAY_10)


def test_everything_stops_when_answered_or_the_slot_fills():
    assert not plan(ME, [offer(answered=True)], POLICY, TUESDAY_10)
    assert not plan(ME, [offer(slot_open=False)], POLICY, TUESDAY_10)


def test_one_email_a_day_and_two_a_week_with_the_rest_bundled_later():
    sent_today = Person(True, False, False, emails_sent=(TUESDAY_10 - timedelta(hours=1),))
    assert not plan(sent_today, [offer(1), offer(2)], POLICY, TUESDAY_10)
    two_this_week = Person(
        True,
        False,
        False,
        emails_sent=(TUESDAY_10 - timedelta(days=1), TUESDAY_10 - timedelta(days=3)),
    )
    assert not plan(two_this_week, [offer()], POLICY, TUESDAY_10)
    tomorrow = TUESDAY_10 + timedelta(days=1)
    assert plan(sent_today, [offer(1), offer(2)], POLICY, tomorrow) == Plan(first=[1, 2])


def test_working_days_are_configurable():
    assert parse_days("mon-fri") == frozenset(range(5))
    assert parse_days("mon,wed,sat-sun") == frozenset({0, 2, 5, 6})


def test_a_slot_is_at_risk_two_weeks_before_its_reply_by_date():
    assert not at_risk(date(2027, 1, 4), 1, date(2026, 12, 20))
    assert at_risk(date(2027, 1, 4), 1, date(2026, 12, 21))
    assert not at_risk(date(2027, 1, 4), 0, date(2026, 12, 30))


def test_a_whole_season_of_sweeps_every_hour_respects_every_rule():
    """A supervisor with three offers, swept hourly from August to March, never answering."""
    offers = {i: offer(i, reply_by=date(2027, 1, 4) + timedelta(weeks=4 * i)) for i in (1, 2, 3)}
    person = ME
    now = datetime(2026, 8, 3, 0, 0, tzinfo=UTC)
    emails: list[tuple[datetime, list[int]]] = []
    while now < datetime(2027, 3, 31, tzinfo=UTC):
        made = plan(person, list(offers.values()), POLICY, now)
        if made:
            emails.append((now, made.offers))
            for i in made.offers:
                old = offers[i]
                offers[i] = OfferState(
                    i, old.answered, old.slot_open, old.reply_by, (*old.emailed_at, now)
                )
            person = Person(True, False, False, emails_sent=(*person.emails_sent, now))
        now += timedelta(hours=1)
    days = [POLICY.today(t) for t, _ in emails]
    assert len(days) == len(set(days))  # at most one a day
    for t, _ in emails:
        assert POLICY.working(t)
        assert sum(1 for u, _ in emails if timedelta(0) <= t - u < timedelta(days=7)) <= 2
    for state in offers.values():
        assert 1 <= len(state.emailed_at) <= 3  # the offer email and at most two follow-ups
        gaps = [b - a for a, b in zip(state.emailed_at, state.emailed_at[1:], strict=False)]
        assert all(gap >= timedelta(days=7) for gap in gaps)
        assert all(POLICY.today(t) <= state.reply_by for t in state.emailed_at)


@given(
    hours=st.lists(st.integers(0, 24 * 60), max_size=30),
    answered=st.booleans(),
    paused=st.booleans(),
    minutes=st.integers(0, 60 * 24 * 60),
)
def test_never_more_than_the_caps_and_never_to_a_paused_person(hours, answered, paused, minutes):
    now = datetime(2026, 9, 1, tzinfo=UTC) + timedelta(minutes=minutes)
    sent = tuple(now - timedelta(hours=h) for h in hours)
    person = Person(True, False, paused, emails_sent=sent)
    made = plan(person, [offer(reply_by=date(2027, 6, 1), answered=answered)], POLICY, now)
    if made:
        assert not paused and not answered and allowed(person, POLICY, now)
        assert sum(1 for t in sent if POLICY.today(t) == POLICY.today(now)) < 1
        assert sum(1 for t in sent if timedelta(0) <= now - t < timedelta(days=7)) < 2


def test_at_night_the_email_due_is_held_until_the_next_working_morning():
    tuesday_night = datetime(2026, 11, 24, 21, 0, tzinfo=UTC)  # 22:00 in Oslo
    wednesday_8 = datetime(2026, 11, 25, 8, 0, tzinfo=OSLO)
    assert held_until(ME, [offer()], POLICY, tuesday_night) == wednesday_8
    friday_night = datetime(2026, 11, 27, 21, 0, tzinfo=UTC)
    assert held_until(ME, [offer()], POLICY, friday_night) == datetime(
        2026, 11, 30, 8, 0, tzinfo=OSLO
    )
    early = datetime(2026, 11, 25, 5, 0, tzinfo=UTC)  # 06:00 on Wednesday
    assert held_until(ME, [offer()], POLICY, early) == wednesday_8


def test_nothing_is_held_in_working_hours_or_when_nothing_would_go_then():
    tuesday_night = datetime(2026, 11, 24, 21, 0, tzinfo=UTC)
    assert held_until(ME, [offer()], POLICY, TUESDAY_10) is None  # it goes now
    assert held_until(ME, [offer(answered=True)], POLICY, tuesday_night) is None
    assert held_until(Person(True, False, True), [offer()], POLICY, tuesday_night) is None
    last_day = offer(reply_by=date(2026, 11, 24))  # the reply-by date passes tonight
    assert held_until(ME, [last_day], POLICY, tuesday_night) is None
    sent_today = Person(True, False, False, emails_sent=(TUESDAY_10,))
    assert held_until(sent_today, [offer(2)], POLICY, tuesday_night) == datetime(
        2026, 11, 25, 8, 0, tzinfo=OSLO
    )


@given(minutes=st.integers(0, 60 * 24 * 400), days=st.sets(st.integers(0, 6), min_size=1))
def test_the_next_working_hours_begin_after_now_with_nothing_working_between(minutes, days):
    policy = Policy(tz=OSLO, days=frozenset(days))
    now = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(minutes=minutes)
    assume(not policy.working(now))
    start = next_working_start(policy, now)
    assert start is not None and start > now and policy.working(start)
    assert start.astimezone(OSLO).time() == policy.start
    step = now
    while step < start:
        assert not policy.working(step)
        step += timedelta(minutes=30)
