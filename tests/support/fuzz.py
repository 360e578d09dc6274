"""The world the whole-bot fuzz test (tests/chat/test_fuzz.py) plays in: the people, what they
type, the paths they take, one database file with an application that can be restarted over it,
and what the test reads back (each person's private values, how far an example got)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import tempfile
import traceback
from collections.abc import Awaitable, Callable
from datetime import date
from pathlib import Path
from typing import Any

from hypothesis import strategies as st
from sqlalchemy import text

from bot.app import App, build_application, running, services_of
from bot.chat import flood
from bot.core.context import Services
from bot.core.settings import Settings
from bot.domain.clock import FrozenClock
from bot.domain.flood import FloodGuard, FloodLimits
from bot.mail.backends import FileBackend
from storage.models import TaskStatus
from tests.support.chat import Chat, TgUser
from tests.support.coordinators import add_slot, bound_coordinator, supervisor_with_task
from tests.support.databases import copy_sqlite_template
from tests.support.files import FilesRequest, FilesTelegram
from tests.support.pacing import virtual_limiter

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


async def _erase(chat: Chat) -> None:
    await chat.send("/delete")
    message = chat.last()
    assert message.callback_data, "nothing to confirm"
    await chat.press_data(message.callback_data[0], message)  # "Yes, erase everything"


PATHS: dict[str, Callable[[Chat], Awaitable[None]]] = {
    "register": _register,
    "clinical task": _clinical_task,
    "research task": _research_task,
    "erase": _erase,
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


async def seed(w: World) -> None:
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


def buttons_of(chat: Chat, latest_only: bool) -> list[tuple[Any, str]]:
    """(message, callback data) of the chat's buttons: the latest keyboard's, or every one."""
    messages = [m for m in chat.messages() if m.callback_data]
    if latest_only:
        messages = messages[-1:]
    return [(m, data) for m in messages for data in m.callback_data]


async def private_values(svc: Services) -> dict[int, tuple[list[str], set[str]]]:
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


async def reached(svc: Services) -> dict[str, int]:
    async with svc.db.session() as session:
        return {k: (await session.execute(text(q))).scalar_one() for k, q in REACHED.items()}
