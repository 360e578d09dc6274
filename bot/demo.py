"""`python -m bot demo`: chat with the bot in this terminal, no Telegram account needed.

The demo builds the very same application (`bot.app.build_application`): same handlers, same
database, same outbox. Only the HTTP layer differs: `TerminalRequest` answers the Bot API calls
the bot makes by printing them, and the person's typed lines become real Telegram updates.

- Buttons are numbered: type the number to press one.
- Anything else is sent as a message; every command works (`/start`, `/newtask`, `/tasks`, ...).
- `/as coordinator` and `/as supervisor` switch between two people: a supervisor (you) and a
  national coordinator for both exchange types, set up on first start. Messages to the person
  you are not playing right now are shown with their name.
- `/upload FILE` sends a file, e.g. `/upload slots-example.csv` (bundled demo slots) as the
  coordinator.
- Emails are written under `var/mail/` (the file backend) and echoed here.
- `/quit` (or end of input) leaves.
"""

from __future__ import annotations

import asyncio
import html
import itertools
import json
import os
import re
import sys
import time
from dataclasses import dataclass, field
from datetime import date, datetime
from datetime import time as day_time
from email.message import EmailMessage
from importlib.resources import files
from pathlib import Path
from typing import Any, TextIO

from telegram import Update
from telegram.request import BaseRequest, RequestData

from bot.app import App, build_application, running, services_of
from bot.clock import Clock, ShiftedClock
from bot.conversations import offers
from bot.i18n import language_from_telegram
from bot.mailer import FileBackend
from bot.services import Services
from bot.settings import Settings
from storage import coordinators

BOT_USER = {
    "id": 7000001,
    "is_bot": True,
    "first_name": "Veileder",
    "username": "veileder_demo_bot",
}
SUPERVISOR_ID = 424242
COORDINATOR_ID = 424243
COORDINATOR_EMAIL = "demo-coordinator@nmf.example"


def html_to_terminal(text: str) -> str:
    text = re.sub(r"<br\s*/?>", "\n", text)
    text = re.sub(r"</?(b|strong)>", "*", text)
    text = re.sub(r"<[^>]+>", "", text)
    return html.unescape(text)


@dataclass
class Choice:
    label: str
    message: dict[str, Any] | None = None
    callback_data: str | None = None
    contact: bool = False


@dataclass
class ChatView:
    """What one person can press right now, and their reply keyboard."""

    name: str
    choices: list[Choice] = field(default_factory=list)
    reply_keyboard: list[Choice] = field(default_factory=list)
    last_text: str = ""


