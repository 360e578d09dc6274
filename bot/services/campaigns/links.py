"""The campaigns' deep links: `i_<invitation>_<signature>` into registration,
`n_<invitation>_<signature>` for "no thanks" (also the invitation email's unsubscribe token) and
`s_<supervisor>_<season>_<signature>` for the season question. Invitation links are signed for
the invitation, not for a Telegram account: the person has none we know of yet.
"""

from __future__ import annotations

from typing import Final

from bot.domain.signing import Link, Purpose, link_payload, parse_link, verify_link

INVITE_PREFIX: Final = "i_"
DECLINE_PREFIX: Final = "n_"
SEASON_PREFIX: Final = "s_"


def invite_payload(secret: bytes, invitation_id: int) -> str:
    ids = (invitation_id,)
    return link_payload(secret, Purpose.INVITATION, INVITE_PREFIX, ids, invitation_id, "invite")


def decline_payload(secret: bytes, invitation_id: int) -> str:
    ids = (invitation_id,)
    return link_payload(secret, Purpose.INVITATION, DECLINE_PREFIX, ids, invitation_id, "invite-no")


def season_payload(secret: bytes, supervisor_id: int, season: int) -> str:
    ids = (supervisor_id, season)
    return link_payload(
        secret, Purpose.SEASON, SEASON_PREFIX, ids, supervisor_id, f"season:{season}"
    )


def parse_invite(secret: bytes, payload: str, *, decline: bool = False) -> Link | None:
    """The invitation a valid `i_` (or, with `decline`, `n_`) payload names, else None."""
    prefix, subject = (DECLINE_PREFIX, "invite-no") if decline else (INVITE_PREFIX, "invite")
    parsed = parse_link(payload, prefix, 1)
    if parsed is None:
        return None
    ids, signature = parsed
    return verify_link(secret, Purpose.INVITATION, signature, ids, ids[0], subject)


def parse_season(secret: bytes, payload: str) -> Link | None:
    """(supervisor id, season) as `ids` of a valid `s_` payload, else None."""
    parsed = parse_link(payload, SEASON_PREFIX, 2)
    if parsed is None:
        return None
    (supervisor_id, season), signature = parsed
    subject = f"season:{season}"
    return verify_link(
        secret, Purpose.SEASON, signature, (supervisor_id, season), supervisor_id, subject
    )


def link(bot_username: str, payload: str) -> str:
    return f"https://t.me/{bot_username.lstrip('@')}?start={payload}"
