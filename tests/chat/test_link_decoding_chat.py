"""Whatever a person types after `/start` or whatever data a (forged) button carries, the bot
answers with the normal "link not valid" or "button expired" in that person's language: never
the generic error, never a crash. Driven by hypothesis through the real application."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from bot.app import build_application, running, services_of
from bot.chat.telegram_html import parse_html
from bot.core.i18n import Translator
from bot.core.settings import Settings
from bot.domain.clock import FrozenClock
from bot.mail.backends import FileBackend
from tests.support import slots as build
from tests.support.botapi.fake import FakeTelegram
from tests.support.botapi.request import RecordingRequest
from tests.support.chat import Chat, TgUser
from tests.support.coordinators import wire
from tests.support.databases import copy_sqlite_template
from tests.support.pacing import virtual_limiter

# A Norwegian supervisor whose Telegram app is in English: replies must follow the profile.
KARI = TgUser(id=7_000_001, first_name="Kari", language_code="en")
STRANGER = TgUser(id=8080, first_name="Ola", language_code="nb")

# Each deep-link prefix and the reply a bad payload of that kind gets.
INVALID = {
    "o_": "offer.link_invalid",
    "u_": "unsubscribe.invalid",
    "i_": "campaign.link_invalid",
    "n_": "campaign.link_invalid",
    "s_": "campaign.link_invalid",
    "v_": "verify.link_invalid",
    "c_": "coord.link_invalid",
}
SCOPES = ["c", "rs", "r", "p", "t", "k", "o", "cr", "sc", "x"]
ODD_DIGITS = "0123456789_-²³¹١٢٣۳߃०১੧૧୧௧౧೧൧๑໑༡၁႑០᠑０"
# Text without whitespace (everything after it would be a second argument).
word = st.text(alphabet=st.characters(blacklist_categories=("Z", "Cc", "Cs")), max_size=40)
odd = st.text(alphabet=ODD_DIGITS, max_size=14)
tail = st.one_of(
    word,
    st.builds(lambda a, b: a + b, odd, word),
    st.builds(lambda a, b, c: a + "_" + b + c, odd, st.sampled_from(["", "2027_"]), word),
    st.from_regex(r"[0-9]{1,4}_[A-Za-z0-9_-]{8}", fullmatch=True),
)


class Harness:
    """One real application on its own event loop, reused across hypothesis examples."""

    def __init__(self, tmp_path: Any, sqlite_template: Path) -> None:
        self.loop = asyncio.new_event_loop()
        self.fake = FakeTelegram()
        url = copy_sqlite_template(sqlite_template, tmp_path / "var" / "veileder.db")
        self.settings = Settings(
            _env_file=None,
            var_dir=tmp_path / "var",
            database_url=url,  # type: ignore[call-arg]
            secret_key="a-test-secret-key-of-at-least-32-chars",
            mail_from="v@nmf.example",
        )
        self.app = build_application(
            self.settings,
            rate_limiter=virtual_limiter(),
            request=RecordingRequest(self.fake),
            clock=FrozenClock(),
            mail_backend=FileBackend(self.settings.mail_dir),
            start_sender=False,
        )
        wire(self.app)
        self._running = running(self.app)
        self.loop.run_until_complete(self._running.__aenter__())
        self.kari = Chat.in_process(self.fake, KARI, self.app)
        self.stranger = Chat.in_process(self.fake, STRANGER, self.app)
        self.run(self._register_kari())
        self.run(self.kari.command("start"))  # a message to press buttons on

    async def _register_kari(self) -> None:
        async with services_of(self.app).db.session() as session:
            await build.supervisor(session, 1, language="nb")

    def run(self, coro: Any) -> Any:
        return self.loop.run_until_complete(coro)

    def close(self) -> None:
        self.run(self._running.__aexit__(None, None, None))
        self.loop.close()


@pytest.fixture(scope="module")
def harness(tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path):
    h = Harness(tmp_path_factory.mktemp("links"), sqlite_template)
    yield h
    h.close()
    assert h.fake.violations == []


def _expected(message_id: str, language: str) -> str:
    return parse_html(Translator(language)(message_id, days=30))


@pytest.mark.parametrize("prefix", list(INVALID))
@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(rest=tail, who=st.sampled_from(["kari", "stranger"]))
def test_a_bad_deep_link_gets_its_own_answer_in_the_persons_language(
    harness, caplog, prefix, rest, who
):
    payload = prefix + rest
    assume(payload.split() == [payload])
    chat = harness.kari if who == "kari" else harness.stranger
    language = "nb"  # Kari by her profile, Ola by his app
    mark = harness.fake.mark()
    with caplog.at_level(logging.ERROR):
        harness.run(chat.command("start", payload))
    replies = [m.text for m in harness.fake.messages_since(chat.chat_id, mark)]
    assert replies[:1] == [_expected(INVALID[prefix], language)]
    assert _expected("errors.generic", language) not in replies
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    scope=st.sampled_from(SCOPES),
    rest=st.one_of(
        st.text(max_size=60),
        st.builds(lambda a, b: a + ":" + b, odd, st.text(max_size=30)),
        st.from_regex(r"[a-z0-9_]{0,6}:[a-z0-9_-]{0,6}:[0-9²]{0,4}:[^:]{8}", fullmatch=True),
    ),
    who=st.sampled_from(["kari", "stranger"]),
)
def test_a_forged_button_is_answered_as_expired_in_the_persons_language(
    harness, caplog, scope, rest, who
):
    data = f"{scope}:{rest}"
    assume(0 < len(data.encode()) <= 64)
    chat = harness.kari if who == "kari" else harness.stranger
    if not harness.fake.messages(chat.chat_id):
        harness.run(chat.command("help"))
    mark = harness.fake.mark()
    with caplog.at_level(logging.ERROR):
        query = harness.run(chat.press_data(data, harness.fake.last_message(chat.chat_id)))
    answer = harness.fake.callback_answer(query)
    assert answer is not None and answer.text == Translator("nb")("btn.stale")
    assert harness.fake.messages_since(chat.chat_id, mark) == []
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
