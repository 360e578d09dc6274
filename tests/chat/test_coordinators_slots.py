"""Coordinators keep the slots in chat: /slots by month, cancelling a slot, /addslot, a CSV file,
and /propose; through the real PTB application (with file downloads) and real databases."""

from __future__ import annotations

from datetime import date
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from sqlmodel import col, select

from bot.chat.engine.rows import Kind
from bot.chat.flows.coordinator import addslot
from bot.chat.flows.coordinator.addslot import AStep
from bot.core.i18n import Translator
from storage.models import Coordinator, Offer, OfferStatus, Slot, SlotStatus, TaskStatus
from tests.support import coordinator_fixtures
from tests.support.coordinators import add_slot, bound_coordinator, supervisor_with_task
from tests.support.files import send_file

# The coordinators' stories: files served, the app wired as in production, and Nora.
fake, app, nora = coordinator_fixtures.fake, coordinator_fixtures.app, coordinator_fixtures.nora

HEADER = "reference,exchange_type,city,start_date,weeks,places,field_preference,partner_country\n"


async def _slot(services, reference: str) -> Slot | None:
    async with services.db.session() as session:
        result = await session.execute(select(Slot).where(col(Slot.reference) == reference))
        return result.scalar_one_or_none()


async def _offer(services, slot: Slot, task_id: int, supervisor_id: int, **values: Any) -> None:
    async with services.db.session() as session:
        session.add(
            Offer(
                slot_id=slot.id or 0,
                task_id=task_id,
                supervisor_id=supervisor_id,
                reply_by=date(2027, 6, 28),
                created_at=services.clock.now(),
                **values,
            )
        )


# ---- /slots --------------------------------------------------------------------------------------


async def test_slots_of_the_scope_by_month_with_places_filled_and_open(services, nora):
    await add_slot(services, "SCOPE-2027-09-OSL-1", places=2, filled=1)
    await add_slot(services, "SCOPE-2027-09-OSL-2", start=date(2027, 9, 20), places=1)
    await add_slot(services, "SCOPE-2027-10-OSL-1", start=date(2027, 10, 4), places=3, filled=3)
    await add_slot(services, "SCOPE-2027-01-OSL-1", start=date(2027, 1, 4), places=1)
    await add_slot(services, "SCOPE-2026-10-OSL-1", start=date(2026, 10, 5))  # over already
    await add_slot(services, "SCOPE-2027-09-BGO-1", city="bergen")  # not her city
    await add_slot(services, "SCORE-2027-09-OSL-1", exchange_type="research")  # not her type
    await bound_coordinator(services, nora)

    await nora.command("slots")
    january, september, october = nora.messages()[-3:]
    assert january.text.startswith("Jan 2027\n")
    assert "SCOPE-2027-01-OSL-1 Clinical, Oslo, from 2027-01-04, 4 weeks" in january.text
    assert "⚠️ reply-by date 2026-10-26 has passed" in january.text
    assert september.text.splitlines() == [
        "Sep 2027",
        "SCOPE-2027-09-OSL-1 Clinical, Oslo, from 2027-09-06, 4 weeks: 2 places, 1 filled, "
        "1 open (reply by 2027-06-28)",
        "SCOPE-2027-09-OSL-2 Clinical, Oslo, from 2027-09-20, 4 weeks: 1 place, 0 filled, "
        "1 open (reply by 2027-07-12)",
    ]
    assert september.button_texts == ["Cancel SCOPE-2027-09-OSL-1", "Cancel SCOPE-2027-09-OSL-2"]
    assert "3 places, 3 filled, 0 open" in october.text and "reply by" not in october.text
    for message in (january, september, october):
        assert "BGO" not in message.text and "SCORE" not in message.text
        assert "SCOPE-2026-10" not in message.text


async def test_no_slots_yet(services, nora):
    await bound_coordinator(services, nora)
    await nora.command("slots")
    assert "There are no current exchange places in your area" in nora.last().text


