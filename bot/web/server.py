"""One-click unsubscribe over HTTPS (RFC 8058), for the `List-Unsubscribe` header's https target.

Mail clients POST `List-Unsubscribe=One-Click` to `<PUBLIC_URL>/unsubscribe/<token>`; a person
who opens the link in a browser gets a page with one button that does the same. The token is the
signed `u_<supervisor>_<signature>` of the email footer, so the link works without Telegram; for
an invitation (a person with no account) it is the invitation's "no thanks" token
`n_<invitation>_<signature>`, which declines it as the link in the email does.
This is a deliberately tiny HTTP/1.1 server on asyncio streams (two routes, no framework): it
listens on `WEB_HOST:WEB_PORT` behind the deployment's TLS proxy, and only when `WEB_PORT` is set.

Every connection that sends anything gets an HTTP answer, never just a closed socket: a request
line or header that is not strict ASCII HTTP/1.x is a 400 (505 for another HTTP version), an
unknown path a 404, another method a 405 with `Allow`, an unreadable or huge length a 400/411/413,
an endless head a 431, a client that stops sending a 408, and a failure of ours a 500. The page
says what went wrong in bokmål and English (a browser tells us nothing about the person).
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import logging
import re
from typing import Final

from bot.core.context import Services
from bot.core.i18n import Translator
from bot.services import campaigns, unsubscribe

log = logging.getLogger(__name__)

MAX_REQUEST: Final = 16 * 1024
TIMEOUT: Final = 10.0  # seconds for a client to send its whole request
LINGER: Final = 2.0  # seconds to wait for the client to close after the answer
ALLOWED: Final = frozenset({"GET", "HEAD", "POST"})
_ALLOW: Final = "Allow: GET, HEAD, POST\r\n"
_TOKEN_CHARS: Final = re.compile(rb"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_REQUEST_LINE: Final = re.compile(rb"(" + _TOKEN_CHARS.pattern + rb") ([!-~]+) HTTP/([0-9])\.[0-9]")
_TARGET: Final = re.compile(
    r"(?:https?://[^/?#]*)?/unsubscribe/([A-Za-z0-9_-]{1,64})/?(?:\?[!-~]*)?", re.ASCII
)
_DIGITS: Final = re.compile(rb"[0-9]{1,9}")
PAGE: Final = (
    '<!DOCTYPE html><html lang="{lang}"><head><meta charset="utf-8">'
    '<meta name="viewport" content="width=device-width, initial-scale=1"><title>Veileder</title>'
    '</head><body style="font-family:sans-serif;max-width:560px;margin:2em auto;padding:0 1em">'
    "{body}</body></html>"
)


async def decline_by_token(svc: Services, token: str) -> bool:
    """One-click "no thanks" to an invitation: never invited or emailed again. Like an
    unsubscribe link, it works however old it is (an opt-out must always be honoured)."""
    link = campaigns.parse_invite(svc.secret, token, decline=True)
    if link is None:
        return False
    async with svc.db.session() as session:
        found = await campaigns.decline_invitation(session, link.id, svc.clock.now())
    return found is not None


def _valid(svc: Services, token: str) -> bool:
    if token.startswith(campaigns.DECLINE_PREFIX):
        return campaigns.parse_invite(svc.secret, token, decline=True) is not None
    return unsubscribe.parse(svc.secret, token) is not None


class Problem(Exception):
    """A request we answer with an error status (and a page saying why, in both languages)."""

    def __init__(self, status: str, message_id: str, headers: str = "") -> None:
        super().__init__(status)
        self.status = status
        self.message_id = message_id
        self.headers = headers


def _response(
    status: str, body: str, language: str = "en", *, headers: str = "", head_only: bool = False
) -> bytes:
    page = PAGE.format(lang=language, body=body).encode()
    head = (
        f"HTTP/1.1 {status}\r\nContent-Type: text/html; charset=utf-8\r\n"
        f"Content-Length: {len(page)}\r\nCache-Control: no-store\r\n{headers}"
        "Connection: close\r\n\r\n"
    )
    return head.encode() + (b"" if head_only else page)


def _both(message_id: str) -> str:
    """A message in bokmål and English: a browser tells us nothing about the person."""
    return "".join(f"<p>{html.escape(Translator(lang)(message_id))}</p>" for lang in ("nb", "en"))


def problem_response(problem: Problem, *, head_only: bool = False) -> bytes:
    return _response(
        problem.status,
        _both(problem.message_id),
        "nb",
        headers=problem.headers,
        head_only=head_only,
    )


def _token(target: str) -> str:
    """The token of `/unsubscribe/<token>` (a query string is ignored), else a 404."""
    match = _TARGET.fullmatch(target)
    if match is None:
        raise Problem("404 Not Found", "web.not_found")
    return match.group(1)


async def handle(svc: Services, method: str, path: str) -> bytes:
    """The response to one well-formed request."""
    head_only = method == "HEAD"
    try:
        if method not in ALLOWED:
            raise Problem("405 Method Not Allowed", "web.method_not_allowed", _ALLOW)
        token = _token(path)
        if method == "POST" and token.startswith(campaigns.DECLINE_PREFIX):
            if not await decline_by_token(svc, token):
                raise Problem("404 Not Found", "unsubscribe.invalid")
            return _response("200 OK", _both("web.declined"), "nb")
        if method == "POST":
            supervisor = await unsubscribe.by_token(svc, token, account=None)
            if supervisor is None:
                raise Problem("404 Not Found", "unsubscribe.invalid")
            tr = Translator(supervisor.language)
            return _response(
                "200 OK", f"<p>{html.escape(tr('web.unsubscribed'))}</p>", supervisor.language
            )
        if not _valid(svc, token):
            raise Problem("404 Not Found", "unsubscribe.invalid")
        button = '<form method="post"><button type="submit">{}</button></form>'
        body = "".join(
            f"<p>{html.escape(t('web.confirm'))}</p>" + button.format(html.escape(t("web.button")))
            for t in (Translator("nb"), Translator("en"))
        )
        return _response("200 OK", body, "nb", head_only=head_only)
    except Problem as problem:
        return problem_response(problem, head_only=head_only)


def parse_head(head: bytes) -> tuple[str, str, int]:
    """(method, target, body length) of a request head, or the Problem that makes it bad.

    Strict: an HTTP/1.x request line in ASCII, a Content-Length of digits (at most one value),
    no chunked bodies (mail clients send the one-click form with a length).
    """
    lines = head.removesuffix(b"\r\n\r\n").split(b"\r\n")
    match = _REQUEST_LINE.fullmatch(lines[0])
    if match is None:
        raise Problem("400 Bad Request", "web.bad_request")
    if match.group(3) != b"1":
        raise Problem("505 HTTP Version Not Supported", "web.bad_request")
    method, target = match.group(1).decode("ascii"), match.group(2).decode("ascii")
    lengths: set[bytes] = set()
    for line in lines[1:]:
        name, colon, value = line.partition(b":")
        if not colon or not _TOKEN_CHARS.fullmatch(name):
            raise Problem("400 Bad Request", "web.bad_request")
        if name.lower() == b"content-length":
            lengths.add(value.strip())
        elif name.lower() == b"transfer-encoding":
            raise Problem("411 Length Required", "web.bad_request")
    if len(lengths) > 1 or (lengths and not _DIGITS.fullmatch(next(iter(lengths)))):
        raise Problem("400 Bad Request", "web.bad_request")
    length = int(next(iter(lengths))) if lengths else 0
    if length > MAX_REQUEST:
        raise Problem("413 Content Too Large", "web.too_large")
    return method, target, length


async def _linger(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Half-close, then read what the client still sends (briefly): closing a socket with
    unread input resets the connection, and the client could lose the answer (RFC 9112 9.6)."""
    if writer.can_write_eof():
        writer.write_eof()
    with contextlib.suppress(TimeoutError, ConnectionError):
        async with asyncio.timeout(LINGER):
            while await reader.read(MAX_REQUEST):
                pass


