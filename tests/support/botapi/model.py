"""What the fake records: the bot's calls, the messages it sent (kept up to date by edits and
deletion), their buttons, uploaded files and callback answers."""

from __future__ import annotations

import copy
from collections.abc import Iterable
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any


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


def iter_buttons(rows: Iterable[Iterable[Button]]) -> list[Button]:
    """Flatten a keyboard."""
    return [button for row in rows for button in row]
