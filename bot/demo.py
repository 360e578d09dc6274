"""`python -m bot demo`: chat with the bot in this terminal, no Telegram account needed.

The demo builds the very same application (`bot.app.build_application`): same handlers, same
database, same outbox. Only the HTTP layer differs: `TerminalRequest` answers the Bot API calls
the bot makes like Telegram does and prints their effect, and the person's typed lines become
real Telegram updates. Like Telegram, it keeps what a message displays (text plus entities, via
`bot.chat.telegram_html`), never the markup: a message read back and edited (PTB's `text_html`) then
shows the same text, not its tags escaped a second time.

- Every button has a number of its own, counted on across all messages of the session (never
  restarting at [1]), so buttons of older messages stay reachable for as long as their message
  shows them; a button keeps its number when its message is edited.
- A line that is just a number presses that button. If no button has that number any more (its
  message was answered or edited), or it is in the other person's chat, the demo says so in one
  line and sends nothing: a number meant for a button never reaches the conversation as an
  answer. A number no button ever had (a 6-digit code, a phone number) is sent as a message; so
  is a number typed after an apostrophe (`'2`, for "how many places?").
- Anything else is sent as a message; every command works (`/start`, `/newtask`, `/tasks`, ...).
- `/as coordinator` and `/as supervisor` switch between two people: a supervisor (you) and a
  national coordinator for both exchange types, set up on first start. Messages to the person
  you are not playing right now are shown with their name; the prompt shows the supervisor's
  registered name once there is one.
- `/upload FILE` sends a file, e.g. `/upload slots-example.csv` (bundled demo slots) as the
  coordinator.
- Emails are written under `var/mail/` (the file backend) and echoed here. Offer emails go out
  in working hours only; outside them the demo says when the held email will go.
- `/quit` (or end of input) leaves.

The demo's own lines (this frame around the chat) come from the catalogs (`demo.*`), in the
language of `DEMO_LANGUAGE` or `LANG`.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import re
import sys
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime
from datetime import time as day_time
from email.message import EmailMessage
from importlib.resources import files
from pathlib import Path
from typing import Any, TextIO

from babel.dates import format_datetime
from telegram import Update
from telegram.request import BaseRequest, RequestData

from bot.app import App, build_application, running, services_of
from bot.chat.flows import offers
from bot.chat.telegram_html import Entity, HtmlParseError, received, trim, utf16_len
from bot.core.context import Services
from bot.core.i18n import Translator, language_from_telegram
from bot.core.settings import Settings
from bot.domain.clock import Clock, ShiftedClock
from bot.mail.backends import FileBackend
from bot.services import offer_mail
from storage import coordinators, reminders_repo, repository
from storage.models import Supervisor

BOT_USER = {
    "id": 7000001,
    "is_bot": True,
    "first_name": "Veileder",
    "username": "veileder_demo_bot",
}
SUPERVISOR_ID = 424242
COORDINATOR_ID = 424243
COORDINATOR_EMAIL = "demo-coordinator@nmf.example"
COORDINATOR_NAME = "Nora Koordinator (coordinator)"
_NUMBER = re.compile(r"[0-9]+")
_QUOTED_NUMBER = re.compile(r"'([0-9]+)")


def on_screen(text: str, entities: list[Entity]) -> str:
    """A message as the terminal shows it: bold as *bold*, a link's address after its text."""
    opens: dict[int, list[str]] = defaultdict(list)
    closes: dict[int, list[str]] = defaultdict(list)
    for entity in entities:
        start, end = int(entity["offset"]), int(entity["offset"]) + int(entity["length"])
        if entity["type"] == "bold":
            opens[start].append("*")
            closes[end].insert(0, "*")
        elif entity["type"] == "text_link":
            closes[end].insert(0, f" ({entity['url']})")
    units = text.encode("utf-16-le")
    out: list[str] = []
    last = 0
    for position in sorted({0, *opens, *closes, utf16_len(text)}):
        out.append(units[2 * last : 2 * position].decode("utf-16-le"))
        out.extend(closes.get(position, []))
        out.extend(opens.get(position, []))
        last = position
    return "".join(out)


