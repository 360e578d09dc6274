"""`FakeTelegram`: one bot's Bot API server in memory. It dispatches each call to its method,
answers a broken rule as Telegram does and records it in `violations`."""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Mapping
from http import HTTPStatus
from typing import Any

from tests.support.botapi.flood import Floods
from tests.support.botapi.messages import MessageMethods
from tests.support.botapi.model import ApiCall, CallbackAnswer
from tests.support.botapi.rules import (
    CHAT_ACTIONS,
    ERR_QUERY_INVALID,
    MAX_CALLBACK_ANSWER_LENGTH,
    MAX_COMMANDS,
    ApiError,
    normalise_params,
    summarise,
)
from tests.support.botapi.updates import UpdateMethods

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


class FakeTelegram(MessageMethods, UpdateMethods):
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
        super().__init__(
            bot_id=bot_id,
            first_name=first_name,
            username=username,
            require_known_chats=require_known_chats,
        )
        self.floods = Floods()  # Telegram's 429s, scripted or measured (flood.py)
        # Calls the bot had to wait for one after another: a call made while another is still
        # in flight (an answer to a button press and an edit sent together) shares its trip.
        self.round_trips = 0
        self._in_flight = 0
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

    def in_flight(self, delta: int) -> None:
        """A call begins (+1) or ends (-1); one that begins with none in flight is a trip."""
        with self._lock:
            if delta > 0 and self._in_flight == 0:
                self.round_trips += 1
            self._in_flight += delta

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
                call.params = normalise_params(params)
                flooded = self.floods.check(canonical, call.params)
                if flooded is not None:
                    call.status, call.response = 429, flooded
                    return 429, copy.deepcopy(flooded)
                handler = self._handlers.get(key)
                if handler is None:
                    raise ApiError(
                        "Not Found",
                        code=404,
                        detail=f"method {method!r} is not implemented by FakeTelegram",
                    )
                result = handler(call.params, block)
            except ApiError as error:
                status = error.code
                body: dict[str, Any] = {
                    "ok": False,
                    "error_code": error.code,
                    "description": error.description,
                }
                if error.violation:
                    line = f"{summarise(canonical, call.params)}: {error.description}"
                    if error.detail:
                        line += f" [{error.detail}]"
                    self.violations.append(line)
            else:
                status = HTTPStatus.OK
                body = {"ok": True, "result": copy.deepcopy(result)}
            call.status = int(status)
            call.response = body
            return int(status), copy.deepcopy(body)

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

    def _answer_callback_query(self, params: dict[str, Any]) -> bool:
        query_id = str(params.get("callback_query_id", ""))
        if self._callback_queries.get(query_id, True):
            detail = (
                "already answered" if query_id in self._callback_queries else "unknown query id"
            )
            raise ApiError(ERR_QUERY_INVALID, detail=f"{detail}: {query_id!r}")
        text = params.get("text")
        if isinstance(text, str) and len(text) > MAX_CALLBACK_ANSWER_LENGTH:
            raise ApiError(
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

    def _set_my_commands(self, params: dict[str, Any]) -> bool:
        commands = params.get("commands")
        if not isinstance(commands, list):
            raise ApiError("Bad Request: can't parse commands JSON object")
        if len(commands) > MAX_COMMANDS:
            raise ApiError("Bad Request: BOT_COMMANDS_TOO_MUCH")
        stored: list[dict[str, str]] = []
        for command in commands:
            name = command.get("command") if isinstance(command, dict) else None
            description = command.get("description") if isinstance(command, dict) else None
            if not isinstance(name, str) or not re.fullmatch(r"[a-z0-9_]{1,32}", name):
                raise ApiError("Bad Request: BOT_COMMAND_INVALID", detail=f"command {name!r}")
            if not isinstance(description, str) or not 1 <= len(description.strip()) <= 256:
                raise ApiError(
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

    def _send_chat_action(self, params: dict[str, Any]) -> bool:
        self._resolve_chat(params)
        if params.get("action") not in CHAT_ACTIONS:
            raise ApiError(
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
