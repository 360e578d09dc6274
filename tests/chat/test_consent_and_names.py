"""The first minute with the bot: the consent buttons, updates Telegram delivers twice, and the
name suggested from the Telegram profile. Everything goes through the real PTB application."""

from __future__ import annotations

from typing import Any

import pytest

from bot.chat.flows.registration.steps import Step
from bot.chat.inbox import Inbox
from storage import inbox, repository
from storage.inbox import Received
from tests.helpers import code_in, mails, stored
from tests.support.chat import Chat, TgUser

FIRST_QUESTION = "Step 1 of 6"


async def _processed_again(app: Any, services: Any, update: dict[str, Any]) -> None:
    """What a restart does with an update whose handler a crash cut short after it answered the
    press (or the message): the inbox holds it not done, with its press marked answered."""
    now = services.clock.now()
    user = (update.get("callback_query") or update.get("message") or {}).get("from") or {}
    async with services.db.session() as session:
        await inbox.store(session, [Received(update["update_id"], user.get("id"), update)], now)
        await inbox.mark_answered(session, update["update_id"], now)
    async with services.db.session(write=False) as session:
        rows = await inbox.pending(session, [update["update_id"]])
    await Inbox(app).handle(rows[0])


@pytest.fixture
def database_url(sqlite_url: str) -> str:
    """Chat stories; the storage they use is exercised on PostgreSQL elsewhere."""
    return sqlite_url


def _person(fake: Any, app: Any, first_name: str, last_name: str | None = None) -> Chat:
    return Chat.in_process(
        fake, TgUser(id=7770001, first_name=first_name, last_name=last_name), app
    )


def _shown(chat: Chat, needle: str) -> int:
    return sum(needle in text for text in chat.texts())


# ---- the name from the Telegram profile ---------------------------------------------------------


@pytest.mark.parametrize(
    ("first_name", "last_name"),
    [
        ("Kari\u202eNordmann", None),  # a right-to-left override: not what it looks like
        ("Kari", "Nordmann\r\nDROP"),  # two lines
        ("K" * 129, None),  # longer than any name we store
        ("Kari\u200b", "Nordmann"),  # a zero-width space
    ],
)
async def test_a_profile_name_that_would_be_refused_typed_is_not_offered(
    fake, app, services, first_name, last_name
):
    person = _person(fake, app, first_name, last_name)
    await person.command("start")
    await person.press("I agree")
    await person.press("Clinical")
    assert "What is your full name?" in person.last().text
    assert not any("Yes" in label for label in person.last().button_texts)
    await person.send_sticker()
    assert "Please type your name (at least two letters)." in person.last().text
    assert "Yes" not in person.last().text
    await person.send("Kari Nordmann")
    conv, _ = await stored(services, person.user.id)
    assert conv is not None and conv.data["name"] == "Kari Nordmann"
    assert "name_suggestion" not in conv.data


@pytest.mark.parametrize(
    "first_name",
    [
        "👩\u200d⚕\ufe0f Kari",
        "Kari 👨🏽\u200d💻",
        "Ola 🏳\ufe0f\u200d🌈",
        "Kari 🏴\U000e0067\U000e0062\U000e0077\U000e006c\U000e0073\U000e007f",
    ],
)
async def test_a_profile_name_with_joined_emoji_is_offered_and_stored_as_it_is(
    fake, app, services, first_name
):
    person = _person(fake, app, first_name)
    await person.command("start")
    await person.press("I agree")
    await person.press("Clinical")  # the name is given: a line on the summary, not a question
    assert "What is your title or role?" in person.last().text
    conv, _ = await stored(services, person.user.id)
    assert conv is not None and conv.data["name"] == first_name
    assert conv.step == Step.TITLE


async def test_a_typed_name_with_joined_emoji_is_stored_as_typed(fake, app, services):
    john = _person(fake, app, "Kari\u200b", "Nordmann")  # refused, so the name is asked
    await john.command("start")
    await john.press("I agree")
    await john.press("Clinical")
    await john.send("👩\u200d⚕\ufe0f Kari Nordmann")
    assert "What is your title or role?" in john.last().text
    conv, _ = await stored(services, john.user.id)
    assert conv is not None and conv.data["name"] == "👩\u200d⚕\ufe0f Kari Nordmann"


async def test_a_draft_begun_with_a_bad_suggestion_asks_for_the_name_when_yes_is_tapped(
    john, services
):
    await john.command("start")
    await john.press("I agree")
    await john.press("Clinical")
    async with services.db.session() as session:  # as a draft from before names were checked
        conv = await repository.get_conversation(session, john.user.id)
        assert conv is not None
        conv.data["name_suggestion"] = "John\u202eSmith" + "h" * 120
        conv.step = Step.NAME
        for key in ("name", "given"):
            conv.data.pop(key, None)
        await repository.save_conversation(session, conv, services.clock.now())
    await john.command("start")
    await john.press("Continue")
    await john.press("Yes, that's right")
    assert "The name in your Telegram profile has characters we cannot store" in john.last().text
    assert "What is your full name?" in john.last().text
    assert not any("Yes" in label for label in john.last().button_texts)
    conv, _ = await stored(services, john.user.id)
    assert conv is not None and "name" not in conv.data and conv.step == Step.NAME


# ---- consent ------------------------------------------------------------------------------------


