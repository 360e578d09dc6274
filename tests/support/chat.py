"""A driver that plays a Telegram user talking to the bot.

Updates are built as real Bot API JSON and either processed in-process by a PTB
``Application`` (``Update.de_json``) or queued on a :class:`FakeTelegram` for a bot that polls
:class:`~tests.support.botapi.server.BotApiServer` (e.g. running in a subprocess).
"""

from __future__ import annotations

import asyncio
import copy
import re
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from telegram import Update

from bot.chat.telegram_html import utf16_len
from tests.support.botapi.fake import FakeTelegram
from tests.support.botapi.model import Button, SentMessage

if TYPE_CHECKING:
    from telegram.ext import Application

__all__ = ["Chat", "Deliver", "TgUser", "next_update_id"]

Deliver = Callable[[dict[str, Any]], Awaitable[None]]

_update_id_lock = threading.Lock()
_last_update_id = 999  # update ids handed out by this process start at 1000
_callback_counter = 0
_file_counter = 0
_COMMAND_RE = re.compile(r"/[A-Za-z0-9_]{1,64}(?:@[A-Za-z0-9_]{3,32})?")


def next_update_id(floor: int = 0) -> int:
    """A process-wide monotonic update id, greater than ``floor``."""
    global _last_update_id
    with _update_id_lock:
        _last_update_id = max(_last_update_id + 1, floor + 1)
        return _last_update_id


def peek_next_update_id(floor: int = 0) -> int:
    """The id `next_update_id(floor)` will hand out next (for a test that must name an update
    before it is sent)."""
    with _update_id_lock:
        return max(_last_update_id + 1, floor + 1)


def _next_callback_query_id() -> str:
    global _callback_counter
    with _update_id_lock:
        _callback_counter += 1
        return f"{4_000_000_000_000_000_000 + _callback_counter}"


def _next_file_ids(prefix: str) -> tuple[str, str]:
    global _file_counter
    with _update_id_lock:
        _file_counter += 1
        return f"{prefix}userfile{_file_counter:06d}", f"AQADuser{_file_counter:06d}"


@dataclass
class TgUser:
    id: int
    first_name: str
    last_name: str | None = None
    username: str | None = None
    language_code: str | None = "en"

    def to_json(self) -> dict[str, Any]:
        """The ``User`` JSON object."""
        data: dict[str, Any] = {"id": self.id, "is_bot": False, "first_name": self.first_name}
        if self.last_name is not None:
            data["last_name"] = self.last_name
        if self.username is not None:
            data["username"] = self.username
        if self.language_code is not None:
            data["language_code"] = self.language_code
        return data

    def chat_json(self) -> dict[str, Any]:
        """The private ``Chat`` JSON object for a conversation with this user."""
        data: dict[str, Any] = {"id": self.id, "type": "private", "first_name": self.first_name}
        if self.last_name is not None:
            data["last_name"] = self.last_name
        if self.username is not None:
            data["username"] = self.username
        return data


def command_entities(text: str) -> list[dict[str, Any]]:
    """The bot_command entity Telegram attaches to a message starting with a command."""
    match = _COMMAND_RE.match(text)
    if match is None:
        return []
    return [{"type": "bot_command", "offset": 0, "length": utf16_len(match.group(0))}]


async def _drain_new_tasks(before: set[asyncio.Task[Any]], within: float) -> None:
    """Wait for tasks created since ``before`` was taken (handlers with ``block=False``, tasks
    they spawn, jobs due immediately) - whether or not the application is running."""
    current = asyncio.current_task()
    deadline = time.monotonic() + within
    while True:
        pending = [
            t for t in asyncio.all_tasks() if t not in before and t is not current and not t.done()
        ]
        if not pending:
            return
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise AssertionError(
                f"tasks started while handling the update still run after {within}s: "
                f"{[t.get_name() for t in pending]}"
            )
        await asyncio.wait(pending, timeout=remaining)


