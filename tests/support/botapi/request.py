"""`RecordingRequest`: PTB's request backend, talking to a `FakeTelegram` in the same process
instead of over HTTP."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from typing import IO, Any
from urllib.parse import urlsplit

from telegram._utils.types import ODVInput
from telegram.request import BaseRequest, RequestData

from tests.support.botapi.fake import FakeTelegram
from tests.support.botapi.model import UploadedFile
from tests.support.botapi.rules import as_int

NETWORK_TURNS = 10  # event-loop turns a call takes (a local model of latency)


def _read_file_content(content: bytes | IO[bytes]) -> bytes:
    if isinstance(content, bytes | bytearray | memoryview):
        return bytes(content)
    data = content.read()
    return data if isinstance(data, bytes) else str(data).encode("utf-8")


def resolve_attachments(
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
    return resolve_attachments(params, files)


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
            timeout = as_int(params.get("timeout"), 0)
            offset = as_int(params.get("offset"), 0)
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
        # Like any call over a network, this one lets the event loop run a few turns before its
        # answer comes (no wall time: nothing waits on a clock), so calls the bot makes together
        # overlap, even one that first waits for the pacing dispatcher, and the fake counts them
        # as one round trip.
        self.fake.in_flight(+1)
        try:
            for _ in range(NETWORK_TURNS):
                await asyncio.sleep(0)
            status, body = self.fake.handle(api_method, params, block=False)
        finally:
            self.fake.in_flight(-1)
        return status, json.dumps(body).encode("utf-8")
