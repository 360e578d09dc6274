"""The demo session: two people (a supervisor and a national coordinator) typing into one
terminal, their lines turned into Telegram updates for the real application, and after each
update the sweeps the scheduler would run (offers, reminders, the outbox) run at once.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import re
import sys
import time
from dataclasses import dataclass, field
from datetime import date, datetime
from datetime import time as day_time
from importlib.resources import files
from pathlib import Path
from typing import Any, TextIO

from babel.dates import format_datetime
from telegram import Update

from bot.app import App, build_application, running, services_of
from bot.chat.pacing import ChatLimiter, VirtualTimer
from bot.chat.telegram_html import utf16_len
from bot.core.context import Services
from bot.core.i18n import Translator, language_from_telegram
from bot.core.settings import Settings
from bot.demo.terminal import (
    SUPERVISOR_ID,
    Choice,
    EchoingFileBackend,
    TerminalRequest,
    plain,
)
from bot.domain.clock import Clock, ShiftedClock
from bot.services import offer_courier, offer_mail, offer_reminders
from storage import coordinators, reminders_repo, repository
from storage.models import Supervisor

COORDINATOR_ID = 424243
COORDINATOR_EMAIL = "demo-coordinator@nmf.example"
COORDINATOR_NAME = "Nora Koordinator (coordinator)"
_NUMBER = re.compile(r"[0-9]+")
_QUOTED_NUMBER = re.compile(r"'([0-9]+)")


def _user(user_id: int, name: str, language_code: str) -> dict[str, Any]:
    first, _, last = name.partition(" ")
    user: dict[str, Any] = {
        "id": user_id,
        "is_bot": False,
        "first_name": first,
        "language_code": language_code,
    }
    if last:
        user["last_name"] = last
    return user


class DemoChat:
    """Turns what the person types into Telegram updates, for whichever identity is playing."""

    def __init__(self, request: TerminalRequest, language_code: str, name: str) -> None:
        self.people = {
            "supervisor": _user(SUPERVISOR_ID, name, language_code),
            "coordinator": _user(COORDINATOR_ID, "Nora Koordinator", language_code),
        }
        self.telegram_name = name
        self.request = request
        request.view(SUPERVISOR_ID).name = name
        request.view(COORDINATOR_ID).name = COORDINATOR_NAME
        self.user = self.people["supervisor"]
        # Above every update id an earlier run stored (a draft remembers its last one, and a
        # repeated id is taken for Telegram delivering an update again): milliseconds since 1970.
        self.update_ids = itertools.count(time.time_ns() // 1_000_000)
        self.message_ids = itertools.count(1_000_000)

    @property
    def user_id(self) -> int:
        return int(self.user["id"])

    def switch(self, who: str) -> bool:
        if who not in self.people:
            return False
        self.user = self.people[who]
        self.request.current = self.user_id
        return True

    def _base(self) -> dict[str, Any]:
        chat = {"id": self.user["id"], "type": "private", "first_name": self.user["first_name"]}
        return {
            "message_id": next(self.message_ids),
            "date": int(time.time()),
            "chat": chat,
            "from": self.user,
        }

    def upload(self, path: Path) -> dict[str, Any]:
        file_id = f"demo-file-{next(self.message_ids)}"
        self.request.files[file_id] = path.read_bytes()
        document = {
            "file_id": file_id,
            "file_unique_id": file_id,
            "file_name": path.name,
            "mime_type": "text/csv",
        }
        return {
            "update_id": next(self.update_ids),
            "message": {**self._base(), "document": document},
        }

    def update_for(self, line: str) -> dict[str, Any] | str:
        """The update a typed line makes, or the one-line hint the demo answers instead."""
        if quoted := _QUOTED_NUMBER.fullmatch(line):
            return self.text(quoted.group(1))
        if not _NUMBER.fullmatch(line):
            return self.text(line)
        number = int(line)
        choice = self.request.buttons.live.get(number)
        if choice is not None and choice.chat_id == self.user_id:
            return self.press(choice)
        tr = self.request.tr
        if choice is not None:
            who = next(k for k, v in self.people.items() if v["id"] == choice.chat_id)
            name = self.request.view(choice.chat_id).name
            return tr("demo.button.elsewhere", number=number, name=name, who=who)
        if number <= self.request.buttons.issued:
            return tr("demo.button.gone", number=number)
        return self.text(line)  # never a button: a code, a phone number

    def press(self, choice: Choice) -> dict[str, Any]:
        message = self.request.messages.get(choice.message_id or 0)
        if message is not None and choice.callback_data is not None:
            return {
                "update_id": next(self.update_ids),
                "callback_query": {
                    "id": str(next(self.message_ids)),
                    "from": self.user,
                    "chat_instance": "demo",
                    "message": message,
                    "data": choice.callback_data,
                },
            }
        if choice.contact:
            contact = {
                "phone_number": "+4799999999",
                "first_name": self.user["first_name"],
                "user_id": self.user["id"],
            }
            return {
                "update_id": next(self.update_ids),
                "message": {**self._base(), "contact": contact},
            }
        return self.text(choice.label)

    def text(self, line: str) -> dict[str, Any]:
        message: dict[str, Any] = {**self._base(), "text": line}
        if line.startswith("/"):
            length = utf16_len(line.split()[0])
            message["entities"] = [{"type": "bot_command", "offset": 0, "length": length}]
        return {"update_id": next(self.update_ids), "message": message}


async def seed_coordinator(services: Services) -> None:
    """The demo's coordinator: national, both exchange types, bound to the second identity."""
    now = services.clock.now()
    async with services.db.session() as session:
        for role, kind in (("NEO", "clinical"), ("NORE", "research")):
            existing = await coordinators.find_coordinator(
                session, email=COORDINATOR_EMAIL, role=role, exchange_type=kind, city="national"
            )
            if existing is not None and existing.telegram_user_id == COORDINATOR_ID:
                continue
            _, token = await coordinators.add_coordinator(
                session,
                email=COORDINATOR_EMAIL,
                role=role,
                exchange_type=kind,
                city="national",
                language="en",
                now=now,
                secret=services.secret,
            )
            await coordinators.bind_by_token(
                session, services.secret, token, COORDINATOR_ID, COORDINATOR_ID, now
            )