async def test_cancelling_a_slot_tells_the_supervisors_who_accepted_or_saw_the_offer(
    services, nora, kari, john
):
    slot = await add_slot(services, "SCOPE-2027-09-OSL-1", places=2, filled=1)
    accepted = await supervisor_with_task(
        services, kari, title="Hjerte", status=TaskStatus.APPROVED
    )
    seen = await supervisor_with_task(services, john, title="Lungs", status=TaskStatus.APPROVED)
    await _offer(services, slot, accepted.id or 0, accepted.supervisor_id,
                 status=OfferStatus.ACCEPTED, delivered_at=services.clock.now())  # fmt: skip
    await _offer(services, slot, seen.id or 0, seen.supervisor_id,
                 delivered_at=services.clock.now())  # fmt: skip
    await bound_coordinator(services, nora)
    await nora.command("slots")

    await nora.press("Cancel SCOPE-2027-09-OSL-1")
    confirm = nora.last()
    assert "Cancel the place <b>SCOPE-2027-09-OSL-1</b> (Oslo, from 2027-09-06)?" in confirm.html
    await nora.press("No, keep it")
    assert nora.last().text == "Kept: the place SCOPE-2027-09-OSL-1 is unchanged."
    assert (await _slot(services, "SCOPE-2027-09-OSL-1")).status == SlotStatus.OPEN

    [month] = [m for m in nora.messages() if m.text.startswith("Sep 2027")]
    await nora.press("Cancel SCOPE-2027-09-OSL-1", month)
    _, yes = nora.find_button("Yes, cancel the place")
    await nora.press("Yes, cancel the place")
    assert nora.last().text == "The place SCOPE-2027-09-OSL-1 is cancelled. Supervisors told: 2."
    assert (
        "avlyst studentplassen du takket ja til (Klinisk, Oslo, fra 2027-09-06)" in kari.last().text
    )
    assert "The student place you were asked about (Clinical, Oslo, from 2027-09-06)" in (
        john.last().text
    )
    stored = await _slot(services, "SCOPE-2027-09-OSL-1")
    assert stored is not None and stored.status == SlotStatus.CANCELLED
    async with services.db.session() as session:
        statuses = (await session.execute(select(col(Offer.status)))).scalars().all()
    assert set(statuses) == {OfferStatus.CANCELLED}

    told = len(kari.messages())
    assert yes.callback_data is not None
    query = await nora.press_data(yes.callback_data)  # a second tap, or a replay
    answer = nora.fake.callback_answer(query)
    assert answer is not None and answer.text == (
        "This question was already answered, or what it asks about has changed since. "
        "Nothing was done."
    )
    assert len(kari.messages()) == told

    await nora.command("slots")
    assert "<s>SCOPE-2027-09-OSL-1</s>" in nora.last().html and nora.last().button_texts == []


async def test_an_offer_never_shown_is_cancelled_without_a_message(services, nora, kari):
    slot = await add_slot(services, "SCOPE-2027-09-OSL-1")
    task = await supervisor_with_task(services, kari, title="Hjerte", status=TaskStatus.APPROVED)
    await _offer(services, slot, task.id or 0, task.supervisor_id)  # not delivered yet
    await bound_coordinator(services, nora)
    await nora.command("slots")
    await nora.press("Cancel SCOPE-2027-09-OSL-1")
    await nora.press("Yes, cancel the place")
    assert "Supervisors told: 0." in nora.last().text
    assert kari.messages() == []


# ---- /addslot ------------------------------------------------------------------------------------


async def test_a_national_research_coordinator_adds_a_slot_step_by_step(services, nora):
    await add_slot(services, "SCORE-2027-10-BGO-1", exchange_type="research", city="bergen")
    await bound_coordinator(services, nora, role="NORE", exchange_type="research", city="national")

    await nora.command("addslot")
    assert "New exchange place" in nora.last().text
    await nora.send("SCORE 2027")
    assert (
        "The reference must be 1–60 letters, digits, - or _ (got “SCORE 2027”)" in nora.last().text
    )
    await nora.send("SCORE-2027-10-BGO-1")
    assert "There is already a place with the reference SCORE-2027-10-BGO-1" in nora.last().text
    await nora.send("SCORE-2027-10-BGO-2")
    cities = nora.last()  # one exchange type in scope: not asked
    assert cities.text == "In which city?"
    assert cities.button_texts[:5] == [
        "Oslo",
        "Bergen",
        "Trondheim",
        "Tromsø",
        "Innlandet (Lillehammer/Gjøvik)",
    ]
    await nora.press("Bergen")
    # Answered in place: the question keeps the answer under it, the next one follows it.
    answered = nora.last()
    assert answered.message_id == cities.message_id
    assert answered.text.startswith("In which city?\n✔️ Bergen\n\n")
    assert "First day of the stay?" in answered.text.split("✔️ Bergen")[1]
    assert "Bergen" not in answered.button_texts
    await nora.send("2027-02-30")
    assert "The start date must be a date like 2027-01-04 (got “2027-02-30”)" in nora.last().text
    await nora.send("Bergen")  # a typed answer to a date question is a bad date, nothing more
    await nora.send(" 2027-10-04 ")
    assert nora.last().button_texts == ["4 weeks", "8 weeks", "Cancel"]
    await nora.send("8")  # typed where buttons are wanted
    assert "Please choose one of the buttons." in nora.last().text
    await nora.press("8 weeks")
    await nora.send("30")
    assert "Places must be a whole number from 1 to 20 (got “30”)" in nora.last().text
    await nora.press("2")
    assert "Epidemiology" in nora.last().button_texts  # research fields
    await nora.press("Epidemiology")
    await nora.send("Chile")
    summary = nora.last()
    assert "Reference: SCORE-2027-10-BGO-2" in summary.text and "Research · Bergen" in summary.text
    assert "From 2027-10-04, 8 weeks" in summary.text and "Places: 2" in summary.text
    assert "Preferred field: Epidemiology" in summary.text
    assert "Partner country: Chile" in summary.text
    assert "Reply-by date for supervisors: 2027-07-26" in summary.text

    await nora.press("Add the place")
    assert "✅ Added SCORE-2027-10-BGO-2." in nora.last().text
    slot = await _slot(services, "SCORE-2027-10-BGO-2")
    assert slot is not None
    assert (slot.exchange_type, slot.city, slot.start_date, slot.weeks, slot.places) == (
        "research", "bergen", date(2027, 10, 4), 8, 2,
    )  # fmt: skip
    assert (slot.field_preference, slot.partner_country, slot.filled) == (
        "epidemiology",
        "Chile",
        0,
    )
    async with services.db.session() as session:
        from storage import repository

        assert await repository.get_conversation(session, nora.user.id) is None


