"""`BotApiServer`: a real HTTP Bot API server on 127.0.0.1 in front of a `FakeTelegram`, for a
bot running in another process."""

from __future__ import annotations

import json
import re
import sys
import threading
import time
from email import policy as email_policy
from email.message import EmailMessage
from email.parser import BytesParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, cast
from urllib.parse import parse_qsl, urlsplit

from tests.support.botapi.fake import FakeTelegram
from tests.support.botapi.model import UploadedFile
from tests.support.botapi.request import resolve_attachments

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
    return resolve_attachments(params, files)


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

    def __init__(self, address: tuple[str, int], fake: FakeTelegram, latency: float) -> None:
        self.fake = fake
        self.latency = latency
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
        if self.server.latency > 0:
            time.sleep(self.server.latency)  # in this request's own thread: calls overlap
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

    Use as a (sync) context manager; point PTB at :attr:`base_url`. ``latency``: seconds every
    call waits before it is served, as the network and Telegram's servers make a real call
    wait (the benchmarks use 50 ms); each connection has its own thread, so calls wait side by
    side and the fake's state stays behind its lock.
    """

    def __init__(
        self,
        fake: FakeTelegram | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        latency: float = 0.0,
    ) -> None:
        self.fake = fake if fake is not None else FakeTelegram()
        self.latency = latency
        self._address = (host, port)
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> BotApiServer:
        if self._server is not None:
            return self
        self._server = _Server(self._address, self.fake, self.latency)
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
