"""Colleague referral: a registered supervisor forwards a signed "join as a supervisor" link.

The link is `https://t.me/<bot>?start=j_<supervisor>_<signature>`, signed with its own purpose
(`Purpose.REFERRAL`) for the referring supervisor's id, not for a Telegram account: it is meant
to be forwarded to anyone. It reaches colleagues through Telegram's share URL
(`https://t.me/share/url?url=...&text=...`), a URL button beside "define a task now?" right
after registering, and under an accepted offer.

Whoever opens it and registers is stored with `referred` (for good) and `referred_by` (the
referrer's id while the referrer is registered: their /delete sets it NULL). The referrer rides
in the signed consent button until "I agree" (nothing is stored before consent), then in the
registration draft, so a restart mid-registration keeps it.

Decisions:
- A forged or malformed `j_` payload starts a normal registration after the usual "this link is
  not valid" notice (the person did follow a link, and should know it did nothing). A genuine link
  whose referrer has since deleted their data starts a normal registration silently: telling
  would say something about the referrer, and the newcomer did nothing wrong.
- Who referred whom is shown to coordinators only (the digest's per-referrer counts). The
  referred person's /mydata says they came through a colleague's link (`referred`), not who;
  the referrer is never told who registered through their link.
- A link with a legacy signature cannot exist (referrals were signed with their own key from the
  start), so only a current signature is accepted.
"""

from __future__ import annotations

from typing import Final
from urllib.parse import urlencode

from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.context import Services
from bot.core.i18n import Translator
from bot.core.screen import Button
from bot.domain.signing import Purpose, link_payload, parse_link, verify_link
from storage.models import Supervisor, SupervisorStatus

PREFIX: Final = "j_"
_SUBJECT: Final = "referral"
SHARE_URL: Final = "https://t.me/share/url"


def payload(secret: bytes, supervisor_id: int) -> str:
    return link_payload(secret, Purpose.REFERRAL, PREFIX, (supervisor_id,), supervisor_id, _SUBJECT)


def parse(secret: bytes, text: str) -> int | None:
    """The referring supervisor's id of a valid `j_` payload, else None."""
    parsed = parse_link(text, PREFIX, 1)
    if parsed is None:
        return None
    ids, signature = parsed
    link = verify_link(secret, Purpose.REFERRAL, signature, ids, ids[0], _SUBJECT)
    return link.id if link is not None and not link.legacy else None


async def referrer(session: AsyncSession, supervisor_id: int | None) -> int | None:
    """The id, if it still names a registered supervisor (not one who left or was erased)."""
    if supervisor_id is None:
        return None
    found = await session.get(Supervisor, supervisor_id)
    return found.id if found is not None and found.status != SupervisorStatus.LEFT else None


def share_url(svc: Services, supervisor_id: int, tr: Translator) -> str:
    """Telegram's share URL for the supervisor's referral link (plain text, URL-encoded)."""
    link = svc.deep_link(payload(svc.secret, supervisor_id))
    return f"{SHARE_URL}?{urlencode({'url': link, 'text': tr('referral.share_text')})}"


def share_button(svc: Services, supervisor_id: int, tr: Translator) -> Button:
    return Button(tr("referral.share"), url=share_url(svc, supervisor_id, tr))