async def test_a_local_clinical_coordinator_is_asked_only_what_can_differ(services, nora, clock):
    await bound_coordinator(services, nora)  # LEO, clinical, Oslo
    await nora.command("addslot")
    await nora.send("SCOPE-2027-01-OSL-7")
    assert "First day of the stay?" in nora.last().text  # type, city: only one possible
    await nora.send("2027-01-04")
    assert "How many students" in nora.last().text  # clinical stays are 4 weeks
    await nora.send("1")
    await nora.press("No preference")
    await nora.press("Skip")
    summary = nora.last().text
    assert "Clinical · Oslo" in summary and "4 weeks" in summary
    assert "Preferred field: No preference" in summary and "Partner country: —" in summary
    await nora.press("Add the place")
    assert "⚠️ Its reply-by date (2026-10-26) has already passed: it is marked urgent." in (
        nora.last().text
    )
    slot = await _slot(services, "SCOPE-2027-01-OSL-7")
    assert slot is not None and slot.city == "oslo" and slot.field_preference is None


async def test_addslot_can_be_cancelled_and_old_buttons_do_nothing(services, nora, fake):
    await bound_coordinator(services, nora, role="NEO", city="national")
    await nora.command("addslot")
    await nora.send("SCOPE-2027-01-TRD-1")
    _, oslo = nora.find_button("Oslo")
    await nora.press("Trondheim")
    assert oslo.callback_data is not None
    query = await nora.press_data(oslo.callback_data)  # the question was answered already
    answer = fake.callback_answer(query)
    assert answer is not None and answer.text == "This button is no longer active."
    await nora.press("Cancel")
    assert nora.last().text == "Cancelled. Nothing was changed."
    assert await _slot(services, "SCOPE-2027-01-TRD-1") is None
    await nora.send("2027-01-04")  # no flow: not an answer to anything
    assert await _slot(services, "SCOPE-2027-01-TRD-1") is None


# ---- /addslot, pure: the CSV importer's rules guard every answer ---------------------------------

SCOPES = [
    Coordinator(email="n@x.no", role="NEO", exchange_type="clinical", city="national"),
    Coordinator(email="n@x.no", role="LORE", exchange_type="research", city="tromso"),
]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(st.text(max_size=30), st.sampled_from(
    ["SCOPE-1", "research", "clinical", "tromso", "oslo", "2027-03-01", "4", "8", "2", "-",
     "public_health", "Oman"])), max_size=14))  # fmt: skip
def test_whatever_is_typed_or_pressed_a_finished_slot_passes_the_importer(answers):
    form, tr = addslot.FORM, Translator("en")
    data = addslot.start_data(SCOPES, date(2026, 11, 24), 2)
    step = form.first(data)
    for raw in answers:
        before = dict(data)
        if form[step].kind == Kind.TEXT:  # typed
            applied = form.apply_text(step, data, raw, tr)
        else:  # typed where a button is wanted changes nothing; pressed, it carries `raw`
            typed = form.apply_text(step, data, raw, tr)
            assert not typed.accepted and typed.step == step and data == before
            applied = form.apply_button(step, data, "pick", raw, tr)
        if not applied.accepted:
            assert data == before and applied.step == step, "a refused answer changes nothing"
        step = applied.step
        if step == AStep.CONFIRM:
            break
    if step == AStep.CONFIRM:
        row, errors = addslot.check_row(addslot._cells(data))
        assert errors == [] and row is not None
        allowed = addslot.allowed_places(SCOPES)
        assert row.city in allowed[row.exchange_type], "only a city in scope"