class WebServer:
    def __init__(self, svc: Services, host: str, port: int) -> None:
        self.svc = svc
        self.host = host
        self.port = port
        self._server: asyncio.Server | None = None

    async def _respond(self, reader: asyncio.StreamReader) -> bytes:
        """The response to whatever arrived: every request gets one, however odd."""
        try:
            async with asyncio.timeout(TIMEOUT):
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except asyncio.LimitOverrunError as exc:
                    raise Problem("431 Request Header Fields Too Large", "web.too_large") from exc
                except asyncio.IncompleteReadError as exc:
                    raise Problem("400 Bad Request", "web.bad_request") from exc
                method, target, length = parse_head(head)
                if length:
                    try:
                        await reader.readexactly(length)  # the one-click form: ignored
                    except asyncio.IncompleteReadError as exc:
                        raise Problem("400 Bad Request", "web.bad_request") from exc
        except TimeoutError:
            return problem_response(Problem("408 Request Timeout", "web.timeout"))
        except Problem as problem:
            return problem_response(problem)
        try:
            return await handle(self.svc, method, target)
        except Exception:
            log.exception("unsubscribe request failed")
            return problem_response(Problem("500 Internal Server Error", "web.error"))

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            response = await self._respond(reader)
            writer.write(response)
            await writer.drain()
            await _linger(reader, writer)
        except ConnectionError:
            pass  # the client went away before the answer
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def start(self) -> None:
        self._server = await asyncio.start_server(
            self._client, self.host, self.port, limit=MAX_REQUEST
        )
        self.port = self._server.sockets[0].getsockname()[1]
        log.info("one-click unsubscribe listens on %s:%s", self.host, self.port)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
