"""sendMessage, sendDocument, the three edits and deleteMessage, with Telegram's rules: what a
message looks like once sent (its Message JSON), what a reply may point to, which message an
edit may touch, and "message is not modified"."""

from __future__ import annotations

import copy
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from tests.support.botapi.model import Button, SentMessage, UploadedFile
from tests.support.botapi.rules import (
    ERR_DELETE_NOT_FOUND,
    ERR_EDIT_NOT_FOUND,
    ERR_NOT_MODIFIED,
    ERR_TEXT_EMPTY,
    ApiError,
    as_int,
    keyboard_signature,
    parse_markup,
    render,
)
from tests.support.botapi.state import FakeState


class MessageMethods(FakeState):
    """The Bot API methods that send, edit and delete messages."""

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
        key = (chat_id, as_int(target, -1))
        if key in self._user_messages:
            return copy.deepcopy(self._user_messages[key])
        bot_message = self._by_key.get(key)
        if bot_message is not None and not bot_message.deleted:
            return bot_message.to_json()
        if allow_missing:
            return None
        raise ApiError("Bad Request: message to be replied not found")

    # ---------------------------------------------------------------- storage

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
            raise ApiError(
                "Bad Request: MESSAGE_ID_INVALID",
                detail="inline messages are not supported by the fake",
            )
        chat_id = self._resolve_chat(params)
        message_id = params.get("message_id")
        if message_id is None:
            raise ApiError("Bad Request: message identifier is not specified")
        key = (chat_id, as_int(message_id, -1))
        message = self._by_key.get(key)
        if message is None or message.deleted:
            if key in self._user_messages:
                raise ApiError(
                    "Bad Request: message can't be edited", detail="it is the user's message"
                )
            raise ApiError(ERR_EDIT_NOT_FOUND)
        return message

    # ---------------------------------------------------------------- methods

    def _send_message(self, params: dict[str, Any]) -> dict[str, Any]:
        chat_id = self._resolve_chat(params)
        text = params.get("text")
        if not isinstance(text, str) or text == "":
            raise ApiError(ERR_TEXT_EMPTY)
        parse_mode = params.get("parse_mode")
        visible, entities = render(text, parse_mode, params.get("entities"), caption=False)
        markup, buttons, keyboard = parse_markup(params.get("reply_markup"))
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
            raise ApiError("Bad Request: there is no text in the message to edit")
        text = params.get("text")
        if not isinstance(text, str) or text == "":
            raise ApiError(ERR_TEXT_EMPTY)
        parse_mode = params.get("parse_mode")
        visible, entities = render(text, parse_mode, params.get("entities"), caption=False)
        markup, buttons, _ = parse_markup(params.get("reply_markup"))
        if markup is not None and "inline_keyboard" not in markup:
            raise ApiError(
                "Bad Request: inline keyboard expected",
                detail="only an InlineKeyboardMarkup can be set by an edit",
            )
        if (
            visible == message.text
            and entities == message.entities
            and keyboard_signature(buttons) == keyboard_signature(message.buttons)
        ):
            raise ApiError(ERR_NOT_MODIFIED)
        message.html = text
        message.text = visible
        message.entities = entities
        message.parse_mode = parse_mode if isinstance(parse_mode, str) else None
        message.reply_markup, message.buttons = markup, buttons
        return self._after_edit(message, document_message=False)

    def _edit_message_caption(self, params: dict[str, Any]) -> dict[str, Any]:
        message = self._message_for_edit(params)
        if message.document_name is None:
            raise ApiError("Bad Request: there is no caption in the message to edit")
        caption = params.get("caption")
        caption = caption if isinstance(caption, str) else ""
        parse_mode = params.get("parse_mode")
        visible, entities = (
            render(caption, parse_mode, params.get("caption_entities"), caption=True)
            if caption
            else ("", [])
        )
        markup, buttons, _ = parse_markup(params.get("reply_markup"))
        if markup is not None and "inline_keyboard" not in markup:
            raise ApiError("Bad Request: inline keyboard expected")
        if (
            visible == message.text
            and entities == message.entities
            and keyboard_signature(buttons) == keyboard_signature(message.buttons)
        ):
            raise ApiError(ERR_NOT_MODIFIED)
        message.html = caption
        message.text = visible
        message.entities = entities
        message.parse_mode = parse_mode if isinstance(parse_mode, str) else None
        message.reply_markup, message.buttons = markup, buttons
        return self._after_edit(message, document_message=True)

    def _edit_message_reply_markup(self, params: dict[str, Any]) -> dict[str, Any]:
        message = self._message_for_edit(params)
        markup, buttons, _ = parse_markup(params.get("reply_markup"))
        if markup is not None and "inline_keyboard" not in markup:
            raise ApiError("Bad Request: inline keyboard expected")
        if keyboard_signature(buttons) == keyboard_signature(message.buttons):
            raise ApiError(ERR_NOT_MODIFIED)
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
            raise ApiError("Bad Request: message identifier is not specified")
        key = (chat_id, as_int(message_id, -1))
        if key in self._user_messages:
            del self._user_messages[key]
            self._bump()
            return True
        message = self._by_key.get(key)
        if message is None or message.deleted:
            raise ApiError(ERR_DELETE_NOT_FOUND)
        message.deleted = True
        message.seq = self._bump()
        return True

    def _new_file_ids(self) -> tuple[str, str]:
        self._file_counter += 1
        return f"BQACAgQAAxkDfake{self._file_counter:06d}", f"AgADfake{self._file_counter:06d}"

    def _send_document(self, params: dict[str, Any]) -> dict[str, Any]:
        chat_id = self._resolve_chat(params)
        document = params.get("document")
        if isinstance(document, UploadedFile):
            if not document.content:
                raise ApiError("Bad Request: file must be non-empty")
            upload = document
        elif isinstance(document, str) and document in self._files:
            upload = self._files[document]
        elif isinstance(document, str) and document.startswith(("http://", "https://")):
            name = urlsplit(document).path.rsplit("/", 1)[-1] or "file"
            upload = UploadedFile(filename=name, content=b"", mimetype=None)
        elif isinstance(document, str) and document:
            raise ApiError("Bad Request: wrong file identifier/HTTP URL specified")
        else:
            raise ApiError("Bad Request: there is no document in the request")
        caption = params.get("caption")
        caption = caption if isinstance(caption, str) else ""
        parse_mode = params.get("parse_mode")
        visible, entities = (
            render(caption, parse_mode, params.get("caption_entities"), caption=True)
            if caption
            else ("", [])
        )
        markup, buttons, keyboard = parse_markup(params.get("reply_markup"))
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
