"""File downloads for the fake Bot API: `getFile` and the file URL a bot downloads from.

`FakeTelegram` records what a bot sends but keeps no files a user sent, and `RecordingRequest`
answers every download with 404. These subclasses add the two missing pieces, as Telegram does
them: `getFile` answers a `File` with a `file_path`, and the bot then GETs
`<base_file_url><token>/<file_path>` (PTB's default base is `https://api.telegram.org/file/bot`).
`send_file` makes a user send a document whose bytes the fake then serves.
"""

from __future__ import annotations

import itertools
from typing import Any
from urllib.parse import unquote, urlsplit

from telegram._utils.types import ODVInput
from telegram.request import BaseRequest, RequestData

from tests.support import chat as chat_module
from tests.support.botapi.fake import FakeTelegram
from tests.support.botapi.request import RecordingRequest
from tests.support.botapi.rules import ApiError
from tests.support.chat import Chat

__all__ = ["FilesRequest", "FilesTelegram", "send_file"]


class FilesTelegram(FakeTelegram):
    """A `FakeTelegram` that keeps the files users send and serves them to the bot."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._user_files: dict[str, tuple[str, bytes]] = {}  # file_id -> (unique id, bytes)
        self._paths: dict[str, bytes] = {}  # file_path -> bytes
        self._path_numbers = itertools.count(1)
        self._handlers["getfile"] = lambda params, block: self._get_file(params)
        self.downloads: list[str] = []  # the file paths the bot downloaded

    def put_user_file(self, file_id: str, unique_id: str, content: bytes) -> None:
        with self._lock:
            self._user_files[file_id] = (unique_id, content)

    def _get_file(self, params: dict[str, Any]) -> dict[str, Any]:
        file_id = params.get("file_id")
        if not isinstance(file_id, str) or file_id not in self._user_files:
            raise ApiError("Bad Request: invalid file_id")
        unique_id, content = self._user_files[file_id]
        path = f"documents/file_{next(self._path_numbers)}.csv"
        self._paths[path] = content
        return {
            "file_id": file_id,
            "file_unique_id": unique_id,
            "file_size": len(content),
            "file_path": path,
        }

    def download(self, file_path: str) -> bytes | None:
        with self._lock:
            content = self._paths.get(file_path)
            if content is not None:
                self.downloads.append(file_path)
            return content


class FilesRequest(RecordingRequest):
    """`RecordingRequest` that also serves file downloads from a `FilesTelegram`."""

    def __init__(self, fake: FilesTelegram, **kwargs: Any) -> None:
        super().__init__(fake, **kwargs)
        self.files = fake

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
        if "/file/bot" in path:
            # /file/bot<token>/<file_path>
            file_path = unquote(path.split("/file/bot", 1)[1].partition("/")[2])
            content = self.files.download(file_path)
            if content is None:
                return 404, b'{"ok":false,"error_code":404,"description":"Not Found"}'
            return 200, content
        return await super().do_request(
            url,
            method,
            request_data,
            read_timeout=read_timeout,
            write_timeout=write_timeout,
            connect_timeout=connect_timeout,
            pool_timeout=pool_timeout,
        )


async def send_file(
    chat: Chat,
    fake: FilesTelegram,
    filename: str,
    content: bytes,
    *,
    mime_type: str = "text/csv",
) -> dict[str, Any]:
    """The user sends `content` as a document the bot can download (like `Chat.send_document`,
    but the fake keeps the bytes before the update is delivered)."""
    message = chat._base_message()
    file_id, unique_id = chat_module._next_file_ids("BQACAgIAAxkB")
    fake.put_user_file(file_id, unique_id, content)
    message["document"] = {
        "file_id": file_id,
        "file_unique_id": unique_id,
        "file_name": filename,
        "mime_type": mime_type,
        "file_size": len(content),
    }
    return await chat._send_message(message)
