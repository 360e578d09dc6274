"""The ways real people leave the happy path: odd input, back, cancel, stale buttons, edits."""

from __future__ import annotations

import json

import pytest

from bot.chat.flows.registration.steps import GIVEN, prefill
from bot.chat.handlers import COMMANDS
from tests.helpers import stored


async def _at_workplace(chat) -> None:
    await chat.command("start")
    await chat.press("I agree")
    await chat.press("Both")
    await chat.press("Senior consultant")


async def test_saying_no_to_the_privacy_notice_ends_politely_and_stores_nothing(john, services):
    await john.command("start")
    await john.press("No thanks")
    assert "nothing was stored" in john.last().text
    assert await stored(services, john.user.id) == (None, None)


async def test_the_language_button_switches_the_welcome_before_anything_is_stored(john, services):
    await john.command("start")
    await john.press("Bytt til norsk")
    assert "Velkommen til Veileder" in john.last().text
    await john.press("Jeg samtykker")
    assert "Steg 1 av 6" in john.last().text
    conv, _ = await stored(services, john.user.id)
    assert conv is not None and conv.language == "nb"


@pytest.mark.parametrize(
    "odd",
    ["sticker", "photo", "voice", "unknown command", "huge text", "document"],
)
async def test_unexpected_input_gets_the_steps_own_reprompt_and_changes_nothing(
    john, services, odd
):
    await _at_workplace(john)
    before, _ = await stored(services, john.user.id)
    match odd:
        case "sticker":
            await john.send_sticker()
        case "photo":
            await john.send_photo()
        case "voice":
            await john.send_voice()
        case "unknown command":
            await john.command("frobnicate")
        case "huge text":
            await john.send("x" * 5000)
        case "document":
            await john.send_document("cv.pdf", b"%PDF-1.4")
    reply = john.last().text
    assert "Step 3 of 6" in reply and "Where do you work?" in reply
    assert len(reply) < 1000
    after, _ = await stored(services, john.user.id)
    assert after is not None and before is not None
    assert (after.step, after.data) == (before.step, before.data)


async def test_an_invalid_email_is_refused_in_the_persons_language(kari, services):
    await kari.command("start")
    await kari.press("Jeg samtykker")
    await kari.press("Forskning")
    await kari.press("Forsker")
    await kari.send("UiB")
    await kari.press("Bergen")
    await kari.press("Epidemiologi")
    await kari.send("kari at uib dot no")
    assert "ser ikke ut som en e-postadresse" in kari.last().text
    conv, _ = await stored(services, kari.user.id)
    assert conv is not None and conv.step == "email" and "email" not in conv.data


async def test_an_edited_message_is_never_taken_as_an_answer(john, services):
    await _at_workplace(john)
    sent = await john.send("Haukeland")
    await john.edit(sent["message_id"], "Something else entirely")
    conv, _ = await stored(services, john.user.id)
    assert conv is not None and conv.data["workplace"] == "Haukeland" and conv.step == "city"


async def test_back_returns_to_the_previous_question_with_the_answer_kept(john, services):
    await _at_workplace(john)
    await john.send("Haukeland")
    await john.press("Back")
    assert "Where do you work?" in john.last().text
    await john.press("Keep current")
    assert "In which city?" in john.last().text
    conv, _ = await stored(services, john.user.id)
    assert conv is not None and conv.data["workplace"] == "Haukeland"


async def test_back_on_the_first_question_returns_to_the_consent_screen(john, services):
    await john.command("start")
    await john.press("I agree")
    await john.press("Back")
    assert "Privacy" in john.last().text


async def test_a_button_from_an_old_message_or_pressed_twice_does_nothing_harmful(john, services):
    await john.command("start")
    await john.press("I agree")
    types = john.last()
    research = types.callback_data[types.button_texts.index("Research")]
    await john.press("Clinical", types)
    await john.press_data(research, types)  # a quick second tap, before the buttons went away
    assert "no longer active" in john.fake.calls_to("answerCallbackQuery")[-1].params.get(
        "text", ""
    )
    conv, _ = await stored(services, john.user.id)
    assert conv is not None and conv.step == "title" and conv.data["exchange_types"] == ["clinical"]


async def test_a_forged_button_is_ignored(john, services):
    await john.command("start")
    await john.press("I agree")
    await john.press_data("r:types:pick:research:AAAAAAAA", john.last())
    conv, _ = await stored(services, john.user.id)
    assert conv is not None and conv.step == "types"


async def test_someone_elses_button_does_nothing_for_me(john, kari, services):
    await john.command("start")
    await john.press("I agree")
    johns_types = john.last()
    await kari.press_data(johns_types.callback_data[0], johns_types)
    assert await stored(services, kari.user.id) == (None, None)


async def test_cancel_keeps_the_draft_and_start_offers_to_continue(john, services):
    await _at_workplace(john)
    await john.command("cancel")
    assert "answers are kept" in john.last().text
    await john.send("Haukeland")  # not an answer while paused
    conv, _ = await stored(services, john.user.id)
    assert conv is not None and "workplace" not in conv.data and not conv.active
    await john.command("start")
    assert "unfinished registration" in john.last().text and "step 3 of 6" in john.last().text
    await john.press("Continue")
    assert "Where do you work?" in john.last().text
    await john.send("Haukeland")
    assert "In which city?" in john.last().text


async def test_start_over_forgets_the_earlier_answers(john, services):
    await _at_workplace(john)
    await john.command("start")
    await john.press("Start over")
    assert "Privacy" in john.last().text
    assert await stored(services, john.user.id) == (None, None)


async def test_help_in_the_middle_of_the_flow_repeats_the_question(john):
    await _at_workplace(john)
    await john.command("help")
    assert "/mydata" in john.last().text and "Where do you work?" in john.last().text


async def test_mydata_mid_flow_sends_everything_stored_as_json(john, services):
    await _at_workplace(john)
    await john.send("Haukeland")
    await john.command("mydata")
    [(name, content)] = john.documents()
    data = json.loads(content)
    assert name.endswith(".json")
    assert data["registration_in_progress"]["data"]["workplace"] == "Haukeland"
    assert data["telegram_user_id"] == john.user.id
    assert "In which city?" in john.last().text


async def test_delete_mid_flow_asks_first_and_then_erases_everything(john, services):
    await _at_workplace(john)
    await john.command("delete")
    await john.press("No, keep")
    assert "Where do you work?" in john.last().text
    await john.command("delete")
    await john.press("Yes, erase everything")
    assert "All your data is erased" in john.last().text
    assert await stored(services, john.user.id) == (None, None)
    await john.send("Haukeland")
    assert "Send /start to register" in john.last().text


async def test_the_command_menu_is_registered_in_bokmal_and_english(app, fake):
    assert [c["command"] for c in fake.commands(language_code=None)] == list(COMMANDS)
    assert "Registrer deg" in fake.commands(language_code="nb")[0]["description"]


def test_a_given_value_passes_the_check_a_typed_one_would():
    """An invitation's values are given only if typing or tapping them would be accepted."""
    data: dict[str, object] = {}
    prefill(
        data,
        {
            "name": "Kari\u202eNordmann",  # refused typed: asked instead
            "email": "kari at ous dot no",
            "city": "atlantis",
            "fields": ["cardiology", "astrology"],
        },
        verified_at="2026-11-30T06:00:00+00:00",
    )
    assert data == {GIVEN: []}
    prefill(data, {"name": "Kari Nordmann", "email": "kari@ous-hf.no", "city": "bergen"})
    assert data[GIVEN] == ["city", "name"]  # an address not proved by a link is asked, and its code
