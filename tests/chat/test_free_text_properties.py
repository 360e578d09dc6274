"""Every free-text step, fed arbitrary text by hypothesis through the real application: a valid
answer is stored exactly as the validator cleaned it; anything else gets the step's own re-prompt,
leaves the draft untouched, and never breaks a Telegram rule (so user text is always escaped)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from bot.app import build_application, running, services_of
from bot.chat.engine.rows import Kind
from bot.chat.flows.registration.steps import CONSENT_VERSION, FORM, Step
from bot.chat.flows.task import steps as ts
from bot.chat.handlers import COMMANDS
from bot.core import i18n
from bot.core.settings import Settings
from bot.domain.clock import FrozenClock
from bot.domain.validation import Invalid, Valid, validate_phone
from bot.mail.backends import FileBackend
from storage import repository
from tests.support.botapi.fake import FakeTelegram
from tests.support.botapi.request import RecordingRequest
from tests.support.chat import Chat, TgUser, command_entities
from tests.support.databases import copy_sqlite_template
from tests.support.pacing import virtual_limiter

USER = TgUser(id=9090, first_name="Prop", last_name="Erty", language_code="en")

BASE: dict[str, Any] = {
    "consent_version": CONSENT_VERSION,
    "consent_at": "2026-11-24T09:00:00+00:00",
    "name_suggestion": "Prop Erty",
    "exchange_types": ["clinical"],
    "name": "Prop Erty",
    "title": "other",
    "workplace": "Ullevål",
    "city": "other",
    "fields": ["oncology"],
    "email": "prop@ous-hf.no",
}
TEXT_STEPS = [
    Step.NAME,
    Step.TITLE_OTHER,
    Step.WORKPLACE,
    Step.CITY_OTHER,
    Step.FIELDS_OTHER,
    Step.EMAIL,
    Step.PHONE,
]

texts = st.one_of(
    st.text(max_size=300),
    st.text(alphabet=st.characters(codec="utf-8"), min_size=140, max_size=5000),
    st.from_regex(r"<[a-z]{1,6}>[^<]{0,20}(</[a-z]{1,6}>)?", fullmatch=True),
    st.sampled_from(
        [
            "<b>bold",
            "a & b",
            "&amp;",
            "x\x00y",
            "\u202etxet",
            " a ",
            "kari@uio.no",
            "912 34 567",
            "<script>alert(1)</script>",
            "🩺" * 2000,
            "Tromsø",
            "/start",
        ]
    ),
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
            secret_key="k" * 32,
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
        self._running = running(self.app)
        self.loop.run_until_complete(self._running.__aenter__())
        self.chat = Chat.in_process(self.fake, USER, self.app)

    def run(self, coro: Any) -> Any:
        return self.loop.run_until_complete(coro)

    def close(self) -> None:
        self.run(self._running.__aexit__(None, None, None))
        self.loop.close()


@pytest.fixture(scope="module")
def harness(tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path):
    h = Harness(tmp_path_factory.mktemp("props"), sqlite_template)
    yield h
    h.close()
    assert h.fake.violations == []


async def _place_at(h: Harness, step: Step) -> None:
    from storage.models import Conversation

    services = services_of(h.app)
    now = services.clock.now()
    async with services.db.session() as session:
        await repository.delete_conversation(session, USER.id)
        await session.flush()
        conv = Conversation(
            telegram_user_id=USER.id,
            chat_id=USER.id,
            flow="registration",
            step=step,
            language="en",
            data=dict(BASE),
            created_at=now,
            updated_at=now,
        )
        await repository.save_conversation(session, conv, now)


async def _current(h: Harness):
    async with services_of(h.app).db.session() as session:
        return await repository.get_conversation(session, USER.id)


@pytest.mark.parametrize("step", TEXT_STEPS, ids=lambda s: s.value)
@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(text=texts)
def test_a_free_text_step_stores_only_valid_answers(harness, step, text):
    assume(text.strip())  # Telegram delivers no empty or blank text messages
    assume(
        not any(text.lower().startswith(f"/{c}") for c in COMMANDS)
    )  # real commands have their own stories
    h = harness
    h.run(_place_at(h, step))
    before = h.run(_current(h))
    h.run(h.chat.send(text))
    after = h.run(_current(h))
    question = FORM[step]
    parse = validate_phone if step == Step.PHONE else question.parse
    assert parse is not None
    verdict = parse(text)
    if step == Step.PHONE and text.strip() == "Skip":
        verdict = Valid("")
    if command_entities(text):
        verdict = Invalid("unknown.command")  # a command is never an answer
    if isinstance(verdict, Invalid):
        assert after.step == before.step and after.data == before.data
        reply = h.chat.last().text
        assert i18n.gettext("en", verdict.message_id).split("(")[0].strip(" ⚠️.") in reply
        assert len(reply) <= 4096
    else:
        assert after.step != step
        if step != Step.PHONE or verdict.value:
            assert after.data[question.key] == verdict.value
    assert h.fake.violations == []


TASK_BASE: dict[str, Any] = {
    "offered_types": ["research"],
    "offered_fields": ["epidemiology"],
    "offered_seasons": [2027, 2028],
    "exchange_type": "research",
    "field": "epidemiology",
    "city": "oslo",
    "learning_goals": [],
    "activities": ["chart_review"],
}
TASK_TEXT_STEPS = [s for s, a in ts.FORM.by_id.items() if a.kind == Kind.TEXT]


async def _place_in_task(h: Harness, step: ts.TStep) -> None:
    from storage.models import Conversation

    services = services_of(h.app)
    now = services.clock.now()
    async with services.db.session() as session:
        await repository.delete_conversation(session, USER.id)
        await session.flush()
        conv = Conversation(
            telegram_user_id=USER.id,
            chat_id=USER.id,
            flow="task",
            step=step,
            language="en",
            data=dict(TASK_BASE),
            created_at=now,
            updated_at=now,
        )
        await repository.save_conversation(session, conv, now)


@pytest.mark.parametrize("step", TASK_TEXT_STEPS, ids=lambda s: s.value)
@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(text=texts)
def test_a_free_text_task_step_stores_only_valid_answers(harness, step, text):
    assume(text.strip())
    assume(not any(text.lower().startswith(f"/{c}") for c in COMMANDS))
    h = harness
    h.run(_place_in_task(h, step))
    before = h.run(_current(h))
    h.run(h.chat.send(text))
    after = h.run(_current(h))
    ask = ts.FORM[step]
    assert ask.parse is not None
    verdict = ask.parse(text)
    if command_entities(text):
        verdict = Invalid("unknown.command")
    if isinstance(verdict, Invalid):
        assert after.step == before.step and after.data == before.data
        assert len(h.chat.last().text) <= 4096
    else:
        stored = after.data[ask.key]
        assert verdict.value in stored if isinstance(stored, list) else stored == verdict.value
        assert after.step != step or step == ts.TStep.GOAL_TEXT
    assert h.fake.violations == []