# ---- a CSV file ----------------------------------------------------------------------------------


async def test_a_csv_file_with_a_bad_row_imports_nothing_and_names_the_lines(services, nora, fake):
    await bound_coordinator(services, nora)
    content = (
        HEADER
        + "SCOPE-2027-01-OSL-1,clinical,oslo,2027-01-04,4,2,cardiology,Poland\n"
        + "SCOPE-2027-02-OSL-1,clinical,osl,2027-02-01,4,1,,Spain\n"
        + "SCOPE-2027-03-BGO-1,clinical,bergen,2027-03-01,4,1,,Oman\n"
    ).encode()
    await send_file(nora, fake, "slots.csv", content)
    report = nora.last().text
    assert report.startswith("Nothing was imported: the file has 2 problems.")
    assert "Line 3: Unknown city “osl”" in report
    assert "Line 4: The place is outside your area (clinical bergen)." in report
    assert await _slot(services, "SCOPE-2027-01-OSL-1") is None
    assert fake.downloads == ["documents/file_1.csv"]

    good = (HEADER + "SCOPE-2027-01-OSL-1,clinical,oslo,2027-01-04,4,2,cardiology,Poland\n"
            "SCOPE-2027-02-OSL-1;x\n").encode()  # fmt: skip
    await send_file(nora, fake, "slots.csv", good)
    assert "Line 3: Expected 8 columns, found 1." in nora.last().text

    good = good.replace(b"SCOPE-2027-02-OSL-1;x\n", b"")
    await send_file(nora, fake, "slots.csv", "\ufeff".encode() + good)
    assert "Slot list imported: 1 new, 0 changed, 0 unchanged." in nora.last().text
    await send_file(nora, fake, "slots.csv", good)
    assert "Slot list imported: 0 new, 0 changed, 1 unchanged." in nora.last().text
    slot = await _slot(services, "SCOPE-2027-01-OSL-1")
    assert slot is not None and slot.places == 2 and slot.partner_country == "Poland"


async def test_a_file_that_is_not_a_slot_list(services, nora, fake):
    await bound_coordinator(services, nora)
    await send_file(nora, fake, "scan.pdf", b"%PDF-1.7", mime_type="application/pdf")
    assert "Send the slot list as a .csv file" in nora.last().text
    await send_file(nora, fake, "slots.csv", b"\xff\xfe\x00garbage")
    assert "Line 1: The file is not UTF-8 text" in nora.last().text
    assert fake.downloads == ["documents/file_1.csv"]


async def test_a_file_from_anyone_else_is_just_another_message(services, kari, fake):
    await kari.send_sticker()
    answer = kari.last().text
    await send_file(
        kari, fake, "slots.csv", (HEADER + "X,clinical,oslo,2027-01-04,4,1,,\n").encode()
    )
    assert kari.last().text == answer
    assert fake.downloads == [] and await _slot(services, "X") is None


# ---- /propose ------------------------------------------------------------------------------------


async def test_propose_asks_the_matching_supervisors_now(services, nora, kari):
    await add_slot(services, "SCOPE-2027-09-OSL-1", places=1)
    await add_slot(services, "SCOPE-2027-09-BGO-1", city="bergen")
    task = await supervisor_with_task(services, kari, title="Hjerte", status=TaskStatus.APPROVED)
    await bound_coordinator(services, nora)

    await nora.command("propose")
    assert "Send /propose followed by the place's reference" in nora.last().text
    await nora.command("propose", "scope-2027-09-osl-1")  # any case
    assert nora.last().text.startswith("Asked about SCOPE-2027-09-OSL-1: 1 supervisor.")
    async with services.db.session() as session:
        [offer] = (await session.execute(select(Offer))).scalars().all()
    assert (offer.task_id, offer.status) == (task.id, OfferStatus.SENT)

    await nora.command("propose", "SCOPE-2027-09-OSL-1")
    assert nora.last().text.startswith("Nobody new to ask about SCOPE-2027-09-OSL-1")
    await nora.command("propose", "SCOPE-2027-09-BGO-1")  # exists, but not hers: not revealed
    assert (
        nora.last().text
        == "There is no open place SCOPE-2027-09-BGO-1 in your area. /slots lists them."
    )
    await nora.command("propose", "NOPE")
    assert nora.last().text == "There is no open place NOPE in your area. /slots lists them."
