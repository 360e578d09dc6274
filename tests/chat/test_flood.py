"""Per-person flood control through the real application: past the limit a person's updates are
dropped with one polite notice, their conversation stays on its question, and nobody else is
slowed. The stories elsewhere run with it off (tests/conftest.py); here it is on, with small
limits on a timer the test moves."""

from __future__ import annotations

import pytest

from bot.app import App
from bot.chat import flood
from bot.chat.telegram_html import parse_html
from bot.core.i18n import Translator
from bot.domain.flood import FloodGuard, FloodLimits
from tests.helpers import stored
from tests.support.chat import Chat


class Timer:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def database_url(sqlite_url: str) -> str:
    return sqlite_url


@pytest.fixture
def timer(app: App) -> Timer:
    timer = Timer()
    guard = FloodGuard(FloodLimits(updates=4, seconds=8.0))  # a token back every 2 seconds
    app.bot_data[flood.KEY] = flood.FloodGate(guard, timer)
    return timer


def notice(language: str) -> str:
    return parse_html(Translator(language)("flood.notice")).strip()


async def test_a_flood_is_told_once_takes_nothing_and_slows_nobody_else(
    services, john: Chat, kari: Chat, timer: Timer
):
    await john.command("start")
    await john.press("I agree")
    await john.press("Research")
    await john.press("Researcher / PhD")  # the fourth update in no time: still taken
    assert "Step 3 of 6" in john.last().text

    await john.send("Institute of Health and Society")  # the fifth: over the limit
    assert john.last().text == notice("en")
    conv, _ = await stored(services, john.user.id)
    assert conv is not None and conv.step == "work" and "workplace" not in conv.data

    query = await john.press_data(john.messages()[-2].callback_data[0])  # still flooding
    answer = john.fake.callback_answer(query)
    assert answer is not None and not answer.text  # answered, silently: the notice was given
    await john.send("Institute of Health and Society")
    assert [m.text for m in john.messages()].count(notice("en")) == 1

    await kari.command("start")  # someone else at the same instant is not slowed
    assert "Velkommen" in kari.last().text and notice("nb") not in kari.texts()

    timer.now += 2.0  # one update's worth refilled
    await john.send("Institute of Health and Society")
    assert "Step 4 of 6" in john.last().text
    conv, _ = await stored(services, john.user.id)
    assert conv is not None and conv.data["workplace"] == "Institute of Health and Society"


async def test_a_flooded_button_press_gets_the_notice_as_its_answer(john: Chat, timer: Timer):
    for _ in range(4):
        await john.command("help")
    before = len(john.messages())
    query = await john.press_data("anything", john.last())
    answer = john.fake.callback_answer(query)
    assert answer is not None and answer.text == notice("en")
    assert len(john.messages()) == before  # no message on top of the toast
