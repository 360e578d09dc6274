"""Unsubscribing: a signed one-tap deep link into the bot, and the List-Unsubscribe targets.

The payload `u_<supervisor id>_<signature>` names the supervisor and proves the link came from
us. As a deep link it works only when opened by that supervisor's own Telegram account, so a
forwarded email cannot unsubscribe someone else; the HTTPS one-click target (RFC 8058,
`bot.web.unsubscribe`) is posted by a mail client, which has no account, and works for whoever holds
the email. The mailto target goes to the sender address with the same token in the subject, for
the people who read that mailbox to act on.

Whichever way it comes, unsubscribing does the same (`by_token`): the supervisor is marked
unsubscribed (the first time counts) and the address goes on the suppression list, so no email
but a verification code the person asks for reaches it again, not even an invitation.
"""

from __future__ import annotations

from email.utils import parseaddr
from typing import Final

from bot.core.context import Services
from bot.core.emails import Unsubscribe
from bot.domain.signing import Purpose, link_payload, parse_link, verify_link
from storage import repository
from storage.models import Supervisor

PREFIX: Final = "u_"


def payload(secret: bytes, supervisor_id: int) -> str:
    return link_payload(
        secret, Purpose.UNSUBSCRIBE, PREFIX, (supervisor_id,), supervisor_id, "unsubscribe"
    )


def parse(secret: bytes, value: str) -> int | None:
    """The supervisor id a valid payload names, else None.

    A legacy signature (before per-purpose keys) is accepted forever: stopping email must work
    from any email ever sent.
    """
    parsed = parse_link(value, PREFIX, 1)
    if parsed is None:
        return None
    (supervisor_id,), signature = parsed
    link = verify_link(
        secret, Purpose.UNSUBSCRIBE, signature, (supervisor_id,), supervisor_id, "unsubscribe"
    )
    return None if link is None else link.id


async def by_token(svc: Services, token: str, *, account: int | None) -> Supervisor | None:
    """Unsubscribe the supervisor a valid token names; None when the token or the supervisor is
    not valid, or `account` is not theirs. `account` is the Telegram account that opened a deep
    link; None for the HTTPS one-click link, which no account opens."""
    supervisor_id = parse(svc.secret, token)
    if supervisor_id is None:
        return None
    now = svc.clock.now()
    async with svc.db.session() as session:
        supervisor = await session.get(Supervisor, supervisor_id)
        if supervisor is None:
            return None
        if account is not None and supervisor.telegram_user_id != account:
            return None
        supervisor.unsubscribed_at = supervisor.unsubscribed_at or now
        session.add(supervisor)
        await repository.suppress(session, supervisor.email, "unsubscribed", now)
    return supervisor


def for_supervisor(svc: Services, supervisor_id: int) -> Unsubscribe:
    token = payload(svc.secret, supervisor_id)
    address = parseaddr(svc.settings.mail_from)[1] or "veileder@localhost"
    https = (
        f"{svc.settings.public_url.rstrip('/')}/unsubscribe/{token}"
        if svc.settings.public_url
        else None
    )
    return Unsubscribe(
        deep_link=svc.deep_link(token),
        mailto=f"mailto:{address}?subject=unsubscribe%20{token}",
        https=https,
    )