@dataclass(frozen=True)
class Choice:
    """One numbered button: an inline button of a message, or one of a chat's reply keyboard."""

    number: int
    label: str
    chat_id: int
    message_id: int | None = None
    callback_data: str | None = None
    contact: bool = False


@dataclass
class Buttons:
    """The session's button numbers. A number is never given to a second button; a button keeps
    its number while its message shows it (an edit keeps it, matched by callback data)."""

    issued: int = 0
    live: dict[int, Choice] = field(default_factory=dict)
    _of_message: dict[int, dict[str, int]] = field(default_factory=dict)
    _keyboards: dict[int, dict[str, int]] = field(default_factory=dict)

    def _next(self) -> int:
        self.issued += 1
        return self.issued

    def _forget(self, numbers: dict[str, int]) -> None:
        for number in numbers.values():
            self.live.pop(number, None)

    def message(self, chat_id: int, message_id: int, rows: list[list[dict[str, Any]]]) -> None:
        """Number the inline keyboard a message shows now (an empty one retires its numbers)."""
        old = self._of_message.pop(message_id, {})
        self._forget(old)
        numbers: dict[str, int] = {}
        for button in (b for row in rows for b in row if b.get("callback_data")):
            data = str(button["callback_data"])
            if data in numbers:
                continue
            number = old.get(data) or self._next()
            numbers[data] = number
            self.live[number] = Choice(number, str(button["text"]), chat_id, message_id, data)
        if numbers:
            self._of_message[message_id] = numbers

    def keyboard(self, chat_id: int, rows: list[list[dict[str, Any]]]) -> None:
        """Number a chat's reply keyboard (an empty one removes it)."""
        old = self._keyboards.pop(chat_id, {})
        self._forget(old)
        numbers: dict[str, int] = {}
        for button in (b for row in rows for b in row):
            label = str(button["text"])
            number = old.get(label) or self._next()
            numbers[label] = number
            contact = bool(button.get("request_contact"))
            self.live[number] = Choice(number, label, chat_id, contact=contact)
        if numbers:
            self._keyboards[chat_id] = numbers

    def of_message(self, message_id: int) -> list[Choice]:
        return [self.live[n] for n in self._of_message.get(message_id, {}).values()]

    def of_keyboard(self, chat_id: int) -> list[Choice]:
        return [self.live[n] for n in self._keyboards.get(chat_id, {}).values()]


@dataclass
class ChatView:
    """One person's chat: their name (the prompt) and the last message they got."""

    name: str
    last_message: int | None = None


def _markup(markup: Any) -> dict[str, Any]:
    """reply_markup as PTB sends it: a dict, or its JSON."""
    value = json.loads(markup) if isinstance(markup, str) else markup
    return value if isinstance(value, dict) else {}


def _rows(markup: Any, kind: str) -> list[list[dict[str, Any]]]:
    rows = _markup(markup).get(kind) or []
    return [[b if isinstance(b, dict) else {"text": str(b)} for b in row] for row in rows]


class TelegramRefusal(Exception):
    """What Telegram answers with HTTP 400 (markup it cannot parse)."""


