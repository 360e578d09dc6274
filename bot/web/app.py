"""The one web application (ASGI, Starlette), served by uvicorn beside the bot (`bot.web.server`).

    POST /telegram/<bot id>          Telegram's webhook: stored in the inbox, then 200
    GET  /healthz                    JSON: 200, or 503 when something needs the operator
    GET|HEAD|POST /unsubscribe/<t>   one-click unsubscribe (RFC 8058), `bot.web.unsubscribe`

**The webhook** answers 200 only once the update is committed to the durable inbox (`Webhook.
receive`, which the composition root points at `bot.chat.inbox.Inbox.receive`): Telegram forgets an
update it got a 2xx for, so a database that is down must be a 5xx (503), and Telegram delivers the
update again later. The `X-Telegram-Bot-Api-Secret-Token` header proves a request comes from
Telegram (it is sent with every update since `set_webhook(secret_token=...)`); it is compared in
constant time, and a request without it gets 403 and changes nothing. An update we cannot parse
is a 400: sending it again would not help. The path names the bot (its numeric id, as in its
token, which is public), so one proxy can forward several bots.

**Logs.** Paths carry personal tokens, so uvicorn's access log is off; our own lines name no path.
Every error an endpoint does not answer itself (404, 405 with `Allow`, a failure of ours) is a
short page in bokmål and English, never a dropped connection; a body over `MAX_BODY` is a 413.
"""

from __future__ import annotations

import hmac
import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bot.core.context import Services
from bot.core.health import probe
from bot.web import unsubscribe

log = logging.getLogger(__name__)

SECRET_HEADER: Final = "X-Telegram-Bot-Api-Secret-Token"
MAX_BODY: Final = 1024 * 1024  # a Telegram update is a few kilobytes; an unsubscribe form less
_PROBLEMS: Final = {
    400: "web.bad_request",
    404: "web.not_found",
    405: "web.method_not_allowed",
    413: "web.too_large",
}


class BadUpdate(ValueError):
    """A webhook body that is not an update we can read (400: no retry would help)."""


Receive = Callable[[Mapping[str, Any]], Awaitable[None]]


@dataclass(frozen=True)
class Webhook:
    path: str  # the last segment of /telegram/<path>
    secret: str  # what Telegram sends in `SECRET_HEADER`
    receive: Receive  # store and commit the update (raises when it could not), see module doc


def webhook_path(token: str) -> str:
    """The bot's id, the part of its token before the colon (public: it is the bot's user id)."""
    return token.partition(":")[0]


def _answer(status: int, what: str) -> JSONResponse:
    return JSONResponse({"ok": status == 200, "description": what}, status_code=status)


async def _telegram(webhook: Webhook | None, request: Request) -> Response:
    if webhook is None or request.path_params["path"] != webhook.path:
        raise HTTPException(404)
    given = request.headers.get(SECRET_HEADER, "").encode("latin-1")
    if not hmac.compare_digest(given, webhook.secret.encode("ascii")):
        return _answer(403, "wrong or missing secret token")
    try:
        data = json.loads(await request.body())
    except (ValueError, UnicodeDecodeError):
        return _answer(400, "not JSON")
    if not isinstance(data, dict) or type(data.get("update_id")) is not int:
        return _answer(400, "not an update")
    try:
        await webhook.receive(data)
    except BadUpdate:
        return _answer(400, "not an update")
    except Exception:
        log.exception("could not store a webhook update; Telegram will send it again")
        return _answer(503, "not stored; send it again")
    return _answer(200, "stored")


async def _healthz(svc: Services) -> Response:
    report = await probe(svc.health, svc.db, svc.clock)
    return JSONResponse(
        report.body,
        status_code=200 if report.healthy else 503,
        headers={"Cache-Control": "no-store"},
    )


async def _problem(request: Request, exc: Exception) -> Response:
    if isinstance(exc, HTTPException) and exc.status_code in _PROBLEMS:
        return unsubscribe.problem(exc.status_code, _PROBLEMS[exc.status_code], exc.headers)
    if isinstance(exc, HTTPException):
        return unsubscribe.problem(exc.status_code, "web.bad_request", exc.headers)
    return unsubscribe.problem(500, "web.error")


def create_app(svc: Services, webhook: Webhook | None = None) -> Starlette:
    """The application for this process's services; `webhook` None: /telegram answers 404."""

    async def telegram(request: Request) -> Response:
        return await _telegram(webhook, request)

    async def healthz(_request: Request) -> Response:
        return await _healthz(svc)

    async def unsubscribe_endpoint(request: Request) -> Response:
        return await unsubscribe.endpoint(svc, request)

    return Starlette(
        routes=[
            Route("/telegram/{path}", telegram, methods=["POST"]),
            Route("/healthz", healthz, methods=["GET"]),
            Route("/unsubscribe/{token}", unsubscribe_endpoint, methods=["GET", "POST"]),
        ],
        exception_handlers={HTTPException: _problem, Exception: _problem},
        max_body_size=MAX_BODY,
    )
