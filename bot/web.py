"""One-click unsubscribe over HTTPS (RFC 8058), for the `List-Unsubscribe` header's https target.

Mail clients POST `List-Unsubscribe=One-Click` to `<PUBLIC_URL>/unsubscribe/<token>`; a person
who opens the link in a browser gets a page with one button that does the same. The token is the
signed `u_<supervisor>_<signature>` of the email footer, so the link works without Telegram; for
an invitation (a person with no account) it is the invitation's "no thanks" token
`n_<invitation>_<signature>`, which declines it as the link in the email does.
This is a deliberately tiny HTTP/1.1 server on asyncio streams (two routes, no framework): it
listens on `WEB_HOST:WEB_PORT` behind the deployment's TLS proxy, and only when `WEB_PORT` is set.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import logging
from typing import Final

from bot import unsubscribe
from bot.i18n import Translator
from bot.services import Services
from storage import repository
from storage.models import Supervisor

log = logging.getLogger(__name__)

MAX_REQUEST: Final = 16 * 1024
PAGE: Final = (
    '<!DOCTYPE html><html lang="{lang}"><head><meta charset="utf-8">'
    '<meta name="viewport" content="width=device-width, initial-scale=1"><title>Veileder</title>'
    '</head><body style="font-family:sans-serif;max-width:560px;margin:2em auto;padding:0 1em">'
    "{body}</body></html>"
)


async def unsubscribe_by_token(svc: Services, token: str) -> Supervisor | None:
    """Stop all emails (but verification) to the supervisor the token names."""
    supervisor_id = unsubscribe.parse(svc.secret, token)
    if supervisor_id is None:
        return None
    now = svc.clock.now()
    async with svc.db.session() as session:
        supervisor = await session.get(Supervisor, supervisor_id)
        if supervisor is None:
            return None
        supervisor.unsubscribed_at = supervisor.unsubscribed_at or now
        session.add(supervisor)
        await repository.suppress(session, supervisor.email, "unsubscribed", now)
    return supervisor


async def decline_by_token(svc: Services, token: str) -> bool:
    """One-click "no thanks" to an invitation: never invited or emailed again."""
    from bot import campaigns

    invitation_id = campaigns.parse_invite(svc.secret, token, decline=True)
    if invitation_id is None:
        return False
    async with svc.db.session() as session:
        found = await campaigns.decline_invitation(session, invitation_id, svc.clock.now())
    return found is not None


def _is_decline(token: str) -> bool:
    from bot.campaigns import DECLINE_PREFIX

    return token.startswith(DECLINE_PREFIX)


def _response(status: str, body: str, language: str = "en") -> bytes:
    page = PAGE.format(lang=language, body=body).encode()
    head = (
        f"HTTP/1.1 {status}\r\nContent-Type: text/html; charset=utf-8\r\n"
        f"Content-Length: {len(page)}\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n"
    )
    return head.encode() + page


async def handle(svc: Services, method: str, path: str) -> bytes:
    parts = path.split("?")[0].strip("/").split("/")
    if len(parts) != 2 or parts[0] != "unsubscribe":
        return _response("404 Not Found", "<p>Not found.</p>")
    token = parts[1]
    if method == "POST" and _is_decline(token):
        if not await decline_by_token(svc, token):
            return _response(
                "404 Not Found", f"<p>{html.escape(Translator('en')('unsubscribe.invalid'))}</p>"
            )
        body = "".join(
            f"<p>{html.escape(Translator(lang)('web.declined'))}</p>" for lang in ("nb", "en")
        )
        return _response("200 OK", body, "nb")
    if method == "POST":
        supervisor = await unsubscribe_by_token(svc, token)
        if supervisor is None:
            return _response(
                "404 Not Found", f"<p>{html.escape(Translator('en')('unsubscribe.invalid'))}</p>"
            )
        tr = Translator(supervisor.language)
        return _response(
            "200 OK", f"<p>{html.escape(tr('web.unsubscribed'))}</p>", supervisor.language
        )
    if method == "GET":
        valid = unsubscribe.parse(svc.secret, token) is not None
        if _is_decline(token):
            from bot.campaigns import parse_invite

            valid = parse_invite(svc.secret, token, decline=True) is not None
        tr = Translator("nb")
        en = Translator("en")
        if not valid:
            return _response("404 Not Found", f"<p>{html.escape(en('unsubscribe.invalid'))}</p>")
        button = '<form method="post"><button type="submit">{}</button></form>'
        body = "".join(
            f"<p>{html.escape(t('web.confirm'))}</p>" + button.format(html.escape(t("web.button")))
            for t in (tr, en)
        )
        return _response("200 OK", body, "nb")
    return _response("405 Method Not Allowed", "<p>Method not allowed.</p>")


class WebServer:
    def __init__(self, svc: Services, host: str, port: int) -> None:
        self.svc = svc
        self.host = host
        self.port = port
        self._server: asyncio.Server | None = None

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            async with asyncio.timeout(10):
                head = await reader.readuntil(b"\r\n\r\n")
                if len(head) > MAX_REQUEST:
                    return
                request_line = head.split(b"\r\n", 1)[0].decode("latin-1")
                method, path, _ = [*request_line.split(" "), "", ""][:3]
                length = _content_length(head)
                if 0 < length <= MAX_REQUEST:
                    await reader.readexactly(
                        length
                    )  # the one-click form body; nothing in it matters
                writer.write(await handle(self.svc, method.upper(), path))
                await writer.drain()
        except (
            TimeoutError,
            asyncio.IncompleteReadError,
            asyncio.LimitOverrunError,
            ConnectionError,
        ):
            pass
        except Exception:
            log.exception("unsubscribe request failed")
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


def _content_length(head: bytes) -> int:
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            with contextlib.suppress(ValueError):
                return int(value.strip())
    return 0