class TerminalRequest(BaseRequest):
    """Answers Bot API calls the way Telegram does and shows their effect in the terminal."""

    def __init__(self, out: TextIO, documents: Path, tr: Translator) -> None:
        self.out = out
        self.documents = documents
        self.tr = tr
        self.messages: dict[int, dict[str, Any]] = {}
        self.ids = itertools.count(1)
        self.chats: dict[int, ChatView] = {}
        self.buttons = Buttons()
        self.current = SUPERVISOR_ID
        self.files: dict[str, bytes] = {}

    def view(self, chat_id: int) -> ChatView:
        return self.chats.setdefault(chat_id, ChatView(str(chat_id)))

    @property
    def read_timeout(self) -> float | None:
        return None

    async def initialize(self) -> None:
        return None

    async def shutdown(self) -> None:
        return None

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        *args: Any,
        **kwargs: Any,
    ) -> tuple[int, bytes]:
        if "/file/bot" in url:  # a download of a file the person uploaded
            return 200, self.files.get(url.rsplit("/", 1)[-1], b"")
        name = url.rsplit("/", 1)[-1]
        params: dict[str, Any] = dict(request_data.parameters) if request_data else {}
        try:
            result = self.handle(name, params, request_data)
        except TelegramRefusal as refusal:
            body = {"ok": False, "error_code": 400, "description": str(refusal)}
            return 400, json.dumps(body).encode()
        return 200, json.dumps({"ok": True, "result": result}).encode()

    def handle(self, name: str, params: dict[str, Any], request_data: RequestData | None) -> Any:
        match name:
            case "getMe":
                return BOT_USER
            case "sendMessage":
                return self._send(params)
            case "editMessageText" | "editMessageReplyMarkup":
                return self._edit(params)
            case "deleteMessage":
                message = self.messages.pop(int(params["message_id"]), None)
                if message is not None:
                    self.buttons.message(int(message["chat"]["id"]), message["message_id"], [])
                return True
            case "answerCallbackQuery":
                if params.get("text"):
                    self.out.write(f"   ({params['text']})\n")
                return True
            case "sendDocument":
                return self._document(params, request_data)
            case "getFile":
                file_id = str(params["file_id"])
                return {"file_id": file_id, "file_unique_id": file_id, "file_path": file_id}
            case _:
                return True

    @staticmethod
    def _displayed(params: dict[str, Any], key: str = "text") -> tuple[str, list[Entity]]:
        """What Telegram keeps of a text: the visible text and its entities, not the markup."""
        text = str(params.get(key, ""))
        if str(params.get("parse_mode") or "").lower() == "html":
            try:
                return received(text)
            except HtmlParseError as error:
                raise TelegramRefusal(f"Bad Request: can't parse entities: {error}") from None
        entities = params.get(f"{key}_entities" if key == "caption" else "entities") or []
        return trim(text, [dict(e) for e in entities])

    def _new_message(self, chat_id: int, text: str, entities: list[Entity]) -> dict[str, Any]:
        message: dict[str, Any] = {
            "message_id": next(self.ids),
            "date": int(time.time()),
            "chat": {"id": chat_id, "type": "private"},
            "from": BOT_USER,
            "text": text,
        }
        if entities:
            message["entities"] = entities
        self.messages[message["message_id"]] = message
        return message

    def _send(self, params: dict[str, Any]) -> dict[str, Any]:
        text, entities = self._displayed(params)
        chat_id = int(params["chat_id"])
        message = self._new_message(chat_id, text, entities)
        markup = params.get("reply_markup")
        if inline := _rows(markup, "inline_keyboard"):
            message["reply_markup"] = {"inline_keyboard": inline}
            self.buttons.message(chat_id, message["message_id"], inline)
        elif keyboard := _rows(markup, "keyboard"):
            self.buttons.keyboard(chat_id, keyboard)
        elif _markup(markup).get("remove_keyboard"):
            self.buttons.keyboard(chat_id, [])
        self._show(message)
        return message

    def _edit(self, params: dict[str, Any]) -> Any:
        message = self.messages.get(int(params.get("message_id", 0)))
        if message is None:
            raise TelegramRefusal("Bad Request: message to edit not found")
        if "text" in params:
            message["text"], entities = self._displayed(params)
            message.pop("entities", None)
            if entities:
                message["entities"] = entities
        inline = _rows(params.get("reply_markup"), "inline_keyboard")
        message.pop("reply_markup", None)
        if inline:
            message["reply_markup"] = {"inline_keyboard": inline}
        chat_id = int(message["chat"]["id"])
        self.buttons.message(chat_id, message["message_id"], inline)
        if "text" in params or inline:
            self._show(message, edited=True)
        return message

    def _header(self, chat_id: int) -> str:
        if chat_id == self.current:
            return ""
        return _plain(self.tr("demo.to", name=self.view(chat_id).name)) + " "

    def _show(self, message: dict[str, Any], edited: bool = False) -> None:
        chat_id = int(message["chat"]["id"])
        self.view(chat_id).last_message = message["message_id"]
        self.out.write(f"\n{'~ ' if edited else ''}{self._header(chat_id)}🤖 ")
        self._write_message(message)
        if not edited:
            self._list(self.buttons.of_keyboard(chat_id))
        self.out.flush()

    def _write_message(self, message: dict[str, Any]) -> None:
        text = on_screen(message["text"], message.get("entities", []))
        self.out.write(text.replace("\n", "\n   ") + "\n")
        self._list(self.buttons.of_message(message["message_id"]))

    def _list(self, choices: list[Choice]) -> None:
        for choice in choices:
            self.out.write(f"   [{choice.number}] {choice.label}\n")

    def recap(self, chat_id: int) -> None:
        """After switching person: where they were."""
        view = self.view(chat_id)
        self.out.write("\n" + _plain(self.tr("demo.you_are", name=view.name)) + "\n")
        message = self.messages.get(view.last_message or 0)
        if message is not None:
            self.out.write("🤖 ")
            self._write_message(message)
            self._list(self.buttons.of_keyboard(chat_id))
        self.out.flush()

    def _document(self, params: dict[str, Any], request_data: RequestData | None) -> dict[str, Any]:
        caption, entities = self._displayed(params, "caption")
        chat_id = int(params["chat_id"])
        message = self._new_message(chat_id, "", [])
        message.pop("text")
        message["caption"] = caption
        if entities:
            message["caption_entities"] = entities
        self.documents.mkdir(parents=True, exist_ok=True)
        if request_data is not None:
            for _, value in request_data.multipart_data.items():
                filename, content = value[0], value[1]
                path = self.documents / str(filename)
                path.write_bytes(content if isinstance(content, bytes) else content.read())
                shown = on_screen(caption, entities)
                saved = _plain(self.tr("demo.saved", path=str(path)))
                self.out.write(f"\n{self._header(chat_id)}🤖 📎 {shown}\n   {saved}\n")
        message["document"] = {"file_id": "demo", "file_unique_id": "demo", "file_name": "document"}
        return message