async def test_no_thanks_on_an_older_consent_message_keeps_the_answers_and_says_so(john, services):
    await john.command("start")
    older = john.last()
    await john.command("start")
    await john.press("I agree")
    await john.press("Research")

    await john.press("No thanks", message=older)

    closed = john.fake.get_message(john.chat_id, older.message_id)
    assert closed is not None
    assert "your answers so far are kept" in closed.text and "/delete" in closed.text
    assert "nothing was stored" not in closed.text
    assert "What is your title or role?" in john.last().text  # the question they were at, again
    conv, _ = await stored(services, john.user.id)
    assert conv is not None and conv.data["name"] == "John Smith"
    assert conv.data["exchange_types"] == ["research"]


async def test_no_thanks_before_agreeing_still_stores_nothing(john, services):
    await john.command("start")
    await john.press("No thanks")
    assert "nothing was stored" in john.last().text
    assert await stored(services, john.user.id) == (None, None)


async def test_i_agree_processed_again_after_a_crash_shows_the_first_question_again(
    john, app, services
):
    """A crash after "I agree" was answered and before its handler returned: processed again,
    the consent is not given twice nor the press answered twice, and the first question is
    shown again (the crash may have cut it off), so the person is never left waiting."""
    await john.command("start")
    await john.press("I agree")
    agreed = john.updates[-1]
    assert _shown(john, FIRST_QUESTION) == 1

    await _processed_again(app, services, agreed)

    assert _shown(john, FIRST_QUESTION) == 2
    assert john.fake.violations == []
    await john.press("Research")
    conv, _ = await stored(services, john.user.id)
    assert conv is not None and conv.step == Step.TITLE


async def test_start_and_continue_processed_again_after_a_crash_show_the_screen_again(
    john, app, services
):
    await john.command("start")
    await john.press("I agree")
    await john.press("Research")
    await john.command("start")
    start = john.updates[-1]
    assert _shown(john, "Continue where you left") == 1

    await _processed_again(app, services, start)
    assert _shown(john, "Continue where you left") == 2

    await john.press("Continue")
    go_on = john.updates[-1]
    asked = _shown(john, "What is your title or role?")
    await _processed_again(app, services, go_on)
    assert _shown(john, "What is your title or role?") == asked + 1
    assert john.fake.violations == []
    await john.press("Researcher")
    conv, _ = await stored(services, john.user.id)
    assert conv is not None and conv.step == Step.WORKPLACE


@pytest.mark.slow
def test_the_demo_stopped_mid_registration_goes_on_after_a_restart(tmp_path):
    """The demo makes its own update ids: a restart must not reuse ones its draft remembers,
    or /start and every answer after it would be taken for a repeat and ignored."""
    from tests.cli.test_cli import DemoSession

    first = DemoSession(tmp_path)
    first.press("I agree")
    first.press("Research")
    assert first.close() == 0

    again = DemoSession(tmp_path)
    assert "Continue where you left" in again.screen
    assert "What is your title or role?" in again.press("Continue")
    assert "Step 3 of 6" in again.press("Researcher")
    assert again.close() == 0


async def test_after_telegram_restarts_update_ids_a_smaller_id_is_answered(kari, services):
    """Telegram may restart update ids at a random value after a week without updates: an update
    with a smaller id than the last one stored is a new answer, not a repeat."""
    await kari.command("start")
    await kari.press("Jeg samtykker")
    async with services.db.session() as session:
        conv = await repository.get_conversation(session, kari.user.id)
        assert conv is not None
        conv.last_update_id += 10_000_000  # as if the ids had started again far below
        await repository.save_conversation(session, conv, services.clock.now())
    await kari.press("Forskning")
    conv, _ = await stored(services, kari.user.id)
    assert conv is not None and conv.data.get("exchange_types") == ["research"], conv.data


async def test_an_answer_given_again_after_a_crash_before_the_reply_shows_the_next_question(
    john, services
):
    """The answer was stored, then the process stopped before it said anything: the inbox hands
    the update over again, and instead of silence the person sees where they are now."""
    await john.command("start")
    await john.press("I agree")
    await john.press("Research")
    await john.press("Researcher")
    await john.send("Institute of Health and Society")
    typed = john.updates[-1]
    city = "In which city?"
    assert _shown(john, city) == 1

    await john.deliver_update(typed)  # stored and committed, never answered

    assert _shown(john, city) == 2
    conv, _ = await stored(services, john.user.id)
    assert conv is not None and conv.data.get("workplace") == "Institute of Health and Society"
    await john.press("Oslo")
    conv, _ = await stored(services, john.user.id)
    assert conv is not None and conv.step == Step.FIELDS


async def test_confirm_processed_again_after_a_crash_thanks_again(john, app, services, settings):
    """The registration committed and its draft gone, a crash cuts the thanks off: processed
    again, Confirm finds no draft and says thanks again (not "stale"), answering the press once."""
    await john.command("start")
    await john.press("I agree")
    await john.press("Research")
    await john.press("Researcher")
    await john.send("Haukeland University Hospital")
    await john.press("Bergen")
    await john.press("Epidemiology")
    await john.send("researcher@uib.no")
    await services.sender.run_once()
    await john.send(code_in(mails(settings.mail_dir)[-1]))
    assert "Please check your details" in john.last().text
    await john.press("Confirm")
    confirm = john.updates[-1]
    assert _shown(john, "registered as a supervisor") == 1

    await _processed_again(app, services, confirm)

    assert _shown(john, "registered as a supervisor") == 2
    _, supervisor = await stored(services, john.user.id)
    assert supervisor is not None and supervisor.email == "researcher@uib.no"
    assert john.fake.violations == []
