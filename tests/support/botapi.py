"""A strict, in-memory fake of Telegram's Bot API for tests.

Only the HTTP layer is faked: tests run the real PTB ``Application`` / ``Bot`` against either

* :class:`RecordingRequest` - an in-process :class:`telegram.request.BaseRequest`, or
* :class:`BotApiServer` - a real HTTP server on 127.0.0.1 (for running the bot in a subprocess),

both backed by one :class:`FakeTelegram`, which enforces Telegram's rules (HTML parse mode,
length limits, callback data size, "message is not modified", callback query answers, ...).
Every rule the bot breaks is answered like Telegram does (HTTP 400 + description) *and* recorded
in :attr:`FakeTelegram.violations`, so a test can assert that nothing was broken even when the
bot's error handler swallowed the exception.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
import re
import sys
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from email import policy as email_policy
from email.message import EmailMessage
from email.parser import BytesParser
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import IO, Any, cast
from urllib.parse import parse_qsl, urlsplit

from telegram._utils.types import ODVInput
from telegram.request import BaseRequest, RequestData

from bot.chat.telegram_html import (
    HtmlParseError,
    parse_html,
    parse_html_entities,
    trim,
    utf16_len,
)

__all__ = [
    "ApiCall",
    "BotApiServer",
    "Button",
    "CallbackAnswer",
    "FakeTelegram",
    "HtmlParseError",
    "RecordingRequest",
    "SentMessage",
    "UploadedFile",
    "parse_html",
    "parse_html_entities",
    "utf16_len",
]

# --------------------------------------------------------------------------------------------
# Limits and Telegram's error descriptions
# --------------------------------------------------------------------------------------------

MAX_TEXT_LENGTH = 4096
MAX_CAPTION_LENGTH = 1024
MAX_CALLBACK_DATA_BYTES = 64
MAX_INLINE_BUTTONS = 100
MAX_CALLBACK_ANSWER_LENGTH = 200
MAX_COMMANDS = 100

ERR_TEXT_EMPTY = "Bad Request: message text is empty"
ERR_TOO_LONG = "Bad Request: message is too long"
ERR_CAPTION_TOO_LONG = "Bad Request: message caption is too long"
ERR_PARSE_ENTITIES = "Bad Request: can't parse entities: "
ERR_BUTTON_DATA = "Bad Request: BUTTON_DATA_INVALID"
ERR_NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply markup are "
    "exactly the same as a current content and reply markup of the message"
)
ERR_EDIT_NOT_FOUND = "Bad Request: message to edit not found"
ERR_DELETE_NOT_FOUND = "Bad Request: message to delete not found"
ERR_QUERY_INVALID = (
    "Bad Request: query is too old and response timeout expired or query ID is invalid"
)
ERR_CHAT_NOT_FOUND = "Bad Request: chat not found"
ERR_BLOCKED = "Forbidden: bot was blocked by the user"
ERR_CONFLICT_POLL = (
    "Conflict: terminated by other getUpdates request; make sure that only one bot instance "
    "is running"
)
ERR_CONFLICT_WEBHOOK = (
    "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to "
    "delete the webhook first"
)

CHAT_ACTIONS = frozenset(
    {
        "typing",
        "upload_photo",
        "record_video",
        "upload_video",
        "record_voice",
        "upload_voice",
        "upload_document",
        "choose_sticker",
        "find_location",
        "record_video_note",
        "upload_video_note",
    }
)

_INLINE_BUTTON_ACTIONS = (
    "callback_data",
    "url",
    "login_url",
    "switch_inline_query",
    "switch_inline_query_current_chat",
    "switch_inline_query_chosen_chat",
    "callback_game",
    "pay",
    "web_app",
    "copy_text",
)


# --------------------------------------------------------------------------------------------
# Records
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Button:
    """An inline keyboard button as the bot sent it."""

    text: str
    callback_data: str | None = None
    url: str | None = None


@dataclass(frozen=True)
class UploadedFile:
    """A file part of a multipart upload."""

    filename: str
    content: bytes
    mimetype: str | None = None


@dataclass
class ApiCall:
    """One request the bot made (params normalised: ints, bools and JSON fields decoded)."""

    method: str
    params: dict[str, Any]
    status: int = 0
    response: dict[str, Any] | None = None

    @property
    def ok(self) -> bool:
        return self.status == HTTPStatus.OK


@dataclass
class CallbackAnswer:
    query_id: str
    text: str | None
    show_alert: bool
    url: str | None = None
    cache_time: int | None = None


@dataclass
class SentMessage:
    """A message the bot sent, kept up to date by edits/deletion."""

    message_id: int
    chat_id: int
    text: str  # visible plain text (caption for documents), trimmed like Telegram does
    html: str  # raw text/caption as sent
    reply_markup: dict[str, Any] | None  # as sent (inline, reply keyboard, remove, force reply)
    buttons: list[list[Button]] = field(default_factory=list)
    keyboard: list[list[dict[str, Any]]] = field(default_factory=list)
    deleted: bool = False
    document_name: str | None = None
    document_bytes: bytes | None = None
    edits: int = 0
    parse_mode: str | None = None
    entities: list[dict[str, Any]] = field(default_factory=list)
    date: int = 0
    seq: int = 0  # FakeTelegram change counter at the last send/edit/delete (see mark())
    raw: dict[str, Any] = field(default_factory=dict)  # the Message JSON Telegram would return

    @property
    def button_texts(self) -> list[str]:
        return [button.text for row in self.buttons for button in row]

    @property
    def callback_data(self) -> list[str]:
        return [b.callback_data for row in self.buttons for b in row if b.callback_data]

    @property
    def has_inline_keyboard(self) -> bool:
        return any(self.buttons)

    @property
    def keyboard_texts(self) -> list[str]:
        return [str(button.get("text", "")) for row in self.keyboard for button in row]

    def to_json(self) -> dict[str, Any]:
        """A deep copy of the Message JSON (as the fake stores it, reflecting edits)."""
        return copy.deepcopy(self.raw)


class _ApiError(Exception):
    def __init__(
        self,
        description: str,
        *,
        code: int = 400,
        detail: str | None = None,
        violation: bool = True,
    ) -> None:
        super().__init__(description)
        self.code = code
        self.description = description
        self.detail = detail
        self.violation = violation


# --------------------------------------------------------------------------------------------
# Parameter normalisation (form/multipart values are strings, JSON values are typed)
# --------------------------------------------------------------------------------------------

_INT_PARAMS = frozenset(
    {
        "message_id",
        "offset",
        "limit",
        "timeout",
        "cache_time",
        "reply_to_message_id",
        "message_thread_id",
        "max_connections",
    }
)
_BOOL_PARAMS = frozenset(
    {
        "show_alert",
        "disable_notification",
        "protect_content",
        "drop_pending_updates",
        "disable_web_page_preview",
        "allow_sending_without_reply",
        "disable_content_type_detection",
        "allow_paid_broadcast",
        "show_caption_above_media",
    }
)
_JSON_PARAMS = frozenset(
    {
        "reply_markup",
        "entities",
        "caption_entities",
        "commands",
        "scope",
        "allowed_updates",
        "link_preview_options",
        "reply_parameters",
        "menu_button",
    }
)


def _normalise_params(params: Mapping[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in params.items():
        if value is None:
            continue
        if (
            (key == "chat_id" or key in _INT_PARAMS)
            and isinstance(value, str)
            and re.fullmatch(r"-?\d+", value.strip())
        ):
            value = int(value)
        elif key in _BOOL_PARAMS and isinstance(value, str):
            value = value.strip().lower() in ("true", "1")
        elif key in _JSON_PARAMS and isinstance(value, str):
            try:
                value = json.loads(value)
            except ValueError:
                if key == "reply_markup":
                    raise _ApiError(
                        "Bad Request: can't parse reply keyboard markup JSON object"
                    ) from None
                raise _ApiError(f"Bad Request: can't parse {key} JSON object") from None
        result[key] = value
    return result


def _as_int(value: Any, default: int) -> int:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value)
    if isinstance(value, str):
        with contextlib.suppress(ValueError):
            return int(float(value))
    return default


def _valid_button_url(url: str) -> bool:
    parts = urlsplit(url)
    if parts.scheme in ("http", "https"):
        host = parts.hostname or ""
        return "." in host or host == "localhost"
    return parts.scheme == "tg" and bool(parts.netloc or parts.path)


def _keyboard_signature(buttons: list[list[Button]]) -> tuple[tuple[Button, ...], ...]:
    return tuple(tuple(row) for row in buttons if row)


def _summarise(method: str, params: Mapping[str, Any]) -> str:
    parts: list[str] = []
    if "chat_id" in params:
        parts.append(f"chat_id={params['chat_id']!r}")
    if "message_id" in params:
        parts.append(f"message_id={params['message_id']!r}")
    for key in ("text", "caption"):
        if isinstance(params.get(key), str):
            value: str = params[key]
            shown = value if len(value) <= 60 else value[:57] + "..."
            parts.append(f"{key}={shown!r}")
    return f"{method}({', '.join(parts)})"


# --------------------------------------------------------------------------------------------
# The fake server state
# --------------------------------------------------------------------------------------------

_METHOD_NAMES = (
    "getMe",
    "sendMessage",
    "editMessageText",
    "editMessageCaption",
    "editMessageReplyMarkup",
    "deleteMessage",
    "answerCallbackQuery",
    "setMyCommands",
    "getMyCommands",
    "deleteMyCommands",
    "sendDocument",
    "sendChatAction",
    "getUpdates",
    "deleteWebhook",
    "setWebhook",
    "getWebhookInfo",
    "close",
    "logOut",
    "getChat",
    "setMyDescription",
    "setMyShortDescription",
    "setMyName",
    "setChatMenuButton",
)
_CANONICAL = {name.lower(): name for name in _METHOD_NAMES}


class FakeTelegram:
    """In-memory state of a Bot API server for one bot. Thread-safe."""

    def __init__(
        self,
        *,
        bot_id: int = 999000,
        first_name: str = "Veileder",
        username: str = "veileder_test_bot",
        require_known_chats: bool = True,
    ) -> None:
        """``require_known_chats``: sending to a chat no update came from (see
        :meth:`register_chat`, done by the Chat driver) fails with "chat not found"."""
        self._lock = threading.RLock()
        self._cond = threading.Condition(self._lock)
        self.bot_user: dict[str, Any] = {
            "id": bot_id,
            "is_bot": True,
            "first_name": first_name,
            "username": username,
        }
        self.require_known_chats = require_known_chats
        self.calls: list[ApiCall] = []
        self.violations: list[str] = []
        self.callback_answers: list[CallbackAnswer] = []
        self.webhook_url: str | None = None
        self.allowed_updates: list[str] | None = None
        self._chats: dict[int, dict[str, Any]] = {}
        self._blocked: set[int] = set()
        self._messages: dict[int, list[SentMessage]] = {}
        self._by_key: dict[tuple[int, int], SentMessage] = {}
        self._user_messages: dict[tuple[int, int], dict[str, Any]] = {}
        self._next_message_id = 1
        self._seq = 0
        self._file_counter = 0
        self._files: dict[str, UploadedFile] = {}
        self._commands: dict[tuple[str, str | None], list[dict[str, str]]] = {}
        self._callback_queries: dict[str, bool] = {}  # id -> answered
        self._updates: list[dict[str, Any]] = []
        self._last_update_id = 0
        self._deliveries: dict[int, int] = {}
        self._confirmed: set[int] = set()
        self._poll_generation = 0
        self._interrupts = 0
        self._waiting_polls = 0
        self._handlers: dict[str, Callable[[dict[str, Any], bool], Any]] = {
            "getme": lambda p, b: self._get_me(),
            "sendmessage": lambda p, b: self._send_message(p),
            "editmessagetext": lambda p, b: self._edit_message_text(p),
            "editmessagecaption": lambda p, b: self._edit_message_caption(p),
            "editmessagereplymarkup": lambda p, b: self._edit_message_reply_markup(p),
            "deletemessage": lambda p, b: self._delete_message(p),
            "answercallbackquery": lambda p, b: self._answer_callback_query(p),
            "setmycommands": lambda p, b: self._set_my_commands(p),
            "getmycommands": lambda p, b: self._get_my_commands(p),
            "deletemycommands": lambda p, b: self._delete_my_commands(p),
            "senddocument": lambda p, b: self._send_document(p),
            "sendchataction": lambda p, b: self._send_chat_action(p),
            "getupdates": self._get_updates,
            "deletewebhook": lambda p, b: self._delete_webhook(p),
            "setwebhook": lambda p, b: self._set_webhook(p),
            "getwebhookinfo": lambda p, b: self._get_webhook_info(),
            "close": lambda p, b: True,
            "logout": lambda p, b: True,
            "getchat": lambda p, b: self._get_chat(p),
            "setmydescription": lambda p, b: True,
            "setmyshortdescription": lambda p, b: True,
            "setmyname": lambda p, b: True,
            "setchatmenubutton": lambda p, b: True,
        }

    # ---------------------------------------------------------------- dispatch

    def handle(
        self, method: str, params: Mapping[str, Any], *, block: bool = True
    ) -> tuple[int, dict[str, Any]]:
        """Serve one Bot API call: returns (HTTP status, JSON envelope).

        ``block=False`` makes getUpdates never wait (used by the in-process transport, which
        waits asynchronously before calling).
        """
        key = method.lower()
        canonical = _CANONICAL.get(key, method)
        with self._lock:
            call = ApiCall(method=canonical, params=dict(params))
            self.calls.append(call)
            try:
                call.params = _normalise_params(params)
                handler = self._handlers.get(key)
                if handler is None:
                    raise _ApiError(
                        "Not Found",
                        code=404,
                        detail=f"method {method!r} is not implemented by FakeTelegram",
                    )
                result = handler(call.params, block)
            except _ApiError as error:
                status = error.code
                body: dict[str, Any] = {
                    "ok": False,
                    "error_code": error.code,
                    "description": error.description,
                }
                if error.violation:
                    line = f"{_summarise(canonical, call.params)}: {error.description}"
                    if error.detail:
                        line += f" [{error.detail}]"
                    self.violations.append(line)
            else:
                status = HTTPStatus.OK
                body = {"ok": True, "result": copy.deepcopy(result)}
            call.status = int(status)
            call.response = body
            return int(status), copy.deepcopy(body)

    # ---------------------------------------------------------------- chats & users

    def register_chat(
        self,
        chat_id: int,
        *,
        first_name: str = "User",
        last_name: str | None = None,
        username: str | None = None,
    ) -> None:
        """Make a private chat known (as if the user had started the bot)."""
        chat: dict[str, Any] = {"id": chat_id, "type": "private", "first_name": first_name}
        if last_name:
            chat["last_name"] = last_name
        if username:
            chat["username"] = username
        with self._lock:
            self._chats[chat_id] = chat

    def chat_json(self, chat_id: int) -> dict[str, Any]:
        with self._lock:
            chat = self._chats.get(chat_id) or {
                "id": chat_id,
                "type": "private",
                "first_name": f"User {chat_id}",
            }
            return dict(chat)

    def block(self, chat_id: int) -> None:
        """The user blocks the bot: further sends get 403 "bot was blocked by the user"."""
        with self._lock:
            self._blocked.add(chat_id)

    def unblock(self, chat_id: int) -> None:
        with self._lock:
            self._blocked.discard(chat_id)

    def _resolve_chat(self, params: Mapping[str, Any]) -> int:
        chat_id = params.get("chat_id")
        if chat_id is None or chat_id == "":
            raise _ApiError("Bad Request: chat_id is empty")
        if not isinstance(chat_id, int) or isinstance(chat_id, bool):
            raise _ApiError(
                ERR_CHAT_NOT_FOUND,
                detail=f"the fake only knows private chats, got chat_id={chat_id!r}",
            )
        if chat_id in self._blocked:
            raise _ApiError(ERR_BLOCKED, code=403, violation=False)
        if chat_id not in self._chats:
            if self.require_known_chats:
                raise _ApiError(
                    ERR_CHAT_NOT_FOUND, detail="no update from this chat was delivered to the bot"
                )
            self._chats[chat_id] = {
                "id": chat_id,
                "type": "private",
                "first_name": f"User {chat_id}",
            }
        return chat_id

    # ---------------------------------------------------------------- message ids & user msgs

    def next_message_id(self) -> int:
        """Allocate a message id (shared by bot and user messages, so they never collide)."""
        with self._lock:
            message_id = self._next_message_id
            self._next_message_id += 1
            return message_id

    def record_user_message(self, message: Mapping[str, Any]) -> None:
        """Remember a message the user sent (so replies to it / deleting it work)."""
        with self._lock:
            chat_id = int(message["chat"]["id"])
            message_id = int(message["message_id"])
            self._user_messages[(chat_id, message_id)] = copy.deepcopy(dict(message))
            self._next_message_id = max(self._next_message_id, message_id + 1)

    # ---------------------------------------------------------------- text & markup rules

    def _render(
        self,
        text: str,
        parse_mode: Any,
        entities: Any,
        *,
        caption: bool,
    ) -> tuple[str, list[dict[str, Any]]]:
        limit = MAX_CAPTION_LENGTH if caption else MAX_TEXT_LENGTH
        mode = parse_mode.lower() if isinstance(parse_mode, str) and parse_mode else None
        if mode == "html":
            try:
                visible, parsed = parse_html_entities(text)
            except HtmlParseError as error:
                raise _ApiError(ERR_PARSE_ENTITIES + str(error)) from None
        elif mode in ("markdown", "markdownv2"):
            visible, parsed = text, []  # not validated by the fake
        elif mode is None:
            visible = text
            parsed = [dict(e) for e in entities] if isinstance(entities, list) else []
        else:
            raise _ApiError("Bad Request: unsupported parse_mode")
        visible, parsed = trim(visible, parsed)
        if not caption and not visible:
            raise _ApiError(ERR_TEXT_EMPTY)
        if utf16_len(visible) > limit:  # Telegram counts UTF-16 code units, as for entities
            raise _ApiError(
                ERR_CAPTION_TOO_LONG if caption else ERR_TOO_LONG,
                detail=f"{utf16_len(visible)} visible UTF-16 units, limit {limit}",
            )
        return visible, parsed

    @staticmethod
    def _parse_markup(
        markup: Any,
    ) -> tuple[dict[str, Any] | None, list[list[Button]], list[list[dict[str, Any]]]]:
        """Validate reply_markup; return (markup, inline buttons, reply keyboard)."""
        if markup is None:
            return None, [], []
        if not isinstance(markup, dict):
            raise _ApiError("Bad Request: can't parse reply keyboard markup JSON object")
        if "inline_keyboard" in markup:
            rows = markup["inline_keyboard"]
            if not isinstance(rows, list) or not all(isinstance(r, list) for r in rows):
                raise _ApiError(
                    "Bad Request: can't parse inline keyboard button: "
                    'Field "inline_keyboard" must be of type Array'
                )
            if sum(len(row) for row in rows) > MAX_INLINE_BUTTONS:
                raise _ApiError(
                    "Bad Request: reply markup is too long",
                    detail=f"more than {MAX_INLINE_BUTTONS} buttons",
                )
            buttons: list[list[Button]] = []
            for row in rows:
                parsed_row: list[Button] = []
                for raw in row:
                    if not isinstance(raw, dict):
                        raise _ApiError(
                            "Bad Request: can't parse inline keyboard button: "
                            "InlineKeyboardButton must be an Object"
                        )
                    text = raw.get("text")
                    if not isinstance(text, str):
                        raise _ApiError(
                            "Bad Request: can't parse inline keyboard button: "
                            'Can\'t find field "text"'
                        )
                    if not text.strip():
                        raise _ApiError(
                            "Bad Request: BUTTON_TEXT_INVALID", detail="button text is empty"
                        )
                    actions = [a for a in _INLINE_BUTTON_ACTIONS if raw.get(a) is not None]
                    if not actions:
                        raise _ApiError(
                            "Bad Request: can't parse inline keyboard button: "
                            "Text buttons are unallowed in the inline keyboard",
                            detail=f"button {text!r}",
                        )
                    data = raw.get("callback_data")
                    if data is not None:
                        size = len(data.encode("utf-8")) if isinstance(data, str) else -1
                        if not 1 <= size <= MAX_CALLBACK_DATA_BYTES:
                            raise _ApiError(
                                ERR_BUTTON_DATA,
                                detail=f"button {text!r}: callback_data {data!r} is {size} bytes"
                                f" (allowed 1..{MAX_CALLBACK_DATA_BYTES})",
                            )
                    url = raw.get("url")
                    if url is not None and (not isinstance(url, str) or not _valid_button_url(url)):
                        raise _ApiError(
                            f"Bad Request: inline keyboard button URL '{url}' is invalid: "
                            "Wrong HTTP URL"
                        )
                    parsed_row.append(Button(text=text, callback_data=data, url=url))
                buttons.append(parsed_row)
            return markup, buttons, []
        if "keyboard" in markup:
            rows = markup["keyboard"]
            if not isinstance(rows, list) or not all(isinstance(r, list) for r in rows):
                raise _ApiError(
                    "Bad Request: can't parse keyboard button: "
                    'Field "keyboard" must be of type Array'
                )
            keyboard: list[list[dict[str, Any]]] = []
            for row in rows:
                keyboard_row: list[dict[str, Any]] = []
                for raw in row:
                    button = {"text": raw} if isinstance(raw, str) else raw
                    if not isinstance(button, dict) or not isinstance(button.get("text"), str):
                        raise _ApiError(
                            "Bad Request: can't parse keyboard button: Can't find field \"text\""
                        )
                    if not button["text"].strip():
                        raise _ApiError("Bad Request: keyboard button text must be non-empty")
                    keyboard_row.append(dict(button))
                keyboard.append(keyboard_row)
            return markup, [], keyboard
        if markup.get("remove_keyboard") is True or markup.get("force_reply") is True:
            return markup, [], []
        raise _ApiError(
            "Bad Request: can't parse reply keyboard markup JSON object",
            detail=f"unrecognised reply_markup {markup!r}",
        )

    @staticmethod
    def _inline_markup(message: SentMessage) -> dict[str, Any] | None:
        markup = message.reply_markup
        if markup is not None and "inline_keyboard" in markup and any(markup["inline_keyboard"]):
            return markup
        return None

    def _reply_target(self, chat_id: int, params: Mapping[str, Any]) -> dict[str, Any] | None:
        """The Message JSON being replied to (reply_parameters / reply_to_message_id)."""
        target: Any = params.get("reply_to_message_id")
        allow_missing = bool(params.get("allow_sending_without_reply"))
        reply_parameters = params.get("reply_parameters")
        if isinstance(reply_parameters, dict):
            target = reply_parameters.get("message_id", target)
            allow_missing = allow_missing or bool(
                reply_parameters.get("allow_sending_without_reply")
            )
        if target is None:
            return None
        key = (chat_id, _as_int(target, -1))
        if key in self._user_messages:
            return copy.deepcopy(self._user_messages[key])
        bot_message = self._by_key.get(key)
        if bot_message is not None and not bot_message.deleted:
            return bot_message.to_json()
        if allow_missing:
            return None
        raise _ApiError("Bad Request: message to be replied not found")

    # ---------------------------------------------------------------- storage

    def _bump(self) -> int:
        self._seq += 1
        return self._seq

    def _store(
        self,
        chat_id: int,
        *,
        html: str,
        text: str,
        entities: list[dict[str, Any]],
        parse_mode: str | None,
        markup: dict[str, Any] | None,
        buttons: list[list[Button]],
        keyboard: list[list[dict[str, Any]]],
        document: UploadedFile | None = None,
        extra: dict[str, Any] | None = None,
    ) -> SentMessage:
        message_id = self.next_message_id()
        date = int(time.time())
        raw: dict[str, Any] = {
            "message_id": message_id,
            "from": dict(self.bot_user),
            "chat": self.chat_json(chat_id),
            "date": date,
        }
        if extra:
            raw.update(extra)
        message = SentMessage(
            message_id=message_id,
            chat_id=chat_id,
            text=text,
            html=html,
            reply_markup=markup,
            buttons=buttons,
            keyboard=keyboard,
            document_name=document.filename if document else None,
            document_bytes=document.content if document else None,
            parse_mode=parse_mode,
            entities=entities,
            date=date,
            seq=self._bump(),
            raw=raw,
        )
        self._sync_raw(message, document_message=document is not None)
        self._messages.setdefault(chat_id, []).append(message)
        self._by_key[(chat_id, message_id)] = message
        return message

    def _sync_raw(self, message: SentMessage, *, document_message: bool) -> None:
        raw = message.raw
        text_key, entities_key = (
            ("caption", "caption_entities") if document_message else ("text", "entities")
        )
        raw.pop(text_key, None)
        raw.pop(entities_key, None)
        if message.text or not document_message:
            raw[text_key] = message.text
        if message.entities:
            raw[entities_key] = copy.deepcopy(message.entities)
        inline = self._inline_markup(message)
        if inline is not None:
            raw["reply_markup"] = copy.deepcopy(inline)
        else:
            raw.pop("reply_markup", None)

    def _message_for_edit(self, params: Mapping[str, Any]) -> SentMessage:
        if params.get("inline_message_id") is not None:
            raise _ApiError(
                "Bad Request: MESSAGE_ID_INVALID",
                detail="inline messages are not supported by the fake",
            )
        chat_id = self._resolve_chat(params)
        message_id = params.get("message_id")
        if message_id is None:
            raise _ApiError("Bad Request: message identifier is not specified")
        key = (chat_id, _as_int(message_id, -1))
        message = self._by_key.get(key)
        if message is None or message.deleted:
            if key in self._user_messages:
                raise _ApiError(
                    "Bad Request: message can't be edited", detail="it is the user's message"
                )
            raise _ApiError(ERR_EDIT_NOT_FOUND)
        return message

    # ---------------------------------------------------------------- methods

    def _get_me(self) -> dict[str, Any]:
        return {
            **self.bot_user,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }

    def _send_message(self, params: dict[str, Any]) -> dict[str, Any]:
        chat_id = self._resolve_chat(params)
        text = params.get("text")
        if not isinstance(text, str) or text == "":
            raise _ApiError(ERR_TEXT_EMPTY)
        parse_mode = params.get("parse_mode")
        visible, entities = self._render(text, parse_mode, params.get("entities"), caption=False)
        markup, buttons, keyboard = self._parse_markup(params.get("reply_markup"))
        reply_to = self._reply_target(chat_id, params)
        message = self._store(
            chat_id,
            html=text,
            text=visible,
            entities=entities,
            parse_mode=parse_mode if isinstance(parse_mode, str) else None,
            markup=markup,
            buttons=buttons,
            keyboard=keyboard,
            extra={"reply_to_message": reply_to} if reply_to else None,
        )
        return message.raw

    def _edit_message_text(self, params: dict[str, Any]) -> dict[str, Any]:
        message = self._message_for_edit(params)
        if message.document_name is not None:
            raise _ApiError("Bad Request: there is no text in the message to edit")
        text = params.get("text")
        if not isinstance(text, str) or text == "":
            raise _ApiError(ERR_TEXT_EMPTY)
        parse_mode = params.get("parse_mode")
        visible, entities = self._render(text, parse_mode, params.get("entities"), caption=False)
        markup, buttons, _ = self._parse_markup(params.get("reply_markup"))
        if markup is not None and "inline_keyboard" not in markup:
            raise _ApiError(
                "Bad Request: inline keyboard expected",
                detail="only an InlineKeyboardMarkup can be set by an edit",
            )
        if (
            visible == message.text
            and entities == message.entities
            and _keyboard_signature(buttons) == _keyboard_signature(message.buttons)
        ):
            raise _ApiError(ERR_NOT_MODIFIED)
        message.html = text
        message.text = visible
        message.entities = entities
        message.parse_mode = parse_mode if isinstance(parse_mode, str) else None
        message.reply_markup, message.buttons = markup, buttons
        return self._after_edit(message, document_message=False)

    def _edit_message_caption(self, params: dict[str, Any]) -> dict[str, Any]:
        message = self._message_for_edit(params)
        if message.document_name is None:
            raise _ApiError("Bad Request: there is no caption in the message to edit")
        caption = params.get("caption")
        caption = caption if isinstance(caption, str) else ""
        parse_mode = params.get("parse_mode")
        visible, entities = (
            self._render(caption, parse_mode, params.get("caption_entities"), caption=True)
            if caption
            else ("", [])
        )
        markup, buttons, _ = self._parse_markup(params.get("reply_markup"))
        if markup is not None and "inline_keyboard" not in markup:
            raise _ApiError("Bad Request: inline keyboard expected")
        if (
            visible == message.text
            and entities == message.entities
            and _keyboard_signature(buttons) == _keyboard_signature(message.buttons)
        ):
            raise _ApiError(ERR_NOT_MODIFIED)
        message.html = caption
        message.text = visible
        message.entities = entities
        message.parse_mode = parse_mode if isinstance(parse_mode, str) else None
        message.reply_markup, message.buttons = markup, buttons
        return self._after_edit(message, document_message=True)

    def _edit_message_reply_markup(self, params: dict[str, Any]) -> dict[str, Any]:
        message = self._message_for_edit(params)
        markup, buttons, _ = self._parse_markup(params.get("reply_markup"))
        if markup is not None and "inline_keyboard" not in markup:
            raise _ApiError("Bad Request: inline keyboard expected")
        if _keyboard_signature(buttons) == _keyboard_signature(message.buttons):
            raise _ApiError(ERR_NOT_MODIFIED)
        message.reply_markup, message.buttons = markup, buttons
        return self._after_edit(message, document_message=message.document_name is not None)

    def _after_edit(self, message: SentMessage, *, document_message: bool) -> dict[str, Any]:
        message.edits += 1
        message.seq = self._bump()
        message.raw["edit_date"] = int(time.time())
        self._sync_raw(message, document_message=document_message)
        return message.raw

    def _delete_message(self, params: dict[str, Any]) -> bool:
        chat_id = self._resolve_chat(params)
        message_id = params.get("message_id")
        if message_id is None:
            raise _ApiError("Bad Request: message identifier is not specified")
        key = (chat_id, _as_int(message_id, -1))
        if key in self._user_messages:
            del self._user_messages[key]
            self._bump()
            return True
        message = self._by_key.get(key)
        if message is None or message.deleted:
            raise _ApiError(ERR_DELETE_NOT_FOUND)
        message.deleted = True
        message.seq = self._bump()
        return True

    def _answer_callback_query(self, params: dict[str, Any]) -> bool:
        query_id = str(params.get("callback_query_id", ""))
        if self._callback_queries.get(query_id, True):
            detail = (
                "already answered" if query_id in self._callback_queries else "unknown query id"
            )
            raise _ApiError(ERR_QUERY_INVALID, detail=f"{detail}: {query_id!r}")
        text = params.get("text")
        if isinstance(text, str) and len(text) > MAX_CALLBACK_ANSWER_LENGTH:
            raise _ApiError(
                "Bad Request: MESSAGE_TOO_LONG",
                detail=f"answer text is {len(text)} characters, limit 200",
            )
        self._callback_queries[query_id] = True
        self.callback_answers.append(
            CallbackAnswer(
                query_id=query_id,
                text=text if isinstance(text, str) else None,
                show_alert=bool(params.get("show_alert", False)),
                url=params.get("url"),
                cache_time=params.get("cache_time"),
            )
        )
        return True

    @staticmethod
    def _scope_key(scope: Any) -> str:
        if not isinstance(scope, dict):
            scope = {"type": "default"}
        return json.dumps(scope, sort_keys=True)

    @staticmethod
    def _language(params: Mapping[str, Any]) -> str | None:
        language = params.get("language_code")
        return language if isinstance(language, str) and language else None

    def _set_my_commands(self, params: dict[str, Any]) -> bool:
        commands = params.get("commands")
        if not isinstance(commands, list):
            raise _ApiError("Bad Request: can't parse commands JSON object")
        if len(commands) > MAX_COMMANDS:
            raise _ApiError("Bad Request: BOT_COMMANDS_TOO_MUCH")
        stored: list[dict[str, str]] = []
        for command in commands:
            name = command.get("command") if isinstance(command, dict) else None
            description = command.get("description") if isinstance(command, dict) else None
            if not isinstance(name, str) or not re.fullmatch(r"[a-z0-9_]{1,32}", name):
                raise _ApiError("Bad Request: BOT_COMMAND_INVALID", detail=f"command {name!r}")
            if not isinstance(description, str) or not 1 <= len(description.strip()) <= 256:
                raise _ApiError(
                    "Bad Request: BOT_COMMAND_DESCRIPTION_INVALID", detail=f"command {name!r}"
                )
            stored.append({"command": name, "description": description})
        self._commands[(self._scope_key(params.get("scope")), self._language(params))] = stored
        return True

    def _get_my_commands(self, params: dict[str, Any]) -> list[dict[str, str]]:
        key = (self._scope_key(params.get("scope")), self._language(params))
        return list(self._commands.get(key, []))

    def _delete_my_commands(self, params: dict[str, Any]) -> bool:
        key = (self._scope_key(params.get("scope")), self._language(params))
        self._commands.pop(key, None)
        return True

    def _new_file_ids(self) -> tuple[str, str]:
        self._file_counter += 1
        return f"BQACAgQAAxkDfake{self._file_counter:06d}", f"AgADfake{self._file_counter:06d}"

    def _send_document(self, params: dict[str, Any]) -> dict[str, Any]:
        chat_id = self._resolve_chat(params)
        document = params.get("document")
        if isinstance(document, UploadedFile):
            if not document.content:
                raise _ApiError("Bad Request: file must be non-empty")
            upload = document
        elif isinstance(document, str) and document in self._files:
            upload = self._files[document]
        elif isinstance(document, str) and document.startswith(("http://", "https://")):
            name = urlsplit(document).path.rsplit("/", 1)[-1] or "file"
            upload = UploadedFile(filename=name, content=b"", mimetype=None)
        elif isinstance(document, str) and document:
            raise _ApiError("Bad Request: wrong file identifier/HTTP URL specified")
        else:
            raise _ApiError("Bad Request: there is no document in the request")
        caption = params.get("caption")
        caption = caption if isinstance(caption, str) else ""
        parse_mode = params.get("parse_mode")
        visible, entities = (
            self._render(caption, parse_mode, params.get("caption_entities"), caption=True)
            if caption
            else ("", [])
        )
        markup, buttons, keyboard = self._parse_markup(params.get("reply_markup"))
        reply_to = self._reply_target(chat_id, params)
        file_id, unique_id = self._new_file_ids()
        self._files[file_id] = upload
        document_json: dict[str, Any] = {
            "file_id": file_id,
            "file_unique_id": unique_id,
            "file_name": upload.filename,
            "file_size": len(upload.content),
        }
        if upload.mimetype:
            document_json["mime_type"] = upload.mimetype
        message = self._store(
            chat_id,
            html=caption,
            text=visible,
            entities=entities,
            parse_mode=parse_mode if isinstance(parse_mode, str) else None,
            markup=markup,
            buttons=buttons,
            keyboard=keyboard,
            document=upload,
            extra={
                "document": document_json,
                **({"reply_to_message": reply_to} if reply_to else {}),
            },
        )
        return message.raw

    def _send_chat_action(self, params: dict[str, Any]) -> bool:
        self._resolve_chat(params)
        if params.get("action") not in CHAT_ACTIONS:
            raise _ApiError(
                "Bad Request: wrong parameter action in request",
                detail=f"action={params.get('action')!r}",
            )
        return True

    def _get_chat(self, params: dict[str, Any]) -> dict[str, Any]:
        chat_id = self._resolve_chat(params)
        return {
            **self.chat_json(chat_id),
            "accent_color_id": 0,
            "max_reaction_count": 11,
            "accepted_gift_types": {
                "unlimited_gifts": False,
                "limited_gifts": False,
                "unique_gifts": False,
                "premium_subscription": False,
                "gifts_from_channels": False,
            },
        }

    def _set_webhook(self, params: dict[str, Any]) -> bool:
        url = params.get("url")
        self.webhook_url = url if isinstance(url, str) and url else None
        if params.get("drop_pending_updates"):
            self._updates.clear()
        self._interrupts += 1  # a long poll in progress ends
        self._cond.notify_all()
        return True

    def _delete_webhook(self, params: dict[str, Any]) -> bool:
        self.webhook_url = None
        if params.get("drop_pending_updates"):
            self._updates.clear()
        return True

    def _get_webhook_info(self) -> dict[str, Any]:
        return {
            "url": self.webhook_url or "",
            "has_custom_certificate": False,
            "pending_update_count": len(self._updates),
        }

    # ---------------------------------------------------------------- updates / polling

    def enqueue_update(self, update: Mapping[str, Any]) -> int:
        """Queue an update for getUpdates; assigns ``update_id`` if missing. Returns the id."""
        with self._cond:
            data = copy.deepcopy(dict(update))
            update_id = data.get("update_id")
            if update_id is None:
                update_id = self._last_update_id + 1
                data["update_id"] = update_id
            elif int(update_id) <= self._last_update_id:
                raise ValueError(
                    f"update_id {update_id} is not greater than the last enqueued update id "
                    f"{self._last_update_id} (Telegram's update ids increase monotonically)"
                )
            self._last_update_id = int(update_id)
            self._updates.append(data)
            for key in ("message", "edited_message"):
                message = data.get(key)
                if isinstance(message, dict) and "message_id" in message and "chat" in message:
                    self.record_user_message(message)
            self._cond.notify_all()
            return int(update_id)

    @property
    def last_update_id(self) -> int:
        with self._lock:
            return self._last_update_id

    def pending_updates(self) -> list[dict[str, Any]]:
        """Updates not yet confirmed (delivered or not)."""
        with self._lock:
            return copy.deepcopy(self._updates)

    def has_pending_updates(self, offset: int = 0) -> bool:
        with self._lock:
            if offset > 0:
                return any(u["update_id"] >= offset for u in self._updates)
            return bool(self._updates)

    def delivery_count(self, update_id: int) -> int:
        """How many getUpdates responses contained this update (>1 means re-delivery)."""
        with self._lock:
            return self._deliveries.get(update_id, 0)

    def is_confirmed(self, update_id: int) -> bool:
        """Whether a later getUpdates offset confirmed (and so dropped) the update."""
        with self._lock:
            return update_id in self._confirmed

    @property
    def polls_waiting(self) -> int:
        """Number of getUpdates long polls currently blocked waiting for updates."""
        with self._lock:
            return self._waiting_polls

    def _track_waiting_poll(self, delta: int) -> None:
        with self._lock:
            self._waiting_polls += delta

    def interrupt_polls(self) -> None:
        """Make all waiting getUpdates long polls return an empty result now."""
        with self._cond:
            self._interrupts += 1
            self._cond.notify_all()

    def _apply_offset(self, offset: int) -> None:
        if offset > 0:
            keep = [u for u in self._updates if u["update_id"] >= offset]
        elif offset < 0:
            keep = self._updates[offset:]
        else:
            return
        kept_ids = {u["update_id"] for u in keep}
        self._confirmed.update(
            u["update_id"] for u in self._updates if u["update_id"] not in kept_ids
        )
        self._updates = keep

    def _get_updates(self, params: dict[str, Any], block: bool) -> list[dict[str, Any]]:
        if self.webhook_url:
            raise _ApiError(ERR_CONFLICT_WEBHOOK, code=409, violation=False)
        offset = _as_int(params.get("offset"), 0)
        limit = min(max(_as_int(params.get("limit"), 100), 1), 100)
        timeout = max(_as_int(params.get("timeout"), 0), 0)
        if isinstance(params.get("allowed_updates"), list):
            self.allowed_updates = list(params["allowed_updates"])
        self._poll_generation += 1  # a long poll still waiting is superseded (409)
        self._cond.notify_all()
        generation = self._poll_generation
        interrupts = self._interrupts
        self._apply_offset(offset)
        if block and timeout > 0 and not self._updates:
            deadline = time.monotonic() + timeout
            self._waiting_polls += 1
            try:
                while not self._updates:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        break
                    self._cond.wait(remaining)
                    if self._interrupts != interrupts:
                        return []
                    if self._poll_generation != generation:
                        raise _ApiError(ERR_CONFLICT_POLL, code=409, violation=False)
            finally:
                self._waiting_polls -= 1
        batch = self._updates[:limit]
        for update in batch:
            update_id = update["update_id"]
            self._deliveries[update_id] = self._deliveries.get(update_id, 0) + 1
        return batch

    def register_callback_query(
        self,
        query_id: str,
        *,
        chat_id: int | None = None,
        message_id: int | None = None,
        data: str | None = None,
    ) -> None:
        """Record that a callback query with this id was delivered to the bot."""
        del chat_id, message_id, data  # accepted for readability at call sites
        with self._lock:
            self._callback_queries.setdefault(str(query_id), False)

    # ---------------------------------------------------------------- inspection helpers

    def calls_to(self, method: str) -> list[ApiCall]:
        with self._lock:
            return [c for c in self.calls if c.method.lower() == method.lower()]

    def messages(self, chat_id: int, *, include_deleted: bool = True) -> list[SentMessage]:
        """Bot messages in the chat, in sending order."""
        with self._lock:
            return [m for m in self._messages.get(chat_id, []) if include_deleted or not m.deleted]

    def last_message(self, chat_id: int) -> SentMessage:
        """The most recently sent (not deleted) bot message in the chat."""
        alive = self.messages(chat_id, include_deleted=False)
        if not alive:
            raise AssertionError(f"the bot has sent no (undeleted) message to chat {chat_id}")
        return alive[-1]

    def get_message(self, chat_id: int, message_id: int) -> SentMessage | None:
        with self._lock:
            return self._by_key.get((chat_id, message_id))

    def documents(self, chat_id: int) -> list[tuple[str, bytes]]:
        with self._lock:
            return [
                (m.document_name, m.document_bytes or b"")
                for m in self._messages.get(chat_id, [])
                if m.document_name is not None
            ]

    def commands(
        self, language_code: str | None = None, scope: Mapping[str, Any] | None = None
    ) -> list[dict[str, str]]:
        with self._lock:
            key = (self._scope_key(dict(scope) if scope else None), language_code or None)
            return list(self._commands.get(key, []))

    def unanswered_callback_queries(self) -> list[str]:
        with self._lock:
            return [qid for qid, answered in self._callback_queries.items() if not answered]

    def callback_answer(self, query_id: str) -> CallbackAnswer | None:
        with self._lock:
            for answer in self.callback_answers:
                if answer.query_id == query_id:
                    return answer
            return None

    def mark(self) -> int:
        """A point in time; see :meth:`messages_since`."""
        with self._lock:
            return self._seq

    def messages_since(self, chat_id: int, mark: int) -> list[SentMessage]:
        """Undeleted bot messages sent or edited after ``mark``, in chat order."""
        with self._lock:
            return [m for m in self._messages.get(chat_id, []) if m.seq > mark and not m.deleted]

    def assert_no_violations(self) -> None:
        with self._lock:
            if self.violations:
                listing = "\n  ".join(self.violations)
                raise AssertionError(f"the bot broke Telegram's rules:\n  {listing}")

    def clear_violations(self) -> None:
        with self._lock:
            self.violations.clear()

    async def wait_for(
        self, predicate: Callable[[], bool], within: float = 10.0, what: str = "condition"
    ) -> None:
        """Poll ``predicate`` until it is true; AssertionError after ``within`` seconds."""
        deadline = time.monotonic() + within
        while True:
            if predicate():
                return
            if time.monotonic() > deadline:
                recent = ", ".join(f"{c.method}->{c.status}" for c in self.calls[-10:])
                raise AssertionError(
                    f"timed out after {within}s waiting for {what}; last calls: {recent}"
                )
            await asyncio.sleep(0.02)


# --------------------------------------------------------------------------------------------
# In-process transport
# --------------------------------------------------------------------------------------------


def _read_file_content(content: bytes | IO[bytes]) -> bytes:
    if isinstance(content, bytes | bytearray | memoryview):
        return bytes(content)
    data = content.read()
    return data if isinstance(data, bytes) else str(data).encode("utf-8")


def _resolve_attachments(
    params: dict[str, Any], files: Mapping[str, UploadedFile]
) -> dict[str, Any]:
    """Merge uploaded files into params: ``attach://name`` values and plain file fields."""
    used: set[str] = set()
    for key, value in list(params.items()):
        if isinstance(value, str) and value.startswith("attach://"):
            name = value[len("attach://") :]
            if name in files:
                params[key] = files[name]
                used.add(name)
    for name, upload in files.items():
        if name not in used:
            params.setdefault(name, upload)
    return params