def _clock(settings: Settings, today: date | None, at: day_time | None) -> Clock | None:
    """`--today` and `--at`: the demo starts on that day at that time (10:00 unless `--at`
    says otherwise: working hours, so offer emails go out), then time runs."""
    if today is None and at is None:
        return None
    day = today or datetime.now(settings.tz).date()
    return ShiftedClock.starting(datetime.combine(day, at or day_time(10, 0), tzinfo=settings.tz))


def _resolve(name: str) -> Path | None:
    path = Path(name).expanduser()
    if path.is_file():
        return path
    bundled = files("bot") / "data" / name
    return Path(str(bundled)) if bundled.is_file() else None


@dataclass
class Session:
    """The running demo: the application and what the person sees of it."""

    app: App
    request: TerminalRequest
    chat: DemoChat
    out: TextIO
    announced: set[tuple[str, datetime]] = field(default_factory=set)

    @property
    def tr(self) -> Translator:
        return self.request.tr

    def say(self, markup: str) -> None:
        self.out.write("   " + plain(markup) + "\n")
        self.out.flush()

    async def feed(self, update: dict[str, Any] | str) -> None:
        """One update through the application, then what it caused: offers and their emails
        (the scheduler's sweeps, run at once instead of every minute)."""
        if isinstance(update, str):
            self.say(update)
            return
        app = self.app
        await app.process_update(Update.de_json(update, app.bot))
        services = services_of(app)
        await offer_courier.expire_and_deliver(services)
        await offer_reminders.reminder_sweep(services)
        await services.sender.run_once()
        await self._announce_held(services)
        await self._refresh_name(services)

    async def _announce_held(self, services: Services) -> None:
        """Outside working hours the sweep queues no offer email: say so, once per email."""
        now = services.clock.now()
        async with services.db.session() as session:
            held: list[tuple[str, datetime]] = []
            for supervisor_id in await reminders_repo.supervisors_with_waiting_offers(session):
                supervisor = await session.get(Supervisor, supervisor_id)
                if supervisor is None:
                    continue
                when = await offer_mail.held_until(session, services, supervisor, now)
                if when is not None:
                    held.append((supervisor.email, when))
        for email, when in held:
            if (email, when) in self.announced:
                continue
            self.announced.add((email, when))
            shown = format_datetime(
                when, "EEEE d MMM, HH:mm", tzinfo=services.settings.tz, locale=self.tr.language
            )
            self.out.write("\n" + plain(self.tr("demo.email.held", to=email, when=shown)) + "\n")
            self.out.flush()

    async def _refresh_name(self, services: Services) -> None:
        """The prompt says who is typing: the registered name once there is one."""
        async with services.db.session() as session:
            supervisor = await repository.get_supervisor(session, SUPERVISOR_ID)
        name = supervisor.name if supervisor is not None else self.chat.telegram_name
        self.request.view(SUPERVISOR_ID).name = name

    async def line(self, line: str) -> None:
        """One typed line: a demo command, or something for the bot."""
        if line.startswith("/as "):
            if self.chat.switch(line.removeprefix("/as ").strip()):
                self.request.recap(self.chat.user_id)
            else:
                self.say(self.tr("demo.as.who"))
            return
        if line.startswith("/upload "):
            name = line.removeprefix("/upload ").strip()
            path = _resolve(name)
            if path is None:
                self.say(self.tr("demo.upload.missing", name=name))
                return
            await self.feed(self.chat.upload(path))
            return
        await self.feed(self.chat.update_for(line))


async def run_demo(
    settings: Settings,
    stdin: TextIO | None = None,
    out: TextIO | None = None,
    today: date | None = None,
    at: day_time | None = None,
) -> int:
    stdin = stdin or sys.stdin
    out = out or sys.stdout
    language = language_from_telegram(
        os.environ.get("DEMO_LANGUAGE") or os.environ.get("LANG", "en")
    )
    tr = Translator(language)
    request = TerminalRequest(out, settings.var_dir / "demo", tr)
    application = build_application(
        settings,
        request=request,
        get_updates_request=TerminalRequest(out, settings.var_dir / "demo", tr),
        mail_backend=EchoingFileBackend(settings.mail_dir, out, tr),
        start_sender=False,
        clock=_clock(settings, today, at),
        # the terminal is no Telegram: keep the order of messages, skip the waits
        rate_limiter=ChatLimiter(timer=VirtualTimer()),
    )
    chat = DemoChat(request, language, os.environ.get("DEMO_NAME", "Kari Nordmann"))
    out.write(plain(tr("demo.intro")) + "\n")
    async with running(application) as app:
        demo = Session(app, request, chat, out)
        await seed_coordinator(services_of(app))
        await demo.feed(chat.update_for("/start"))
        while True:
            out.write(f"\n[{request.view(chat.user_id).name}] > ")
            out.flush()
            line = await asyncio.to_thread(stdin.readline)
            if not line:
                break
            line = line.strip()
            if not stdin.isatty():
                out.write(line + "\n")
            if line in ("/quit", "/exit"):
                break
            if line:
                await demo.line(line)
    out.write("\n" + plain(tr("demo.bye", path=str(settings.var_dir))) + "\n")
    return 0
