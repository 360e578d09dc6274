"""A proposed place reaches the supervisor in chat; one tap accepts or declines it, and the
coordinators of that scope hear about it at once."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from bot.chat.flows.registration.steps import CONSENT_VERSION
from bot.services import links, offer_courier, offers
from storage import coordinators, repository
from storage.models import Offer, OfferStatus, Slot, Supervisor, Task, TaskStatus
from tests.support.chat import Chat, TgUser

NOW = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)


@pytest.fixture
def database_url(sqlite_url: str) -> str:
    """Chat stories; the atomic accept itself is tested on both databases in test_offers."""
    return sqlite_url


async def _supervisor(services, user: TgUser, name: str, language: str = "en") -> int:
    """A registered, verified supervisor with one approved research task in Oslo, March 2027."""
    async with services.db.session() as s:
        sup = Supervisor(
            telegram_user_id=user.id,
            chat_id=user.id,
            language=language,
            name=name,
            title="researcher",
            workplace="UiO",
            city="oslo",
            fields=["epidemiology"],
            exchange_types=["research"],
            email=f"{user.id}@uio.no",
            email_verified_at=NOW,
            consent_version=CONSENT_VERSION,
            consent_at=NOW,
            created_at=NOW,
            updated_at=NOW,
        )
        s.add(sup)
        await s.flush()
        s.add(
            Task(
                supervisor_id=sup.id,
                season=2026,
                exchange_type="research",
                title=f"{name}'s registry study",
                field="epidemiology",
                city="oslo",
                site="UiO",
                weeks=4,
                months=["2027-03"],
                capacity=1,
                backup_contact="Dr. B",
                status=TaskStatus.APPROVED,
                created_at=NOW,
                updated_at=NOW,
            )
        )
        return sup.id or 0


async def _slot(services, places: int = 1) -> int:
    async with services.db.session() as s:
        slot = Slot(
            reference="SCORE-2027-03-OSL-1",
            exchange_type="research",
            city="oslo",
            start_date=date(2027, 3, 1),
            weeks=4,
            places=places,
            field_preference="epidemiology",
            partner_country="Morocco",
            created_at=NOW,
            updated_at=NOW,
        )
        s.add(slot)
        await s.flush()
        return slot.id or 0


async def _coordinator(services, fake, app) -> Chat:
    chat = Chat.in_process(fake, TgUser(id=7001, first_name="Nora", language_code="nb"), app)
    async with services.db.session() as s:
        _, token = await coordinators.add_coordinator(
            s,
            email="nore@nmf.no",
            role="NORE",
            exchange_type="research",
            city="national",
            language="nb",
            now=NOW,
            secret=services.secret,
        )
        await coordinators.bind_by_token(s, services.secret, token, chat.user.id, chat.user.id, NOW)
    return chat


async def _propose(app, services, slot_id: int) -> list[Offer]:
    async with services.db.session() as s:
        made = await offers.propose(s, services.settings, slot_id, services.clock.now())
    await offer_courier.deliver_pending(services)
    return made


async def test_an_offer_arrives_in_chat_and_one_tap_accepts_it(app, services, fake, john, clock):
    clock.current = NOW
    await _supervisor(services, john.user, "John Smith")
    nora = await _coordinator(services, fake, app)
    slot_id = await _slot(services)
    [offer] = await _propose(app, services, slot_id)
    shown = john.last()
    assert "A student needs a supervisor" in shown.text
    assert (
        "01 Mar 2027 – 28 Mar 2027" in shown.text
        and "Epidemiology" in shown.text
        and "Morocco" in shown.text
    )
    assert "John Smith's registry study" in shown.text and "answer by" in shown.text
    await john.press("Yes, I'll supervise")
    assert "the place is yours" in john.last().text
    assert "SCORE-2027-03-OSL-1" in nora.last().text and "1 av 1 plass fylt" in nora.last().text
    async with services.db.session() as s:
        slot = await s.get(Slot, slot_id)
        stored = await s.get(Offer, offer.id)
    assert slot is not None and slot.filled == 1
    assert stored is not None and stored.status == OfferStatus.ACCEPTED


async def test_the_second_to_accept_the_last_place_is_thanked_and_told_it_was_taken(
    app, services, fake, john, kari, clock
):
    clock.current = NOW
    await _supervisor(services, john.user, "John Smith")
    await _supervisor(services, kari.user, "Kari Nordmann", language="nb")
    slot_id = await _slot(services, places=1)
    made = await _propose(app, services, slot_id)
    assert len(made) == 2  # two asked for the one place (OFFERS_PER_PLACE = 2)
    karis_offer = kari.last()
    await john.press("Yes, I'll supervise")
    await kari.press("Ja, jeg veileder", karis_offer)
    assert "nettopp tatt av en annen veileder" in kari.last().text


async def test_declining_asks_why_optionally_and_the_next_supervisor_is_asked(
    app, services, fake, john, kari, clock, settings
):
    clock.current = NOW
    await _supervisor(services, john.user, "John Smith")
    await _supervisor(services, kari.user, "Kari Nordmann", language="nb")
    slot_id = await _slot(services, places=1)
    services.settings = settings.model_copy(update={"offers_per_place": 1})
    [first] = await _propose(app, services, slot_id)
    first_chat, second_chat = (john, kari) if first.supervisor_id == 1 else (kari, john)
    label = "Not this time" if first_chat is john else "Ikke denne gangen"
    before = second_chat.mark()
    await first_chat.press(label)
    assert "tell us why" in first_chat.last().text or "si hvorfor" in first_chat.last().text
    await first_chat.press("Too busy" if first_chat is john else "For travelt")
    await offer_courier.deliver_pending(services)
    assert any("student" in m.text.lower() for m in second_chat.new_messages(before))
    async with services.db.session() as s:
        declined = await s.get(Offer, first.id)
    assert (
        declined is not None
        and declined.status == OfferStatus.DECLINED
        and declined.reason == "busy"
    )


async def test_the_deep_link_opens_the_offer_for_its_supervisor_only(
    app, services, john, kari, clock
):
    clock.current = NOW
    await _supervisor(services, john.user, "John Smith")
    slot_id = await _slot(services)
    [offer] = await _propose(app, services, slot_id)
    payload = links.offer_payload(services.secret, offer.id or 0, john.user.id)
    assert len(payload) <= 64 and payload.replace("_", "").replace("-", "").isalnum()
    await john.command("start", payload)
    assert "A student needs a supervisor" in john.last().text
    await kari.command("start", payload)
    assert "ikke gyldig" in kari.last().text and "John" not in kari.last().text


async def test_giving_an_accepted_place_back_reopens_it_and_tells_the_coordinators(
    app, services, fake, john, clock
):
    clock.current = NOW
    await _supervisor(services, john.user, "John Smith")
    nora = await _coordinator(services, fake, app)
    slot_id = await _slot(services)
    await _propose(app, services, slot_id)
    await john.press("Yes, I'll supervise")
    await john.press("Give the place back")
    await john.press("Yes, give it back")
    assert "given back" in john.last().text
    assert "ga fra seg plassen" in nora.last().text
    async with services.db.session() as s:
        slot = await s.get(Slot, slot_id)
    assert slot is not None and slot.filled == 0


async def test_deleting_a_supervisor_with_an_accepted_place_reopens_it(
    app, services, fake, john, clock
):
    clock.current = NOW
    await _supervisor(services, john.user, "John Smith")
    nora = await _coordinator(services, fake, app)
    slot_id = await _slot(services)
    await _propose(app, services, slot_id)
    await john.press("Yes, I'll supervise")
    await john.command("delete")
    await john.press("Yes, erase everything")
    async with services.db.session() as s:
        slot = await s.get(Slot, slot_id)
        assert await repository.get_supervisor(s, john.user.id) is None
    assert slot is not None and slot.filled == 0
    assert "John Smith ga fra seg plassen" in nora.last().text


async def test_a_paused_supervisor_gets_no_offers_until_they_resume(app, services, john, clock):
    clock.current = NOW
    await _supervisor(services, john.user, "John Smith")
    await john.command("start")
    await john.press("Pause offers")
    await john.press("Not this season")
    assert "Paused" in john.last().text and "01.04.2027" in john.last().text
    slot_id = await _slot(services)
    assert await _propose(app, services, slot_id) == []
    await john.press("Resume offers")
    assert len(await _propose(app, services, slot_id)) == 1


async def test_the_running_bot_delivers_an_offer_proposed_elsewhere_within_seconds(
    settings, fake, clock, john
):
    """`offers propose` on the command line only writes rows; the bot's sweeper delivers them."""
    from bot.app import build_application, running, services_of
    from tests.support.botapi.request import RecordingRequest
    from tests.support.pacing import virtual_limiter

    clock.current = NOW
    app = build_application(
        settings,
        request=RecordingRequest(fake),
        clock=clock,
        start_sender=True,
        offer_seconds=0.05,
        rate_limiter=virtual_limiter(),
    )
    async with running(app):
        services = services_of(app)
        sweeper = services.offer_sweeper
        assert sweeper is not None
        sweeps = 0
        sweep = sweeper.job

        async def counted_sweep() -> None:
            nonlocal sweeps
            await sweep()
            sweeps += 1

        sweeper.job = counted_sweep
        await _supervisor(services, john.user, "John Smith")
        slot_id = await _slot(services)
        async with services.db.session() as s:  # what the CLI does, in another process
            await offers.propose(s, services.settings, slot_id, NOW)
        await fake.wait_for(
            lambda: any("A student needs" in m.text for m in john.messages()), within=10
        )
        # Delivered once: a whole sweep that began after the message arrived, and one run by
        # hand, find nothing left to send (the sweep in progress then may be the sender).
        then = sweeps
        sweeper.wake()
        await fake.wait_for(lambda: sweeps >= then + 2, within=10, what="two more sweeps")
        assert await offer_courier.deliver_pending(services) == 0
        assert sum("A student needs" in m.text for m in john.messages()) == 1


async def test_withdrawing_a_task_gives_its_place_back_and_cancels_its_offers(
    app, services, fake, john, clock
):
    clock.current = NOW
    await _supervisor(services, john.user, "John Smith")
    nora = await _coordinator(services, fake, app)
    slot_id = await _slot(services)
    await _propose(app, services, slot_id)
    await john.press("Yes, I'll supervise")
    await john.command("tasks")
    await john.press("registry study")
    await john.press("Withdraw")
    await john.press("Yes, withdraw")
    async with services.db.session() as s:
        slot = await s.get(Slot, slot_id)
    assert slot is not None and slot.filled == 0
    assert "ga fra seg plassen" in nora.last().text


async def test_an_offer_is_shown_in_chat_once_even_with_two_couriers(app, services, john, clock):
    import asyncio

    clock.current = NOW
    await _supervisor(services, john.user, "John Smith")
    slot_id = await _slot(services)
    async with services.db.session() as s:
        await offers.propose(s, services.settings, slot_id, NOW)
    await asyncio.gather(
        offer_courier.deliver_pending(services),
        offer_courier.deliver_pending(services),
    )
    assert sum("A student needs" in m.text for m in john.messages()) == 1
