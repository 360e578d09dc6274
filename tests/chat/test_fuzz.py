"""The whole bot, fuzzed: hypothesis plays several people at once against the real application
(PTB `Application` and `Bot`, only Telegram's servers faked), in random interleavings of texts
(hostile HTML, long texts, emoji, addresses), commands, button presses (old messages' buttons
too), edited messages, stickers and contacts, coordinators' commands and uploads, offers
delivered, time passing, and process restarts (a new application over the same database file).

After every step:
- no handler raised (nothing was logged at ERROR: the error handler logs every failure);
- every Bot API call was valid and within Telegram's limits, every button press answered once
  (the fake records `violations`);
- the database invariants of `tests.support.invariants` hold (no orphaned rows, accepted places
  held by exactly one approved task, counters that match their rows);
- flood control (on, with small limits) never leaves a flow half-applied;
- no person sees another's data: a supervisor's name and email appear only in their own chat,
  and in a coordinator's whose scope has (or had) one of their tasks or their city.

In CI it runs a few short examples (about a minute); `make fuzz` runs it longer
(`VEILEDER_FUZZ_EXAMPLES`, `VEILEDER_FUZZ_STEPS`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import tempfile
import traceback
from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule
from sqlalchemy import text

from bot.app import App, build_application, running, services_of
from bot.chat import flood
from bot.core.context import Services
from bot.core.settings import Settings
from bot.domain.clock import FrozenClock
from bot.domain.flood import FloodGuard, FloodLimits
from bot.jobs import scheduler
from bot.mail.backends import FileBackend
from bot.services import offer_courier
from storage.models import TaskStatus
from tests.support.chat import Chat, TgUser
from tests.support.coordinators import add_slot, bound_coordinator, supervisor_with_task
from tests.support.databases import copy_sqlite_template
from tests.support.files import FilesRequest, FilesTelegram, send_file
from tests.support.invariants import broken
from tests.support.pacing import virtual_limiter

EXAMPLES = int(os.environ.get("VEILEDER_FUZZ_EXAMPLES", "25"))
STEPS = int(os.environ.get("VEILEDER_FUZZ_STEPS", "60"))

KARI = TgUser(id=6601, first_name="Kari", last_name="Nordmann", language_code="nb")
JOHN = TgUser(id=6602, first_name="John", last_name="Smithson", language_code="en")
EVE = TgUser(id=6603, first_name="<b>Eve</b>", last_name="&amp; Øvre 🩺", language_code="en")
NORA = TgUser(id=6610, first_name="Nora", last_name="Oslo", language_code="en")
BJORN = TgUser(id=6611, first_name="Bjørn", last_name="Bergen", language_code="nb")
SUPERVISORS = (KARI, JOHN, EVE)
PEOPLE = (*SUPERVISORS, NORA, BJORN)
# Coordinators' scopes: (exchange type, city).
SCOPES = {NORA.id: ("clinical", "oslo"), BJORN.id: ("research", "bergen")}
REFERENCE = "CLIN-2027-09-OSL-1"

COMMANDS = [
    "/start",
    "/start garbage",
    "/start o_1_AAAAAAAA",
    "/help",
    "/cancel",
    "/newtask",
    "/tasks",
    "/mydata",
    "/delete",
    "/pending",
    "/slots",
    "/addslot",
    f"/propose {REFERENCE}",
    "/propose NOPE-1",
    "/propose",
    "/digest",
    "/target 2027 clinical 10",
    "/target",
    "/nosuchcommand",
]

texts = st.one_of(
    st.text(max_size=60),
    st.text(min_size=300, max_size=5000),
    st.sampled_from(
        [
            "<b>bold",
            "</i>",
            "a & b <c>",
            "&amp;",
            "<script>alert(1)</script>",
            "<a href='tg://user?id=1'>x</a>",
            "🩺" * 2100,
            "👩‍⚕️ Dr. Øvre",
            "\u202etxet",
            "kari.nordmann@ous-hf.no",
            "eve@<b>evil</b>.no",
            "912 34 567",
            "+47 912 34 567",
            "123456",
            "Oslo universitetssykehus",
            "2027-09-06",
            "4",
            "NEW-2027-09-1",
            "Please name the department",
            " ",
        ]
    ),
)

CSV_HEADER = (
    "reference,exchange_type,city,start_date,weeks,places,field_preference,partner_country\n"
)
csv_files = st.sampled_from(
    [
        CSV_HEADER + f"{REFERENCE},clinical,oslo,2027-09-06,4,2,,Chile\n",
        CSV_HEADER + "CLIN-2027-10-OSL-2,clinical,oslo,2027-10-04,4,1,cardiology,\n",
        CSV_HEADER + "RES-2027-09-BGO-1,research,bergen,2027-09-06,8,1,,\n",
        CSV_HEADER + f"{REFERENCE},clinical,oslo,2027-09-06,4,0,,\n",
        CSV_HEADER + "<b>x</b>,clinical,oslo,not-a-date,4,1,,\n",
        "not,a,csv\n\x00\x01",
        "",
    ]
)


async def _press_if_shown(chat: Chat, label: str) -> None:
    """Press it when the latest keyboard has it (a question with one answer is not asked)."""
    with contextlib.suppress(AssertionError):
        chat.find_button(label)
        await chat.press(label)


async def _register(chat: Chat) -> None:
    await chat.command("start")
    await chat.press("I agree")
    await chat.press("Clinical")
    await chat.press("Senior consultant")
    await chat.send("Oslo University Hospital")
    await chat.press("Oslo")
    await chat.press("Cardiology")
    await chat.send(f"person{chat.user.id}@ous-hf.no")
    await chat.press("Verify later")
    await chat.press("Confirm")


async def _clinical_task(chat: Chat) -> None:
    await chat.send("/newtask")
    await _press_if_shown(chat, "Clinical")
    await chat.send("Cardiology ward, post 2")
    for label in ("Ward rounds", "Done", "Full days", "Use these goals", "Any month"):
        await chat.press(label)
    await chat.press("Submit for approval")


async def _research_task(chat: Chat) -> None:
    await chat.send("/newtask")
    message = chat.last()
    templates = [b for row in message.buttons for b in row if b.text.startswith("📋")]
    assert len(templates) > 1, "no templates offered here"
    await chat.press(templates[1].text, message)  # the literature review, in either language
    await chat.send("Antibiotic use after hip surgery")
    await chat.send("A registry study of antibiotic use after hip fracture surgery.")
    await chat.press("📨")  # submit, in either language


PATHS: dict[str, Callable[[Chat], Awaitable[None]]] = {
    "register": _register,
    "clinical task": _clinical_task,
    "research task": _research_task,
}


class Errors(logging.Handler):
    """Every record at ERROR or above, from any logger (the error handler logs each failure)."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def describe(self) -> str:
        parts = []
        for record in self.records:
            parts.append(f"{record.name}: {record.getMessage()}")
            if record.exc_info and record.exc_info[1] is not None:
                parts.append("".join(traceback.format_exception(record.exc_info[1])))
        return "\n".join(parts)