class TerminalRequest(BaseRequest):
    """Answers Bot API calls locally and shows their effect in the terminal."""

    def __init__(self, out: TextIO, documents: Path) -> None:
        self.out = out
        self.documents = documents
        self.messages: dict[int, dict[str, Any]] = {}
        self.ids = itertools.count(1)
        self.chats: dict[int, ChatView] = {}
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
        result = self.handle(name, params, request_data)
        return 200, json.dumps({"ok": True, "result": result}).encode()

    def handle(self, name: str, params: dict[str, Any], request_data: RequestData | None) -> Any:
        match name:
            case "getMe":
                return BOT_USER
            case "sendMessage":
                return self._show(self._new_message(params), params)
            case "editMessageText" | "editMessageReplyMarkup":
                message = self.messages.get(int(params["message_id"]))
                if message is None:
                    return True
                if "text" in params:
                    message["text"] = params["text"]
                message.pop("reply_markup", None)
                if params.get("reply_markup"):
                    message["reply_markup"] = params["reply_markup"]
                return self._show(message, params, edited=True)
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

    def _new_message(self, params: dict[str, Any]) -> dict[str, Any]:
        message = {
            "message_id": next(self.ids),
            "date": int(time.time()),
            "chat": {"id": int(params["chat_id"]), "type": "private"},
            "from": BOT_USER,
            "text": params.get("text", ""),
        }
        self.messages[message["message_id"]] = message
        return message

    def _header(self, chat_id: int) -> str:
        return "" if chat_id == self.current else f"📨 to {self.view(chat_id).name}: "

    def _show(
        self, message: dict[str, Any], params: dict[str, Any], edited: bool = False
    ) -> dict[str, Any]:
        chat_id = int(message["chat"]["id"])
        view = self.view(chat_id)
        markup = params.get("reply_markup") or {}
        if isinstance(markup, str):
            markup = json.loads(markup)
        if markup.get("inline_keyboard"):
            message["reply_markup"] = markup
        elif markup.get("keyboard"):
            view.reply_keyboard = [
                Choice(b["text"], contact=bool(b.get("request_contact")))
                for row in markup["keyboard"]
                for b in row
            ]
        elif markup.get("remove_keyboard"):
            view.reply_keyboard = []
        if edited and "text" not in params:
            return message
        text = html_to_terminal(message["text"]).replace("\n", "\n   ")
        self.out.write(f"\n{'~ ' if edited else ''}{self._header(chat_id)}🤖 {text}\n")
        inline = [
            Choice(b["text"], message, b.get("callback_data"))
            for row in (message.get("reply_markup") or {}).get("inline_keyboard", [])
            for b in row
        ]
        if edited and not inline:  # an answered prompt: its buttons are gone, also from a recap
            view.choices = [c for c in view.choices if c.message is not message]
            view.last_text = text
            self.out.flush()
            return message
        view.choices = inline + view.reply_keyboard
        view.last_text = text
        self._choices(view)
        return message

    def _choices(self, view: ChatView) -> None:
        for number, choice in enumerate(view.choices, 1):
            self.out.write(f"   [{number}] {choice.label}\n")
        self.out.flush()

    def recap(self, chat_id: int) -> None:
        """After switching person: where they were."""
        view = self.view(chat_id)
        self.out.write(f"\n(you are now {view.name})\n")
        if view.last_text:
            self.out.write(f"🤖 {view.last_text}\n")
            self._choices(view)

    def _document(self, params: dict[str, Any], request_data: RequestData | None) -> dict[str, Any]:
        message = self._new_message(
            {"chat_id": params["chat_id"], "text": params.get("caption", "")}
        )
        self.documents.mkdir(parents=True, exist_ok=True)
        if request_data is not None:
            for _, value in request_data.multipart_data.items():
                filename, content = value[0], value[1]
                path = self.documents / str(filename)
                path.write_bytes(content if isinstance(content, bytes) else content.read())
                caption = html_to_terminal(str(params.get("caption", "")))
                self.out.write(f"\n🤖 📎 {caption}\n   saved as {path}\n")
        message["document"] = {"file_id": "demo", "file_unique_id": "demo", "file_name": "document"}
        return message


class EchoingFileBackend(FileBackend):
    """The file backend, plus a copy of each email in the terminal."""

    def __init__(self, directory: Path, out: TextIO) -> None:
        super().__init__(directory)
        self.out = out

    async def send(self, message: EmailMessage, *, outbox_id: int) -> str | None:
        path = await super().send(message, outbox_id=outbox_id)
        body = message.get_body(preferencelist=("plain",))
        text = body.get_content() if body is not None else ""
        self.out.write(f"\n📧 Email to {message['To']}: {message['Subject']}\n   saved as {path}\n")
        self.out.write("   | " + text.strip().replace("\n", "\n   | ") + "\n")
        self.out.flush()
        return path


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
        self.request = request
        request.view(SUPERVISOR_ID).name = name
        request.view(COORDINATOR_ID).name = "Nora Koordinator (coordinator)"
        self.user = self.people["supervisor"]
        self.update_ids = itertools.count(1)
        self.message_ids = itertools.count(1_000_000)

    def switch(self, who: str) -> bool:
        if who not in self.people:
            return False
        self.user = self.people[who]
        self.request.current = int(self.user["id"])
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

    def update_for(self, line: str) -> dict[str, Any]:
        base = self._base()
        choices = self.request.view(int(self.user["id"])).choices
        if line.isdigit() and 1 <= int(line) <= len(choices):
            choice = choices[int(line) - 1]
            if choice.callback_data is not None and choice.message is not None:
                return {
                    "update_id": next(self.update_ids),
                    "callback_query": {
                        "id": str(next(self.message_ids)),
                        "from": self.user,
                        "chat_instance": "demo",
                        "message": choice.message,
                        "data": choice.callback_data,
                    },
                }
            if choice.contact:
                contact = {
                    "phone_number": "+4799999999",
                    "first_name": self.user["first_name"],
                    "user_id": self.user["id"],
                }
                return {"update_id": next(self.update_ids), "message": {**base, "contact": contact}}
            line = choice.label
        message: dict[str, Any] = {**base, "text": line}
        if line.startswith("/"):
            length = len(line.split()[0])
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


