"""The fake's state: the chats and users it knows, the messages sent both ways, the calls and the
broken rules it recorded, and what a test reads back from it. The Bot API methods that change it
live in messages.py, updates.py and fake.py."""

from __future__ import annotations

import asyncio
import copy
import json
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from tests.support.botapi.model import ApiCall, CallbackAnswer, SentMessage, UploadedFile
from tests.support.botapi.rules import ERR_BLOCKED, ERR_CHAT_NOT_FOUND, ApiError


class FakeState:
    """In-memory state of a Bot API server for one bot, and what a test reads back from it.
    Thread-safe: every access holds `_lock` (the HTTP server serves calls from threads)."""

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
            raise ApiError("Bad Request: chat_id is empty")
        if not isinstance(chat_id, int) or isinstance(chat_id, bool):
            raise ApiError(
                ERR_CHAT_NOT_FOUND,
                detail=f"the fake only knows private chats, got chat_id={chat_id!r}",
            )
        if chat_id in self._blocked:
            raise ApiError(ERR_BLOCKED, code=403, violation=False)
        if chat_id not in self._chats:
            if self.require_known_chats:
                raise ApiError(
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

    # ---------------------------------------------------------------- storage

    def _bump(self) -> int:
        self._seq += 1
        return self._seq

    # ---------------------------------------------------------------- commands

    @staticmethod
    def _scope_key(scope: Any) -> str:
        if not isinstance(scope, dict):
            scope = {"type": "default"}
        return json.dumps(scope, sort_keys=True)

    @staticmethod
    def _language(params: Mapping[str, Any]) -> str | None:
        language = params.get("language_code")
        return language if isinstance(language, str) and language else None

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