class World:
    """One database file, one fake Telegram and one clock; the application over them can be
    replaced (a restart) while everything else stays."""

    template: Path

    def __init__(self) -> None:
        self.directory = Path(tempfile.mkdtemp(prefix="veileder-fuzz-"))
        url = copy_sqlite_template(self.template, self.directory / "var" / "veileder.db")
        self.settings = Settings(
            _env_file=None,  # type: ignore[call-arg]
            var_dir=self.directory / "var",
            database_url=url,
            secret_key="fuzz-secret-key-of-at-least-32-characters",
            mail_backend="file",
            mail_from="Veileder <veileder@nmf.example>",
        )
        self.fake = FilesTelegram()
        self.clock = FrozenClock()
        self.loop = asyncio.new_event_loop()
        self.chats: dict[int, Chat] = {}
        # Flood control on, on a timer that moves a second per step: with five people taking
        # turns at random, someone now and then sends more than 4 updates in 20 steps.
        self.seconds = 0.0
        self.pace = 1.0  # seconds between two updates: 1 at random, a person's pace on a path
        self.flood = FloodGuard(FloodLimits(updates=4, seconds=20.0))
        self.running: Any = None
        self.app: App | None = None
        self.start()

    def run(self, coro: Any) -> Any:
        return self.loop.run_until_complete(coro)

    def start(self) -> None:
        self.app = build_application(
            self.settings,
            rate_limiter=virtual_limiter(),
            request=FilesRequest(self.fake),
            get_updates_request=FilesRequest(self.fake),
            clock=self.clock,
            mail_backend=FileBackend(self.settings.mail_dir),
            start_sender=False,
        )
        self.app.bot_data[flood.KEY] = flood.FloodGate(self.flood, lambda: self.seconds)
        self.running = running(self.app)
        self.run(self.running.__aenter__())
        for user in PEOPLE:  # the chats stay; what they deliver to is the new application
            old = self.chats.get(user.id)
            chat = Chat.in_process(self.fake, user, self.app)
            chat._deliver = self._paced(chat._deliver)
            if old is not None:
                chat.user_messages = old.user_messages
            self.chats[user.id] = chat

    def _paced(self, deliver: Callable[[dict[str, Any]], Awaitable[None]]) -> Any:
        async def paced(data: dict[str, Any]) -> None:
            self.seconds += self.pace
            await deliver(data)

        return paced

    def stop(self) -> None:
        if self.running is not None:
            self.run(self.running.__aexit__(None, None, None))
            self.running = None

    @property
    def services(self) -> Services:
        assert self.app is not None
        return services_of(self.app)

    def close(self) -> None:
        self.stop()
        self.loop.close()
        shutil.rmtree(self.directory, ignore_errors=True)


