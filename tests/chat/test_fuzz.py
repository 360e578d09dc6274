"""The whole bot, fuzzed: hypothesis plays several people at once against the real application
(PTB `Application` and `Bot`, only Telegram's servers faked), in random interleavings of texts
(hostile HTML, long texts, emoji, addresses), commands, button presses (old messages' buttons
too), edited messages, stickers and contacts, whole scripted paths, coordinators' commands,
reviews and uploads, offers delivered, every scheduler sweep, time passing, and process restarts
(a new application over the same database file), with per-person flood control on (small limits
on a timer that moves with every update), so dropped updates are interleaved too.

After every step:
- no handler raised (nothing was logged at ERROR: the error handler logs every failure);
- every Bot API call was valid and within Telegram's limits, every button press answered once
  (the fake records `violations`);
- the database invariants of `tests.support.invariants` hold (no orphaned rows, accepted places
  held by exactly one approved task, counters that match their rows);
- no person sees another's data: a supervisor's name and email appear only in their own chat,
  and in a coordinator's whose scope has (or had) one of their tasks or their city.

`make test` runs 25 examples of up to 60 steps, the same ones every time (derandomized, about
40 seconds); `make fuzz` runs random ones, longer (`VEILEDER_FUZZ_EXAMPLES`,
`VEILEDER_FUZZ_STEPS`), and prints how many examples reached each state.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from bot.jobs import scheduler
from bot.services import offer_courier
from tests.support.chat import Chat, TgUser
from tests.support.coordinators import add_slot
from tests.support.files import send_file
from tests.support.fuzz import (
    COMMANDS,
    NORA,
    PATHS,
    PEOPLE,
    REFERENCE,
    SCOPES,
    SUPERVISORS,
    Errors,
    World,
    buttons_of,
    csv_files,
    private_values,
    reached,
    seed,
    texts,
)
from tests.support.invariants import broken

EXAMPLES = int(os.environ.get("VEILEDER_FUZZ_EXAMPLES", "25"))
STEPS = int(os.environ.get("VEILEDER_FUZZ_STEPS", "60"))


REACHED_IN: Counter[str] = Counter()


class BotMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.errors = Errors()
        logging.getLogger().addHandler(self.errors)
        self.w = World()
        self.w.run(seed(self.w))
        self.visible_to: dict[int, set[int]] = {}  # supervisor -> coordinators who may see them

    def teardown(self) -> None:
        """Count how far this example got (printed at the end: `make fuzz` shows it)."""
        REACHED_IN.update(k for k, n in self.w.run(reached(self.w.services)).items() if n)
        REACHED_IN["examples"] += 1
        logging.getLogger().removeHandler(self.errors)
        self.w.close()

    def chat(self, user: TgUser) -> Chat:
        return self.w.chats[user.id]

    # ---- what people do --------------------------------------------------------------------

    @rule(user=st.sampled_from(PEOPLE), message=texts)
    def send_text(self, user: TgUser, message: str) -> None:
        self.w.run(self.chat(user).send(message))

    @rule(user=st.sampled_from(PEOPLE), command=st.sampled_from(COMMANDS))
    def send_command(self, user: TgUser, command: str) -> None:
        self.w.run(self.chat(user).send(command))

    @rule(user=st.sampled_from(PEOPLE), index=st.integers(min_value=0, max_value=99))
    def press_latest(self, user: TgUser, index: int) -> None:
        """A button of the latest message with buttons (how a person mostly goes on)."""
        chat = self.chat(user)
        buttons = buttons_of(chat, latest_only=True)
        if buttons:
            message, data = buttons[index % len(buttons)]
            self.w.run(chat.press_data(data, message))

    @rule(user=st.sampled_from(PEOPLE), index=st.integers(min_value=0, max_value=999))
    def press_any(self, user: TgUser, index: int) -> None:
        """Any button still on screen, old messages' too (stale, pressed again)."""
        chat = self.chat(user)
        buttons = buttons_of(chat, latest_only=False)
        if buttons:
            message, data = buttons[index % len(buttons)]
            self.w.run(chat.press_data(data, message))

    @rule(user=st.sampled_from(PEOPLE), index=st.integers(min_value=0, max_value=99))
    def tap_reply_keyboard(self, user: TgUser, index: int) -> None:
        """A reply keyboard's button: its text is sent as a message."""
        chat = self.chat(user)
        shown = [m for m in chat.messages() if m.keyboard]
        labels = [b.get("text", "") for row in (shown[-1].keyboard if shown else []) for b in row]
        if labels:
            self.w.run(chat.send(labels[index % len(labels)]))

    @rule(user=st.sampled_from(PEOPLE), index=st.integers(min_value=0), message=texts)
    def edit_message(self, user: TgUser, index: int, message: str) -> None:
        chat = self.chat(user)
        sent = [k for k, m in chat.user_messages.items() if "text" in m]
        if sent:
            self.w.run(chat.edit(sent[index % len(sent)], message or "x"))

    @rule(user=st.sampled_from(PEOPLE), kind=st.sampled_from(["sticker", "photo", "contact"]))
    def send_other(self, user: TgUser, kind: str) -> None:
        chat = self.chat(user)
        if kind == "sticker":
            self.w.run(chat.send_sticker())
        elif kind == "photo":
            self.w.run(chat.send_photo("<b>caption</b>"))
        else:
            self.w.run(chat.share_contact("+4791234567"))

    @rule(user=st.sampled_from(PEOPLE), content=csv_files)
    def upload(self, user: TgUser, content: str) -> None:
        self.w.run(send_file(self.chat(user), self.w.fake, "slots.csv", content.encode()))

    # ---- what the system does --------------------------------------------------------------

    @rule()
    def deliver_offers(self) -> None:
        """The offer courier's sweep (proposed offers reach chats; expired ones are closed)."""
        self.w.run(offer_courier.expire_and_deliver(self.w.services))

    @rule()
    def sweeps(self) -> None:
        """Every scheduler sweep once (reminders, thanks, notices, digests, the season check,
        delivery problems, draft expiry), then the outbox sends what they queued."""
        svc = self.w.services
        for sweep in scheduler.sweeps(svc):
            self.w.run(sweep.run())
        self.w.run(svc.sender.run_once())

    @rule(user=st.sampled_from(SUPERVISORS), path=st.sampled_from(list(PATHS)))
    def scripted(self, user: TgUser, path: str) -> None:
        """A whole path as a person would take it (registering, defining a task), to reach the
        later states sooner; where the state differs (a button not there) it just stops."""
        self.w.pace = 5.0
        try:
            with contextlib.suppress(AssertionError):
                self.w.run(PATHS[path](self.chat(user)))
        finally:
            self.w.pace = 1.0

    @rule()
    def propose(self) -> None:
        """Nora asks for supervisors for the Oslo place, and the offers are delivered."""
        self.w.run(self.chat(NORA).send(f"/propose {REFERENCE}"))
        self.w.run(offer_courier.expire_and_deliver(self.w.services))

    @rule(action=st.sampled_from(["Approve", "Return with a note", "Add English"]))
    def review(self, action: str) -> None:
        """Nora's /pending, and one of its buttons on the first card (with a note to return)."""
        nora = self.chat(NORA)
        self.w.pace = 5.0
        try:
            with contextlib.suppress(AssertionError):
                self.w.run(nora.send("/pending"))
                cards = [m for m in nora.messages() if action in " ".join(m.button_texts)]
                if cards:
                    self.w.run(nora.press(action, cards[0]))
                    if action == "Return with a note":
                        self.w.run(nora.send("Please name the <b>department</b> & the ward"))
        finally:
            self.w.pace = 1.0

    @rule(hours=st.sampled_from([1, 24, 24 * 8, 24 * 31]))
    def time_passes(self, hours: int) -> None:
        self.w.clock.current = self.w.clock.now() + timedelta(hours=hours)

    @rule()
    def restart(self) -> None:
        """The process stops and another starts over the same database file."""
        self.w.stop()
        self.w.start()

    # ---- after every step ------------------------------------------------------------------

    @invariant()
    def nothing_raised(self) -> None:
        assert not self.errors.records, self.errors.describe()

    @invariant()
    def telegram_rules_kept(self) -> None:
        fake = self.w.fake
        assert fake.violations == [], fake.violations
        assert fake.unanswered_callback_queries() == []

    @invariant()
    def database_consistent(self) -> None:
        assert self.w.run(broken(self.w.services)) == {}

    @invariant()
    def nobody_sees_another_persons_data(self) -> None:
        private = self.w.run(private_values(self.w.services))
        for owner, (_, seen_by) in private.items():
            may = self.visible_to.setdefault(owner, set())
            may.update(c for c, (t, city) in SCOPES.items() if f"{t}:{city}" in seen_by)
        for owner, (values, _) in private.items():
            for user in PEOPLE:
                if user.id == owner or user.id in self.visible_to[owner]:
                    continue
                shown = [m.text for m in self.chat(user).messages()]
                shown += [c.decode(errors="replace") for _, c in self.w.fake.documents(user.id)]
                for value in values:
                    leaked = [t[:200] for t in shown if value in t]
                    assert not leaked, f"{value!r} of {owner} shown to {user.id}: {leaked}"


@pytest.fixture
def database_url(sqlite_url: str) -> str:
    return sqlite_url


def test_the_whole_bot_survives_random_use(sqlite_template: Path) -> None:
    World.template = sqlite_template
    BotMachine.TestCase.settings = settings(
        max_examples=EXAMPLES,
        stateful_step_count=STEPS,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        derandomize=os.environ.get("VEILEDER_FUZZ_EXAMPLES") is None,
    )
    BotMachine.TestCase().runTest()
    print("\nexamples that reached each state:", dict(REACHED_IN))


def test_the_invariants_see_a_broken_database(sqlite_template: Path) -> None:
    """The checks can fail: a place counted filled that no accepted offer holds is found."""
    World.template = sqlite_template
    world = World()
    try:

        async def break_it() -> dict[str, Any]:
            await add_slot(world.services, "BROKEN-1", filled=1, places=1)
            return await broken(world.services)

        assert list(world.run(break_it())) == ["filled differs from accepted offers"]
    finally:
        world.close()