class EchoingFileBackend(FileBackend):
    """The file backend, plus a copy of each email in the terminal."""

    def __init__(self, directory: Path, out: TextIO, tr: Translator) -> None:
        super().__init__(directory)
        self.out = out
        self.tr = tr

    async def send(self, message: EmailMessage, *, outbox_id: int) -> str | None:
        path = await super().send(message, outbox_id=outbox_id)
        body = message.get_body(preferencelist=("plain",))
        text = body.get_content() if body is not None else ""
        heading = _plain(self.tr("demo.email", to=message["To"], subject=message["Subject"]))
        self.out.write(f"\n{heading}\n   {_plain(self.tr('demo.saved', path=str(path)))}\n")
        self.out.write("   | " + text.strip().replace("\n", "\n   | ") + "\n")
        self.out.flush()
        return path


def _plain(markup: str) -> str:
    """A catalog text (Telegram HTML) as the terminal shows it."""
    return on_screen(*received(markup))


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
        self.out.write("   " + _plain(markup) + "\n")
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
        await offers.expire_and_deliver(app.bot, services)
        await offers.reminder_sweep(app.bot, services)
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
            self.out.write("\n" + _plain(self.tr("demo.email.held", to=email, when=shown)) + "\n")
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
    )
    chat = DemoChat(request, language, os.environ.get("DEMO_NAME", "Kari Nordmann"))
    out.write(_plain(tr("demo.intro")) + "\n")
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
    out.write("\n" + _plain(tr("demo.bye", path=str(settings.var_dir))) + "\n")
    return 0