class Chat:
    """A private chat between ``user`` and the bot served by ``fake``."""

    def __init__(self, fake: FakeTelegram, user: TgUser, deliver: Deliver) -> None:
        self.fake = fake
        self.user = user
        self._deliver = deliver
        self.updates: list[dict[str, Any]] = []  # every update this chat delivered
        self.user_messages: dict[int, dict[str, Any]] = {}
        fake.register_chat(
            user.id, first_name=user.first_name, last_name=user.last_name, username=user.username
        )

    # ---------------------------------------------------------------- construction

    @classmethod
    def in_process(
        cls,
        fake: FakeTelegram,
        user: TgUser,
        application: Application[Any, Any, Any, Any, Any, Any],
        *,
        task_timeout: float = 30.0,
    ) -> Chat:
        """Deliver updates with ``application.process_update``. The application must be
        initialized; start() it too if handlers use ``block=False`` (else PTB warns). Each call
        returns once the update - including non-blocking handlers - has been processed."""

        async def deliver(data: dict[str, Any]) -> None:
            before = asyncio.all_tasks()
            update = Update.de_json(copy.deepcopy(data), application.bot)
            await application.process_update(update)
            await _drain_new_tasks(before, task_timeout)

        return cls(fake, user, deliver)

    @classmethod
    def via_server(cls, fake: FakeTelegram, user: TgUser) -> Chat:
        """Queue updates for getUpdates (the bot polls a BotApiServer). Calls return as soon
        as the update is queued; use :meth:`wait_for_messages` to await the bot's reaction."""

        async def deliver(data: dict[str, Any]) -> None:
            fake.enqueue_update(data)

        return cls(fake, user, deliver)

    @property
    def chat_id(self) -> int:
        return self.user.id

    # ---------------------------------------------------------------- building blocks

    def _base_message(self) -> dict[str, Any]:
        return {
            "message_id": self.fake.next_message_id(),
            "from": self.user.to_json(),
            "chat": self.user.chat_json(),
            "date": int(time.time()),
        }

    async def deliver_update(self, update: dict[str, Any]) -> dict[str, Any]:
        """Deliver a raw update dict (``update_id`` is assigned if missing)."""
        data = dict(update)
        if "update_id" not in data:
            data["update_id"] = next_update_id(self.fake.last_update_id)
        for key in ("message", "edited_message"):
            message = data.get(key)
            if isinstance(message, dict) and "message_id" in message and "chat" in message:
                self.fake.record_user_message(message)
        self.updates.append(data)
        await self._deliver(data)
        return data

    async def _send_message(self, message: dict[str, Any]) -> dict[str, Any]:
        self.user_messages[message["message_id"]] = message
        await self.deliver_update({"message": message})
        return message

    # ---------------------------------------------------------------- user actions

    async def send(self, text: str) -> dict[str, Any]:
        """Send a text message; a leading /command gets its bot_command entity."""
        message = self._base_message()
        message["text"] = text
        entities = command_entities(text)
        if entities:
            message["entities"] = entities
        return await self._send_message(message)

    async def command(self, name: str, args: str | None = None) -> dict[str, Any]:
        """Send ``/name`` (or ``/name args``); ``name`` may include ``@botname``."""
        text = "/" + name.lstrip("/")
        if args:
            text += " " + args
        return await self.send(text)

    def _last_with_keyboard(self) -> SentMessage | None:
        for message in reversed(self.fake.messages(self.chat_id, include_deleted=False)):
            if message.has_inline_keyboard:
                return message
        return None

    def _describe_messages(self) -> str:
        lines = []
        for m in self.fake.messages(self.chat_id, include_deleted=False)[-5:]:
            lines.append(f"#{m.message_id} {m.text[:60]!r} buttons={m.button_texts}")
        return "\n  ".join(lines) or "(none)"

    def find_button(
        self, label_substring: str, message: SentMessage | None = None
    ) -> tuple[SentMessage, Button]:
        """Locate a button like :meth:`press` does (raises AssertionError)."""
        target = message if message is not None else self._last_with_keyboard()
        if target is None:
            raise AssertionError(
                f"no bot message with an inline keyboard in chat {self.chat_id}; "
                f"recent bot messages:\n  {self._describe_messages()}"
            )
        if target.deleted:
            raise AssertionError(f"message #{target.message_id} was deleted; cannot press")
        buttons = [button for row in target.buttons for button in row]
        needle = label_substring.casefold()
        matches = [b for b in buttons if needle in b.text.casefold()]
        if len(matches) > 1:
            exact = [b for b in matches if b.text.casefold().strip() == needle.strip()]
            if len(exact) == 1:
                matches = exact
            else:
                raise AssertionError(
                    f"button label {label_substring!r} is ambiguous in message "
                    f"#{target.message_id}: matches {[b.text for b in matches]}; "
                    f"available buttons: {[b.text for b in buttons]}"
                )
        if not matches:
            raise AssertionError(
                f"no button containing {label_substring!r} in message #{target.message_id} "
                f"({target.text[:80]!r}); available buttons: {[b.text for b in buttons]}"
            )
        button = matches[0]
        if button.callback_data is None:
            raise AssertionError(
                f"button {button.text!r} has no callback_data (url={button.url!r}); "
                "it cannot be pressed"
            )
        return target, button

    async def press(self, label_substring: str, message: SentMessage | None = None) -> str:
        """Press the inline button whose text contains ``label_substring`` (case-insensitive)
        in ``message`` or the latest bot message with an inline keyboard. Returns the callback
        query id (see ``fake.callback_answer(id)``)."""
        target, button = self.find_button(label_substring, message)
        assert button.callback_data is not None
        return await self.press_data(button.callback_data, target)

    async def press_data(self, callback_data: str, message: SentMessage | None = None) -> str:
        """Send a callback query with arbitrary (possibly forged) data for ``message`` (default:
        the latest bot message with an inline keyboard, else the latest bot message)."""
        target = message if message is not None else self._last_with_keyboard()
        if target is None:
            target = self.fake.last_message(self.chat_id)
        query_id = _next_callback_query_id()
        self.fake.register_callback_query(
            query_id, chat_id=self.chat_id, message_id=target.message_id, data=callback_data
        )
        await self.deliver_update(
            {
                "callback_query": {
                    "id": query_id,
                    "from": self.user.to_json(),
                    "message": target.to_json(),
                    "chat_instance": str(-(abs(self.chat_id) * 7_919 + 1_234_567)),
                    "data": callback_data,
                }
            }
        )
        return query_id

    async def share_contact(
        self,
        phone: str,
        user_id: int | None = None,
        *,
        first_name: str | None = None,
        last_name: str | None = None,
    ) -> dict[str, Any]:
        """Share a contact (own contact by default, as a request_contact button does)."""
        message = self._base_message()
        own = user_id is None or user_id == self.user.id
        contact: dict[str, Any] = {
            "phone_number": phone,
            "first_name": first_name or (self.user.first_name if own else "Contact"),
            "user_id": self.user.id if user_id is None else user_id,
        }
        surname = last_name if last_name is not None else (self.user.last_name if own else None)
        if surname:
            contact["last_name"] = surname
        message["contact"] = contact
        return await self._send_message(message)

    async def send_sticker(self, emoji: str = "👍") -> dict[str, Any]:
        message = self._base_message()
        file_id, unique_id = _next_file_ids("CAACAgIAAxkB")
        message["sticker"] = {
            "file_id": file_id,
            "file_unique_id": unique_id,
            "type": "regular",
            "width": 512,
            "height": 512,
            "is_animated": False,
            "is_video": False,
            "emoji": emoji,
            "file_size": 12_345,
        }
        return await self._send_message(message)

    async def send_photo(self, caption: str | None = None) -> dict[str, Any]:
        message = self._base_message()
        file_id, unique_id = _next_file_ids("AgACAgIAAxkB")
        message["photo"] = [
            {
                "file_id": f"{file_id}{size}",
                "file_unique_id": f"{unique_id}{size}",
                "width": size,
                "height": size * 3 // 4,
                "file_size": size * 100,
            }
            for size in (90, 320, 800)
        ]
        if caption:
            message["caption"] = caption
        return await self._send_message(message)

    async def send_voice(self, duration: int = 3) -> dict[str, Any]:
        message = self._base_message()
        file_id, unique_id = _next_file_ids("AwACAgIAAxkB")
        message["voice"] = {
            "file_id": file_id,
            "file_unique_id": unique_id,
            "duration": duration,
            "mime_type": "audio/ogg",
            "file_size": duration * 4_000,
        }
        return await self._send_message(message)

    async def send_document(
        self,
        filename: str,
        content: bytes,
        *,
        mime_type: str = "application/octet-stream",
        caption: str | None = None,
    ) -> dict[str, Any]:
        message = self._base_message()
        file_id, unique_id = _next_file_ids("BQACAgIAAxkB")
        message["document"] = {
            "file_id": file_id,
            "file_unique_id": unique_id,
            "file_name": filename,
            "mime_type": mime_type,
            "file_size": len(content),
        }
        if caption:
            message["caption"] = caption
        return await self._send_message(message)

    async def forward(self, text: str, sender_name: str = "Someone Else") -> dict[str, Any]:
        """A text message forwarded from a user who hides their account."""
        message = self._base_message()
        message["text"] = text
        message["forward_origin"] = {
            "type": "hidden_user",
            "sender_user_name": sender_name,
            "date": int(time.time()) - 3_600,
        }
        return await self._send_message(message)

    async def edit(self, message_id: int, new_text: str) -> dict[str, Any]:
        """The user edits one of their earlier text messages (an ``edited_message`` update)."""
        original = self.user_messages.get(message_id)
        if original is None:
            raise AssertionError(f"#{message_id} is not a message this user sent")
        edited = copy.deepcopy(original)
        edited["text"] = new_text
        edited.pop("entities", None)
        entities = command_entities(new_text)
        if entities:
            edited["entities"] = entities
        edited["edit_date"] = int(time.time())
        self.user_messages[message_id] = edited
        await self.deliver_update({"edited_message": edited})
        return edited

    # ---------------------------------------------------------------- views

    def messages(self) -> list[SentMessage]:
        """Undeleted bot messages in this chat, in order."""
        return self.fake.messages(self.chat_id, include_deleted=False)

    def last(self) -> SentMessage:
        """The latest undeleted bot message in this chat."""
        return self.fake.last_message(self.chat_id)

    def texts(self) -> list[str]:
        """Visible texts of the undeleted bot messages in this chat."""
        return [m.text for m in self.messages()]

    def documents(self) -> list[tuple[str, bytes]]:
        return self.fake.documents(self.chat_id)

    def mark(self) -> int:
        return self.fake.mark()

    def new_messages(self, mark: int) -> list[SentMessage]:
        """Undeleted bot messages sent or edited after ``mark``, in chat order."""
        return self.fake.messages_since(self.chat_id, mark)

    def since(self, mark: int) -> list[SentMessage]:
        return self.new_messages(mark)

    async def wait_for_messages(
        self, mark: int, count: int = 1, within: float = 10.0
    ) -> list[SentMessage]:
        """Wait until at least ``count`` messages were sent/edited after ``mark``."""
        try:
            await self.fake.wait_for(lambda: len(self.new_messages(mark)) >= count, within=within)
        except AssertionError as error:
            so_far = [m.text[:60] for m in self.new_messages(mark)]
            raise AssertionError(
                f"expected {count} new bot message(s) in chat {self.chat_id}, got {so_far}; "
                f"violations: {self.fake.violations}; {error}"
            ) from None
        return self.new_messages(mark)