def decode_request_data(request_data: RequestData | None) -> dict[str, Any]:
    """Turn PTB's RequestData into the params Telegram would see (strings + uploaded files)."""
    if request_data is None:
        return {}
    params: dict[str, Any] = dict(request_data.json_parameters)
    files = {
        name: UploadedFile(
            filename=filename, content=_read_file_content(content), mimetype=mimetype
        )
        for name, (filename, content, mimetype) in request_data.multipart_data.items()
    }
    return _resolve_attachments(params, files)


class RecordingRequest(BaseRequest):
    """A PTB request backend that talks to a :class:`FakeTelegram` in-process."""

    def __init__(
        self,
        fake: FakeTelegram,
        *,
        read_timeout: float | None = 5.0,
        poll_interval: float = 0.01,
    ) -> None:
        self.fake = fake
        self._read_timeout = read_timeout
        self._poll_interval = poll_interval

    @property
    def read_timeout(self) -> float | None:
        return self._read_timeout

    async def initialize(self) -> None:
        return None

    async def shutdown(self) -> None:
        return None

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        write_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        connect_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        pool_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        path = urlsplit(url).path
        if "/file/bot" in path:  # file downloads are not supported
            return 404, b'{"ok":false,"error_code":404,"description":"Not Found"}'
        api_method = path.rstrip("/").rsplit("/", 1)[-1]
        params = decode_request_data(request_data)
        if api_method.lower() == "getupdates":
            timeout = _as_int(params.get("timeout"), 0)
            offset = _as_int(params.get("offset"), 0)
            if timeout > 0:
                loop = asyncio.get_running_loop()
                deadline = loop.time() + timeout
                self.fake._track_waiting_poll(+1)
                try:
                    while True:
                        if loop.time() >= deadline or self.fake.has_pending_updates(offset):
                            break
                        await asyncio.sleep(self._poll_interval)
                finally:
                    self.fake._track_waiting_poll(-1)
        status, body = self.fake.handle(api_method, params, block=False)
        return status, json.dumps(body).encode("utf-8")


