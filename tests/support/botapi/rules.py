"""Telegram's rules, as the fake enforces them: limits, the exact error descriptions, parameter
decoding, and the checks on text (`render`) and keyboards (`parse_markup`). A broken rule raises
`ApiError`, which the fake answers as Telegram does (HTTP 400 + description) and records as a
violation."""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from bot.chat.telegram_html import HtmlParseError, parse_html_entities, trim, utf16_len
from tests.support.botapi.model import Button

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

INLINE_BUTTON_ACTIONS = (
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


class ApiError(Exception):
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


def normalise_params(params: Mapping[str, Any]) -> dict[str, Any]:
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
                    raise ApiError(
                        "Bad Request: can't parse reply keyboard markup JSON object"
                    ) from None
                raise ApiError(f"Bad Request: can't parse {key} JSON object") from None
        result[key] = value
    return result


def as_int(value: Any, default: int) -> int:
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


def valid_button_url(url: str) -> bool:
    parts = urlsplit(url)
    if parts.scheme in ("http", "https"):
        host = parts.hostname or ""
        return "." in host or host == "localhost"
    return parts.scheme == "tg" and bool(parts.netloc or parts.path)


def keyboard_signature(buttons: list[list[Button]]) -> tuple[tuple[Button, ...], ...]:
    return tuple(tuple(row) for row in buttons if row)


def summarise(method: str, params: Mapping[str, Any]) -> str:
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
# Text and keyboards
# --------------------------------------------------------------------------------------------


def render(
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
            raise ApiError(ERR_PARSE_ENTITIES + str(error)) from None
    elif mode in ("markdown", "markdownv2"):
        visible, parsed = text, []  # not validated by the fake
    elif mode is None:
        visible = text
        parsed = [dict(e) for e in entities] if isinstance(entities, list) else []
    else:
        raise ApiError("Bad Request: unsupported parse_mode")
    visible, parsed = trim(visible, parsed)
    if not caption and not visible:
        raise ApiError(ERR_TEXT_EMPTY)
    if utf16_len(visible) > limit:  # Telegram counts UTF-16 code units, as for entities
        raise ApiError(
            ERR_CAPTION_TOO_LONG if caption else ERR_TOO_LONG,
            detail=f"{utf16_len(visible)} visible UTF-16 units, limit {limit}",
        )
    return visible, parsed


def parse_markup(
    markup: Any,
) -> tuple[dict[str, Any] | None, list[list[Button]], list[list[dict[str, Any]]]]:
    """Validate reply_markup; return (markup, inline buttons, reply keyboard)."""
    if markup is None:
        return None, [], []
    if not isinstance(markup, dict):
        raise ApiError("Bad Request: can't parse reply keyboard markup JSON object")
    if "inline_keyboard" in markup:
        rows = markup["inline_keyboard"]
        if not isinstance(rows, list) or not all(isinstance(r, list) for r in rows):
            raise ApiError(
                "Bad Request: can't parse inline keyboard button: "
                'Field "inline_keyboard" must be of type Array'
            )
        if sum(len(row) for row in rows) > MAX_INLINE_BUTTONS:
            raise ApiError(
                "Bad Request: reply markup is too long",
                detail=f"more than {MAX_INLINE_BUTTONS} buttons",
            )
        buttons: list[list[Button]] = []
        for row in rows:
            parsed_row: list[Button] = []
            for raw in row:
                if not isinstance(raw, dict):
                    raise ApiError(
                        "Bad Request: can't parse inline keyboard button: "
                        "InlineKeyboardButton must be an Object"
                    )
                text = raw.get("text")
                if not isinstance(text, str):
                    raise ApiError(
                        "Bad Request: can't parse inline keyboard button: Can't find field \"text\""
                    )
                if not text.strip():
                    raise ApiError(
                        "Bad Request: BUTTON_TEXT_INVALID", detail="button text is empty"
                    )
                actions = [a for a in INLINE_BUTTON_ACTIONS if raw.get(a) is not None]
                if not actions:
                    raise ApiError(
                        "Bad Request: can't parse inline keyboard button: "
                        "Text buttons are unallowed in the inline keyboard",
                        detail=f"button {text!r}",
                    )
                data = raw.get("callback_data")
                if data is not None:
                    size = len(data.encode("utf-8")) if isinstance(data, str) else -1
                    if not 1 <= size <= MAX_CALLBACK_DATA_BYTES:
                        raise ApiError(
                            ERR_BUTTON_DATA,
                            detail=f"button {text!r}: callback_data {data!r} is {size} bytes"
                            f" (allowed 1..{MAX_CALLBACK_DATA_BYTES})",
                        )
                url = raw.get("url")
                if url is not None and (not isinstance(url, str) or not valid_button_url(url)):
                    raise ApiError(
                        f"Bad Request: inline keyboard button URL '{url}' is invalid: "
                        "Wrong HTTP URL"
                    )
                parsed_row.append(Button(text=text, callback_data=data, url=url))
            buttons.append(parsed_row)
        return markup, buttons, []
    if "keyboard" in markup:
        rows = markup["keyboard"]
        if not isinstance(rows, list) or not all(isinstance(r, list) for r in rows):
            raise ApiError(
                'Bad Request: can\'t parse keyboard button: Field "keyboard" must be of type Array'
            )
        keyboard: list[list[dict[str, Any]]] = []
        for row in rows:
            keyboard_row: list[dict[str, Any]] = []
            for raw in row:
                button = {"text": raw} if isinstance(raw, str) else raw
                if not isinstance(button, dict) or not isinstance(button.get("text"), str):
                    raise ApiError(
                        "Bad Request: can't parse keyboard button: Can't find field \"text\""
                    )
                if not button["text"].strip():
                    raise ApiError("Bad Request: keyboard button text must be non-empty")
                keyboard_row.append(dict(button))
            keyboard.append(keyboard_row)
        return markup, [], keyboard
    if markup.get("remove_keyboard") is True or markup.get("force_reply") is True:
        return markup, [], []
    raise ApiError(
        "Bad Request: can't parse reply keyboard markup JSON object",
        detail=f"unrecognised reply_markup {markup!r}",
    )