async def _seed(w: World) -> None:
    """Kari's task waits for approval, John's is approved, one Oslo place is open, Nora (Oslo,
    clinical) and Bjørn (Bergen, research) are bound coordinators; Eve has nothing yet."""
    svc = w.services
    await supervisor_with_task(svc, w.chats[KARI.id], title="Hjertesvikt på sengepost")
    await supervisor_with_task(
        svc, w.chats[JOHN.id], title="Kardiologi", status=TaskStatus.APPROVED
    )
    await add_slot(svc, REFERENCE, start=date(2027, 9, 6), places=1)
    await bound_coordinator(svc, w.chats[NORA.id], email="nora@nmf.example")
    await bound_coordinator(
        svc,
        w.chats[BJORN.id],
        role="LORE",
        exchange_type="research",
        city="bergen",
        language="nb",
        email="bjorn@nmf.example",
    )


def _buttons(chat: Chat, latest_only: bool) -> list[tuple[Any, str]]:
    """(message, callback data) of the chat's buttons: the latest keyboard's, or every one."""
    messages = [m for m in chat.messages() if m.callback_data]
    if latest_only:
        messages = messages[-1:]
    return [(m, data) for m in messages for data in m.callback_data]


async def _private(svc: Services) -> dict[int, tuple[list[str], set[str]]]:
    """Each known person's identifying texts (name, email), and the scopes that may see them."""
    found: dict[int, tuple[list[str], set[str]]] = {}
    async with svc.db.session() as session:
        rows = (
            await session.execute(
                text("SELECT id, telegram_user_id, name, email, city FROM supervisor")
            )
        ).all()
        for sup_id, user_id, name, email, city in rows:
            tasks = (
                await session.execute(
                    text("SELECT exchange_type, city FROM task WHERE supervisor_id = :s"),
                    {"s": sup_id},
                )
            ).all()
            seen_by = {f"{t}:{c}" for t, c in tasks} | {f"clinical:{city}", f"research:{city}"}
            found[user_id] = ([v for v in (name, email) if v and len(v) >= 5], seen_by)
    return found


REACHED = {
    "Eve registered": f"SELECT count(*) FROM supervisor WHERE telegram_user_id = {EVE.id}",
    "a task submitted in chat": "SELECT count(*) FROM task WHERE id > 2",
    "a task approved": "SELECT count(*) FROM task WHERE id = 1 AND upper(status) = 'APPROVED'",
    "an offer made": "SELECT count(*) FROM offer",
    "a place accepted": "SELECT count(*) FROM offer WHERE upper(status) = 'ACCEPTED'",
    "a place given back or declined": "SELECT count(*) FROM offer WHERE upper(status) IN "
    "('DECLINED', 'WITHDRAWN', 'CANCELLED')",
    "a slot cancelled": "SELECT count(*) FROM slot WHERE upper(status) = 'CANCELLED'",
    "a supervisor erased": "SELECT 2 - count(*) FROM supervisor WHERE telegram_user_id IN "
    f"({KARI.id}, {JOHN.id})",
}


REACHED_IN: Counter[str] = Counter()


async def _reached(svc: Services) -> dict[str, int]:
    async with svc.db.session() as session:
        return {k: (await session.execute(text(q))).scalar_one() for k, q in REACHED.items()}


class BotMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.errors = Errors()
        logging.getLogger().addHandler(self.errors)
        self.w = World()
        self.w.run(_seed(self.w))
        self.visible_to: dict[int, set[int]] = {}  # supervisor -> coordinators who may see them

    def teardown(self) -> None:
        """Count how far this example got (printed at the end: `make fuzz` shows it)."""
        REACHED_IN.update(k for k, n in self.w.run(_reached(self.w.services)).items() if n)
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
        buttons = _buttons(chat, latest_only=True)
        if buttons:
            message, data = buttons[index % len(buttons)]
            self.w.run(chat.press_data(data, message))

    @rule(user=st.sampled_from(PEOPLE), index=st.integers(min_value=0, max_value=999))
    def press_any(self, user: TgUser, index: int) -> None:
        """Any button still on screen, old messages' too (stale, pressed again)."""
        chat = self.chat(user)
        buttons = _buttons(chat, latest_only=False)
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
        private = self.w.run(_private(self.w.services))
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
