"""The demo's Telegram: Bot API calls answered as Telegram answers them, shown in the terminal.

`TerminalRequest` keeps what each message displays (text plus entities, via
`bot.chat.telegram_html`), never the markup, numbers every button (`Buttons`, see the package
docstring for how numbers are given and kept) and prints each message as it arrives or changes.
`EchoingFileBackend` writes emails as files like the file backend and echoes them here.
"""

from __future__ import annotations

import itertools
import json
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from telegram.request import BaseRequest, RequestData

from bot.chat.telegram_html import Entity, HtmlParseError, received, trim, utf16_len
from bot.core.i18n import Translator
from bot.mail.backends import Confirm, FileBackend, Outgoing

BOT_USER = {
    "id": 7000001,
    "is_bot": True,
    "first_name": "Veileder",
    "username": "veileder_demo_bot",
}
SUPERVISOR_ID = 424242  # the person at the terminal; the request starts in their chat


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
        return plain(self.tr("demo.to", name=self.view(chat_id).name)) + " "

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
        rows = message.get("reply_markup", {}).get("inline_keyboard", [])
        for link in (b for row in rows for b in row if b.get("url")):  # opened, never pressed
            self.out.write(f"   [🔗] {link['text']}: {link['url']}\n")

    def _list(self, choices: list[Choice]) -> None:
        for choice in choices:
            self.out.write(f"   [{choice.number}] {choice.label}\n")

    def recap(self, chat_id: int) -> None:
        """After switching person: where they were."""
        view = self.view(chat_id)
        self.out.write("\n" + plain(self.tr("demo.you_are", name=view.name)) + "\n")
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
                saved = plain(self.tr("demo.saved", path=str(path)))
                self.out.write(f"\n{self._header(chat_id)}🤖 📎 {shown}\n   {saved}\n")
        message["document"] = {"file_id": "demo", "file_unique_id": "demo", "file_name": "document"}
        return message


class EchoingFileBackend(FileBackend):
    """The file backend, plus a copy of each email in the terminal."""

    def __init__(self, directory: Path, out: TextIO, tr: Translator) -> None:
        super().__init__(directory)
        self.out = out
        self.tr = tr

    async def send(self, email: Outgoing, confirm: Confirm) -> str | None:
        path = await super().send(email, confirm)
        message = email.message
        body = message.get_body(preferencelist=("plain",))
        text = body.get_content() if body is not None else ""
        heading = plain(self.tr("demo.email", to=message["To"], subject=message["Subject"]))
        self.out.write(f"\n{heading}\n   {plain(self.tr('demo.saved', path=str(path)))}\n")
        self.out.write("   | " + text.strip().replace("\n", "\n   | ") + "\n")
        self.out.flush()
        return path


def plain(markup: str) -> str:
    """A catalog text (Telegram HTML) as the terminal shows it."""
    return on_screen(*received(markup))