def _clock(settings: Settings, today: date | None) -> Clock | None:
    """`--today`: the demo starts at 10:00 that day (working hours, so emails go out)."""
    if today is None:
        return None
    return ShiftedClock.starting(datetime.combine(today, day_time(10, 0), tzinfo=settings.tz))


def _resolve(name: str) -> Path | None:
    path = Path(name).expanduser()
    if path.is_file():
        return path
    bundled = files("bot") / "data" / name
    return Path(str(bundled)) if bundled.is_file() else None


async def run_demo(
    settings: Settings,
    stdin: TextIO | None = None,
    out: TextIO | None = None,
    today: date | None = None,
) -> int:
    stdin = stdin or sys.stdin
    out = out or sys.stdout
    request = TerminalRequest(out, settings.var_dir / "demo")
    application = build_application(
        settings,
        request=request,
        get_updates_request=TerminalRequest(out, settings.var_dir / "demo"),
        mail_backend=EchoingFileBackend(settings.mail_dir, out),
        start_sender=False,
        clock=_clock(settings, today),
    )
    language = language_from_telegram(
        os.environ.get("DEMO_LANGUAGE") or os.environ.get("LANG", "en")
    )
    chat = DemoChat(request, language, os.environ.get("DEMO_NAME", "Kari Nordmann"))
    out.write(
        "Veileder demo: you are chatting with the bot in this terminal.\n"
        "Type a number to press a button, anything else to send it.\n"
        "/as coordinator and /as supervisor switch person; /upload FILE sends a file; "
        "/quit leaves.\n"
    )
    async with running(application) as app:
        await seed_coordinator(services_of(app))
        await _feed(app, chat.update_for("/start"))
        while True:
            out.write(f"\n[{request.view(int(chat.user['id'])).name}] > ")
            out.flush()
            line = await asyncio.to_thread(stdin.readline)
            if not line:
                break
            line = line.strip()
            if not stdin.isatty():
                out.write(line + "\n")
            if line in ("/quit", "/exit"):
                break
            if line.startswith("/as "):
                if chat.switch(line.removeprefix("/as ").strip()):
                    request.recap(int(chat.user["id"]))
                else:
                    out.write("   (who? /as supervisor or /as coordinator)\n")
                continue
            if line.startswith("/upload "):
                path = _resolve(line.removeprefix("/upload ").strip())
                if path is None:
                    out.write("   (no such file)\n")
                    continue
                await _feed(app, chat.upload(path))
                continue
            if line:
                await _feed(app, chat.update_for(line))
    out.write("\nBye. Your data is in " + str(settings.var_dir) + "\n")
    return 0


async def _feed(app: App, update: dict[str, Any]) -> None:
    """One update through the application, then what it caused: offers and their emails (the
    scheduler's sweeps, run at once instead of every minute)."""
    await app.process_update(Update.de_json(update, app.bot))
    services = services_of(app)
    await offers.expire_and_deliver(app.bot, services)
    await offers.reminder_sweep(app.bot, services)
    await services.sender.run_once()