# --------------------------------------------------------------------------------------------
# Real HTTP server
# --------------------------------------------------------------------------------------------

_HTML5_ESCAPE_RE = re.compile(r"%(22|[01][0-9A-Fa-f])")


def _parse_multipart(content_type: str, body: bytes) -> dict[str, Any]:
    header = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode("latin-1")
    message = BytesParser(policy=email_policy.HTTP).parsebytes(header + body)
    if not message.is_multipart():
        raise ValueError("malformed multipart/form-data body")
    params: dict[str, Any] = {}
    files: dict[str, UploadedFile] = {}
    for part in cast(EmailMessage, message).iter_parts():
        name = part.get_param("name", header="content-disposition")
        if not isinstance(name, str):
            continue
        payload = part.get_payload(decode=True)
        content = payload if isinstance(payload, bytes) else b""
        filename = part.get_filename()
        if filename is not None:
            filename = _HTML5_ESCAPE_RE.sub(lambda m: chr(int(m.group(1), 16)), filename)
            mimetype = part.get_content_type() if part.get("Content-Type") else None
            files[name] = UploadedFile(filename=filename, content=content, mimetype=mimetype)
        else:
            params[name] = content.decode("utf-8")
    return _resolve_attachments(params, files)


def decode_http_body(content_type: str, body: bytes) -> dict[str, Any]:
    """Decode a Bot API request body (JSON, urlencoded form or multipart form)."""
    media_type = content_type.split(";", 1)[0].strip().lower()
    if not body:
        return {}
    if media_type == "multipart/form-data":
        return _parse_multipart(content_type, body)
    if media_type == "application/x-www-form-urlencoded":
        return dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True))
    data = json.loads(body.decode("utf-8"))
    if not isinstance(data, dict):
        raise ValueError("the JSON body must be an object")
    return data


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], fake: FakeTelegram) -> None:
        self.fake = fake
        super().__init__(address, _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], ConnectionError | TimeoutError):
            return  # the client went away (e.g. a killed bot process mid long-poll)
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        return None

    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks: list[bytes] = []
            while True:
                size = int(self.rfile.readline().split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _dispatch(self) -> None:
        parts = urlsplit(self.path)
        body = self._read_body()
        match = re.fullmatch(r"/bot([^/]+)/([A-Za-z_]+)/?", parts.path)
        if match is None:
            self._send(404, {"ok": False, "error_code": 404, "description": "Not Found"})
            return
        params: dict[str, Any] = dict(parse_qsl(parts.query, keep_blank_values=True))
        try:
            params.update(decode_http_body(self.headers.get("Content-Type", ""), body))
        except (ValueError, UnicodeDecodeError) as error:
            self._send(
                400,
                {
                    "ok": False,
                    "error_code": 400,
                    "description": f"Bad Request: can't parse request body: {error}",
                },
            )
            return
        status, payload = self.server.fake.handle(match.group(2), params)
        self._send(status, payload)

    def _send(self, status: int, payload: dict[str, Any]) -> None:
        data = json.dumps(payload).encode("utf-8")
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except (ConnectionError, TimeoutError):
            self.close_connection = True


class BotApiServer:
    """A real HTTP Bot API server on 127.0.0.1 backed by a :class:`FakeTelegram`.

    Use as a (sync) context manager; point PTB at :attr:`base_url`.
    """

    def __init__(
        self, fake: FakeTelegram | None = None, *, host: str = "127.0.0.1", port: int = 0
    ) -> None:
        self.fake = fake if fake is not None else FakeTelegram()
        self._address = (host, port)
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> BotApiServer:
        if self._server is not None:
            return self
        self._server = _Server(self._address, self.fake)
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="fake-bot-api",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        server, thread = self._server, self._thread
        if server is None:
            return
        self._server, self._thread = None, None
        self.fake.interrupt_polls()
        server.shutdown()
        server.server_close()
        if thread is not None:
            thread.join(timeout=5)

    def __enter__(self) -> BotApiServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("BotApiServer is not running")
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT/bot`` - PTB appends the token."""
        return f"http://127.0.0.1:{self.port}/bot"

    @property
    def base_file_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/file/bot"

    def env(self) -> dict[str, str]:
        """Environment for running the bot in a subprocess against this server."""
        return {"TELEGRAM_API_BASE_URL": self.base_url}


def iter_buttons(rows: Iterable[Iterable[Button]]) -> list[Button]:
    """Flatten a keyboard."""
    return [button for row in rows for button in row]
