"""The terminal demo as a person meets it: numbered buttons (also on older messages), the prompt's
name, emails held for working hours; and the pieces it is built from (bot/demo/)."""

from __future__ import annotations

import html
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.chat.telegram_html import received
from bot.demo.terminal import Buttons, on_screen
from tests.support.demo import DemoSession, register, research_task

# --------------------------------------------------------------------------- in the terminal


@pytest.mark.slow
def test_a_coordinator_reaches_the_buttons_of_every_month_and_no_number_goes_astray(tmp_path):
    demo = DemoSession(tmp_path, "demo", "--today", "2026-11-24")
    welcome = [int(n) for n in re.findall(r"\[(\d+)\]", demo.screen)]  # the supervisor's
    demo.type("/as coordinator")
    demo.type("/upload slots-example.csv")
    screen = demo.type("/slots")
    assert screen.count("🤖 *") >= 3  # a message per month
    numbers = [int(n) for n in re.findall(r"\[(\d+)\]", screen)]
    assert len(set(numbers)) == len(numbers) and not set(numbers) & set(welcome)

    # the first month's button, though later months' messages came after it
    screen = demo.press("Cancel SCOPE-2027-01-BGO-1")
    assert "Cancel the place *SCOPE-2027-01-BGO-1*" in screen
    yes = demo.button("Yes, cancel the place")
    assert "The place *SCOPE-2027-01-BGO-1* is cancelled" in demo.type(yes)

    # a number whose button is gone, or in the other person's chat, is not sent at all
    screen = demo.type(yes)
    assert f"(button [{yes}] is no longer there: nothing was sent." in screen
    assert "🤖" not in screen
    screen = demo.type(str(welcome[0]))
    assert f"(button [{welcome[0]}] is in the chat of Demo Doctor: /as supervisor first)" in screen
    assert "🤖" not in screen

    # a number as an answer: after an apostrophe
    demo.type("/addslot")
    demo.type("SCORE-2027-05-BGO-9")
    demo.press("Research")
    demo.press("Bergen")
    demo.type("2027-05-03")
    assert "How many students" in demo.press("4 weeks")
    assert "preferred field" in demo.type("'3")
    demo.press("No preference")
    assert "Places: 3" in demo.press("Skip")
    assert demo.close() == 0


@pytest.mark.slow
def test_the_prompt_names_the_person_as_registered_not_as_on_telegram(tmp_path):
    demo = DemoSession(tmp_path, name="Kari Nordmann")
    assert demo.prompt == "Kari Nordmann"
    register(demo, name="Dr. Kari Berg")
    assert demo.prompt == "Dr. Kari Berg"
    demo.type("/as coordinator")
    assert "(you are now Dr. Kari Berg)" in demo.type("/as supervisor")
    demo.type("/delete")
    demo.press("Yes, erase everything")
    assert demo.prompt == "Kari Nordmann"
    assert demo.close() == 0


def test_the_demo_shows_the_referral_share_link_after_registering(tmp_path):
    demo = DemoSession(tmp_path, name="Kari Nordmann")
    register(demo)
    assert "   [🔗] Invite a colleague: https://t.me/share/url?url=" in demo.transcript
    assert demo.close() == 0


@pytest.mark.slow
def test_at_night_the_demo_says_when_the_held_offer_email_goes_out(tmp_path):
    demo = DemoSession(tmp_path, "demo", "--today", "2026-11-24", "--at", "22:00")
    register(demo)
    research_task(demo, description="A registry study of antibiotic use.", backup="Dr. Lise Berg")
    demo.press("Submit for approval")
    demo.type("/as coordinator")
    demo.type("/pending")
    demo.press("Approve")
    demo.type("/upload slots-example.csv")
    screen = demo.type("/propose SCORE-2027-03-OSL-1")
    assert "A student needs a supervisor" in screen  # the chat does not wait
    assert "📧 Email to demo@ous-hf.no: An exchange student" not in screen
    assert (
        "⏸️ The offer email to demo@ous-hf.no waits for working hours: "
        "it goes out Wednesday 25 Nov, 08:00." in screen
    )
    assert "waits for working hours" not in demo.type("/slots")  # said once, not on every line
    assert demo.close() == 0
    assert len(list((tmp_path / "var" / "mail").glob("*.eml"))) == 1  # only the code


# --------------------------------------------------------------------------- the pieces


def _keyboard(*data: str) -> list[list[dict[str, str]]]:
    return [[{"text": d.upper(), "callback_data": d}] for d in data]


def test_numbers_count_on_across_messages_and_stay_with_their_button():
    buttons = Buttons()
    buttons.message(1, 10, _keyboard("a", "b"))
    buttons.message(1, 11, _keyboard("c"))
    assert [c.number for c in buttons.of_message(10)] == [1, 2]
    assert [c.number for c in buttons.of_message(11)] == [3]
    # an edit (a toggle, a button more) keeps the numbers of the buttons that stay
    buttons.message(1, 10, _keyboard("b", "x", "a"))
    assert [(c.number, c.callback_data) for c in buttons.of_message(10)] == [
        (2, "b"),
        (4, "x"),
        (1, "a"),
    ]
    # answered: the numbers die and are never given out again
    buttons.message(1, 10, [])
    assert set(buttons.live) == {3} and buttons.issued == 4
    buttons.message(2, 12, _keyboard("a"))
    assert [c.number for c in buttons.of_message(12)] == [5]


def test_a_reply_keyboard_is_numbered_until_it_is_removed():
    buttons = Buttons()
    buttons.keyboard(
        7, [[{"text": "Share my number", "request_contact": True}], [{"text": "Skip"}]]
    )
    shared, skip = buttons.of_keyboard(7)
    assert (shared.number, shared.contact, skip.number, skip.contact) == (1, True, 2, False)
    buttons.keyboard(7, [[{"text": "Skip"}]])
    assert [c.number for c in buttons.of_keyboard(7)] == [2]
    buttons.keyboard(7, [])
    assert buttons.live == {}


def test_the_terminal_marks_bold_and_shows_link_addresses_at_utf16_offsets():
    text, entities = received('🎓 <b>Fag</b> og 😀 <a href="https://x.example">lenke</a> &amp; mer')
    assert on_screen(text, entities) == "🎓 *Fag* og 😀 lenke (https://x.example) & mer"


@given(st.text(max_size=30), st.text(max_size=30))
def test_the_terminal_shows_exactly_the_text_telegram_keeps(before: str, bold: str) -> None:
    text, entities = received(f"{html.escape(before)}<b>{html.escape(bold)}</b>")
    assert on_screen(text, entities).replace("*", "") == text.replace("*", "")
