"""One-click unsubscribe over HTTPS (RFC 8058), the `List-Unsubscribe` header's https target.

Every bulk email (offers and reminders, the season check, thank-yous, and the invitations of past
supervisors) carries `<PUBLIC_URL>/unsubscribe/<token>` with `List-Unsubscribe-Post:
List-Unsubscribe=One-Click`. A mail client POSTs that form and the person is unsubscribed. A GET
only shows a page with one button that POSTs the same, and changes nothing: mail scanners and
link previews fetch every link in an email, and must not unsubscribe anyone.

The token is the signed `u_<supervisor>_<signature>` of the email footer, so the link works
without Telegram; for an invitation (a person with no account) it is the invitation's "no thanks"
token `n_<invitation>_<signature>`, which declines it as the link in the email does. Both work
however old they are: an opt-out must always be honoured.

A browser tells us nothing about the person, so every page but the answer to a supervisor's own
unsubscribe (in their language) says what it says in bokmål and English.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping
from typing import Final

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from bot.core.context import Services
from bot.core.i18n import Translator
from bot.services import campaigns, unsubscribe

TOKEN: Final = re.compile(r"[A-Za-z0-9_-]{1,64}", re.ASCII)
PAGE: Final = (
    '<!DOCTYPE html><html lang="{lang}"><head><meta charset="utf-8">'
    '<meta name="viewport" content="width=device-width, initial-scale=1"><title>Veileder</title>'
    '</head><body style="font-family:sans-serif;max-width:560px;margin:2em auto;padding:0 1em">'
    "{body}</body></html>"
)
_BUTTON: Final = '<form method="post"><button type="submit">{}</button></form>'


def page(
    body: str, status: int = 200, language: str = "nb", headers: Mapping[str, str] | None = None
) -> HTMLResponse:
    return HTMLResponse(
        PAGE.format(lang=language, body=body),
        status_code=status,
        headers={"Cache-Control": "no-store", **(headers or {})},
    )


def both(message_id: str) -> str:
    """A message in bokmål and English."""
    return "".join(f"<p>{html.escape(Translator(lang)(message_id))}</p>" for lang in ("nb", "en"))


def problem(status: int, message_id: str, headers: Mapping[str, str] | None = None) -> HTMLResponse:
    return page(both(message_id), status, headers=headers)


async def decline_by_token(svc: Services, token: str) -> bool:
    """One-click "no thanks" to an invitation: never invited or emailed again."""
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


async def confirm(svc: Services, token: str) -> Response:
    """GET (and HEAD): the question and its button, in both languages; nothing changes."""
    if not TOKEN.fullmatch(token) or not _valid(svc, token):
        return problem(404, "unsubscribe.invalid")
    body = "".join(
        f"<p>{html.escape(t('web.confirm'))}</p>" + _BUTTON.format(html.escape(t("web.button")))
        for t in (Translator("nb"), Translator("en"))
    )
    return page(body)


async def act(svc: Services, token: str) -> Response:
    """POST: unsubscribe (or decline the invitation) now; the form's content is not needed."""
    if not TOKEN.fullmatch(token):
        return problem(404, "unsubscribe.invalid")
    if token.startswith(campaigns.DECLINE_PREFIX):
        if not await decline_by_token(svc, token):
            return problem(404, "unsubscribe.invalid")
        return page(both("web.declined"))
    supervisor = await unsubscribe.by_token(svc, token, account=None)
    if supervisor is None:
        return problem(404, "unsubscribe.invalid")
    tr = Translator(supervisor.language)
    return page(f"<p>{html.escape(tr('web.unsubscribed'))}</p>", language=supervisor.language)


async def endpoint(svc: Services, request: Request) -> Response:
    token = str(request.path_params["token"])
    if request.method == "POST":
        return await act(svc, token)
    return await confirm(svc, token)
