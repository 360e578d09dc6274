"""Offers on both databases: who is asked, what answers do, and the last place under real
concurrency (two sessions on two connections racing for one row)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import date, timedelta

import pytest

from bot.services import offers
from bot.services.offers import AcceptResult, OfferClosed
from storage import slots as repo
from storage.db import Database
from storage.models import (
    Offer,
    OfferStatus,
    SlotStatus,
    Supervisor,
    SupervisorStatus,
    TaskStatus,
)
from tests.support import slots as make
from tests.support.slots import NOW


@pytest.fixture
async def db(settings) -> AsyncIterator[Database]:
    database = Database(settings.database)
    yield database
    await database.close()


async def people(db: Database, n: int, **task_changes) -> list[tuple[int, int]]:
    """n verified supervisors with one approved task each: [(supervisor id, task id)]."""
    made = []
    async with db.session() as s:
        for i in range(1, n + 1):
            person = await make.supervisor(s, i)
            item = await make.task(s, person, **task_changes)
            made.append((person.id, item.id))
    return made


async def new_slot(db: Database, reference: str = "SCORE-1", **changes) -> int:
    async with db.session() as s:
        return (await make.slot(s, reference, **changes)).id


async def propose(db, settings, slot_id, now=NOW):
    async with db.session() as s:
        return await offers.propose(s, settings, slot_id, now)


async def slot_state(db, slot_id):
    async with db.session() as s:
        slot = await repo.fresh_slot(s, slot_id)
        statuses = {o.supervisor_id: o.status for o in await repo.offers_for_slot(s, slot_id)}
    return slot, statuses


# ---- proposing ----------------------------------------------------------------------------


async def test_two_offers_per_open_place_field_match_and_least_asked_first(db, settings):
    (a, task_a), (b, _), (c, _), (_, _) = await people(db, 4)
    old = await new_slot(db, "OLD-1", start_date=date(2026, 9, 7))
    async with db.session() as s:
        cardiology = await make.task(s, await s.get(Supervisor, c), field="cardiology")
        # a was asked (for another slot) ten days ago: asked after the others
        s.add(Offer(slot_id=old, task_id=task_a, supervisor_id=a, status=OfferStatus.DECLINED,
                    reply_by=date(2026, 12, 1), created_at=NOW - timedelta(days=10)))  # fmt: skip
    slot_id = await new_slot(db, field_preference="cardiology")

    made = await propose(db, settings, slot_id)

    assert [o.supervisor_id for o in made] == [c, b]
    assert made[0].task_id == cardiology.id, "c's task in the student's field is the one offered"
    assert all(o.status == OfferStatus.SENT for o in made)
    assert made[0].reply_by == date(2026, 12, 21)  # 1 March - 8 weeks - 2 weeks margin
    assert await propose(db, settings, slot_id) == [], "two per open place are already waiting"


async def test_more_places_more_offers(db, settings):
    await people(db, 5)
    slot_id = await new_slot(db, places=2)
    assert len(await propose(db, settings, slot_id)) == 4


async def test_never_asked_paused_unverified_left_or_unapproved(db, settings):
    async with db.session() as s:
        paused = await make.supervisor(s, 1, paused_until=NOW + timedelta(days=200))
        season_off = await make.supervisor(s, 2, status=SupervisorStatus.PAUSED)
        unverified = await make.supervisor(s, 3, email_verified_at=None)
        left = await make.supervisor(s, 4, status=SupervisorStatus.LEFT)
        withdrawn = await make.supervisor(s, 5)
        wrong_month = await make.supervisor(s, 6)
        back = await make.supervisor(s, 7, status=SupervisorStatus.PAUSED,
                                     paused_until=NOW - timedelta(days=1))  # fmt: skip
        for person in (paused, season_off, unverified, left, back):
            await make.task(s, person)
        await make.task(s, withdrawn, status=TaskStatus.WITHDRAWN)
        await make.task(s, wrong_month, months=["2027-04"])
        await make.task(s, back, status=TaskStatus.SUBMITTED)
        slot = await make.slot(s)
    made = await propose(db, settings, slot.id)
    assert [o.supervisor_id for o in made] == [back.id], "only the one whose pause has ended"


async def test_a_task_is_not_asked_for_more_students_at_once_than_it_takes(db, settings):
    [(a, _)] = await people(db, 1)
    first = await new_slot(db, "FIRST")
    overlapping = await new_slot(db, "OVERLAP", start_date=date(2027, 3, 15), weeks=4)
    [offer] = await propose(db, settings, first)
    assert await propose(db, settings, overlapping) == [], "one offer is waiting already"
    async with db.session() as s:
        assert await offers.accept(s, offer.id, a, NOW) == AcceptResult.ACCEPTED
    assert await propose(db, settings, overlapping) == [], "and now it is taken"


async def test_an_urgent_slot_is_still_proposed_with_a_few_days_to_answer(db, settings):
    await people(db, 1, months=["2026-12", "2027-01"])
    slot_id = await new_slot(db, start_date=date(2026, 12, 28))
    [offer] = await propose(db, settings, slot_id)
    assert offer.reply_by == date(2026, 11, 27)


# ---- answers --------------------------------------------------------------------------------


async def test_declining_asks_the_next_candidate_and_never_the_same_person_again(db, settings):
    (a, _), (b, _), (c, _) = await people(db, 3)
    slot_id = await new_slot(db)
    await propose(db, settings, slot_id)
    async with db.session() as s:
        offer_a = next(o for o in await repo.offers_for_slot(s, slot_id) if o.supervisor_id == a)
        replacements = await offers.decline(s, settings, offer_a.id, a, NOW, reason="busy")
    assert [o.supervisor_id for o in replacements] == [c]
    _, statuses = await slot_state(db, slot_id)
    assert statuses == {a: OfferStatus.DECLINED, b: OfferStatus.SENT, c: OfferStatus.SENT}
    async with db.session() as s:
        with pytest.raises(OfferClosed):
            await offers.decline(s, settings, offer_a.id, a, NOW)
        with pytest.raises(OfferClosed):
            await offers.decline(s, settings, replacements[0].id, a, NOW)  # not a's offer


async def test_not_this_month_keeps_the_task_out_of_that_month(db, settings):
    [(a, _)] = await people(db, 1, months=["2027-03", "2027-04"])
    march = await new_slot(db, "MARCH")
    later_march = await new_slot(db, "MARCH-2", start_date=date(2027, 3, 8))
    april = await new_slot(db, "APRIL", start_date=date(2027, 4, 1))
    [offer] = await propose(db, settings, march)
    async with db.session() as s:
        await offers.decline(s, settings, offer.id, a, NOW, not_this_month=True)
    assert await propose(db, settings, later_march) == []
    assert len(await propose(db, settings, april)) == 1


async def test_expiry_asks_the_next_candidate(db, settings):
    (a, _), (b, _), (c, _) = await people(db, 3)
    slot_id = await new_slot(db)
    first = await propose(db, settings, slot_id)
    async with db.session() as s:
        assert await offers.expire_due(s, settings, NOW + timedelta(days=27)) == []  # 21 Dec
    later = NOW + timedelta(days=28)  # 22 December: the reply-by date has passed
    async with db.session() as s:
        replacements = await offers.expire_due(s, settings, later)
    assert [o.supervisor_id for o in replacements] == [c]
    assert replacements[0].reply_by == date(2026, 12, 25)
    _, statuses = await slot_state(db, slot_id)
    assert statuses == {a: OfferStatus.EXPIRED, b: OfferStatus.EXPIRED, c: OfferStatus.SENT}
    async with db.session() as s:
        assert await offers.accept(s, first[0].id, a, later) == AcceptResult.CLOSED


async def test_accepting_fills_the_place_and_closes_the_other_offers(db, settings):
    (a, _), (b, _) = await people(db, 2)
    slot_id = await new_slot(db)
    offer_a, offer_b = await propose(db, settings, slot_id)
    async with db.session() as s:
        assert await offers.accept(s, offer_a.id, b, NOW) == AcceptResult.CLOSED  # not b's
        assert await offers.accept(s, offer_a.id, a, NOW) == AcceptResult.ACCEPTED
    slot, statuses = await slot_state(db, slot_id)
    assert slot.filled == slot.places == 1
    assert statuses == {a: OfferStatus.ACCEPTED, b: OfferStatus.CANCELLED}
    async with db.session() as s:
        assert await offers.accept(s, offer_a.id, a, NOW) == AcceptResult.CLOSED  # twice
        assert await offers.accept(s, offer_b.id, b, NOW) == AcceptResult.TAKEN
        assert await repo.undelivered_offers(s) == []


async def test_a_late_accept_of_a_full_slot_is_told_it_was_taken(db, settings):
    (a, _), _ = await people(db, 2)
    slot_id = await new_slot(db, places=2)
    await propose(db, settings, slot_id)
    async with db.session() as s:
        [offer_a, offer_b, *_] = await repo.offers_for_slot(s, slot_id)
        # the coordinator reduces the places to one under a waiting offer
        await s.execute(repo.update(repo.Slot).where(repo.col(repo.Slot.id) == slot_id)
                        .values(places=1))  # fmt: skip
        assert await offers.accept(s, offer_a.id, a, NOW) == AcceptResult.ACCEPTED
    async with db.session() as s:
        offer_b = await repo.get_offer(s, offer_b.id)
        assert offer_b.status == OfferStatus.CANCELLED


async def test_delivery_is_recorded_once(db, settings):
    await people(db, 1)
    [offer] = await propose(db, settings, await new_slot(db))
    async with db.session() as s:
        assert [o.id for o in await repo.undelivered_offers(s)] == [offer.id]
        assert await repo.claim_delivery(s, offer.id, NOW)
        assert not await repo.claim_delivery(s, offer.id, NOW + timedelta(hours=1))
    async with db.session() as s:
        assert await repo.undelivered_offers(s) == []
        assert (await repo.get_offer(s, offer.id)).delivered_at == NOW


# ---- the last place, for real -------------------------------------------------------------


async def _accept_alone(db: Database, offer_id: int, supervisor_id: int) -> AcceptResult:
    async with db.session() as s:
        return await offers.accept(s, offer_id, supervisor_id, NOW)


async def test_two_supervisors_accept_the_last_place_at_the_same_moment(db, settings):
    (a, _), (b, _) = await people(db, 2)
    slot_id = await new_slot(db)
    offer_a, offer_b = await propose(db, settings, slot_id)

    results = await asyncio.gather(
        _accept_alone(db, offer_a.id, a), _accept_alone(db, offer_b.id, b)
    )

    assert sorted(results) == [AcceptResult.ACCEPTED, AcceptResult.TAKEN]
    slot, statuses = await slot_state(db, slot_id)
    assert slot.filled == slot.places == 1
    assert sorted(statuses.values()) == [OfferStatus.ACCEPTED, OfferStatus.CANCELLED]


async def test_many_accept_two_places_at_once_and_exactly_two_get_them(db, settings):
    settings.offers_per_place = 3
    pairs = await people(db, 6)
    slot_id = await new_slot(db, places=2)
    made = await propose(db, settings, slot_id)
    assert len(made) == 6
    results = await asyncio.gather(*(_accept_alone(db, o.id, o.supervisor_id) for o in made))
    assert sorted(results) == [AcceptResult.ACCEPTED] * 2 + [AcceptResult.TAKEN] * 4
    slot, statuses = await slot_state(db, slot_id)
    assert slot.filled == slot.places == 2
    assert list(statuses.values()).count(OfferStatus.ACCEPTED) == 2
    assert len(pairs) == 6


async def test_a_double_tap_takes_one_place(db, settings):
    [(a, _)] = await people(db, 1)
    slot_id = await new_slot(db, places=2)
    [offer] = await propose(db, settings, slot_id)
    results = await asyncio.gather(_accept_alone(db, offer.id, a), _accept_alone(db, offer.id, a))
    assert sorted(results) == [AcceptResult.ACCEPTED, AcceptResult.CLOSED]
    slot, _ = await slot_state(db, slot_id)
    assert slot.filled == 1


# ---- places given back --------------------------------------------------------------------


async def test_withdrawing_reopens_the_place_and_asks_again(db, settings):
    (a, _), (b, _) = await people(db, 2)
    slot_id = await new_slot(db)
    offer_a, _ = await propose(db, settings, slot_id)
    async with db.session() as s:
        await offers.accept(s, offer_a.id, a, NOW)
    async with db.session() as s:
        with pytest.raises(OfferClosed):
            await offers.withdraw(s, settings, offer_a.id, b, NOW)
    async with db.session() as s:
        again = await offers.withdraw(s, settings, offer_a.id, a, NOW + timedelta(days=1))
    assert [o.supervisor_id for o in again] == [b], "b's cancelled offer is sent again"
    slot, statuses = await slot_state(db, slot_id)
    assert slot.filled == 0
    assert statuses == {a: OfferStatus.WITHDRAWN, b: OfferStatus.SENT}
    async with db.session() as s:
        assert [o.supervisor_id for o in await repo.undelivered_offers(s)] == [b]


async def test_releasing_a_supervisor_gives_their_places_back(db, settings):
    (a, _), (b, _) = await people(db, 2, capacity=2)
    first = await new_slot(db, "ONE")
    second = await new_slot(db, "TWO", places=2)
    one_a, _ = await propose(db, settings, first)
    _, two_b = await propose(db, settings, second)
    async with db.session() as s:
        await offers.accept(s, one_a.id, a, NOW)
        await offers.accept(s, two_b.id, b, NOW)
    async with db.session() as s:
        released = await offers.release_supervisor(s, a, NOW)
    assert [slot.reference for slot in released] == ["ONE"]
    one, statuses = await slot_state(db, first)
    assert one.filled == 0 and statuses[a] == OfferStatus.WITHDRAWN
    two, statuses = await slot_state(db, second)
    assert two.filled == 1 and statuses == {a: OfferStatus.CANCELLED, b: OfferStatus.ACCEPTED}


async def test_cancelling_a_slot_cancels_its_offers_once(db, settings):
    (a, _), (b, _) = await people(db, 2)
    slot_id = await new_slot(db, places=2)
    offer_a, offer_b, *_ = await propose(db, settings, slot_id)
    async with db.session() as s:
        await offers.accept(s, offer_a.id, a, NOW)
    async with db.session() as s:
        told = await offers.cancel_slot(s, slot_id, NOW)
    assert sorted(o.supervisor_id for o in told) == [a, b]
    assert {o.status for o in told} == {OfferStatus.CANCELLED}
    slot, _ = await slot_state(db, slot_id)
    assert slot.status == SlotStatus.CANCELLED and slot.filled == 0
    async with db.session() as s:
        assert await offers.cancel_slot(s, slot_id, NOW) == []
        assert await offers.accept(s, offer_b.id, b, NOW) == AcceptResult.CLOSED
    assert await propose(db, settings, slot_id) == []
