"""Signed deep-link payloads that open one thing for one person: `o_<offer>_<signature>`.

Payloads are at most 64 characters of [A-Za-z0-9_-] (Telegram's limit for /start parameters).
"""

from __future__ import annotations

from typing import Final

from bot.domain.signing import Link, Purpose, link_payload, parse_link, verify_link

OFFER_PREFIX: Final = "o_"


def offer_payload(secret: bytes, offer_id: int, telegram_user_id: int) -> str:
    subject = f"offer:{offer_id}"
    return link_payload(secret, Purpose.OFFER, OFFER_PREFIX, (offer_id,), telegram_user_id, subject)


def parse_offer(secret: bytes, payload: str, telegram_user_id: int) -> Link | None:
    """The offer the payload names, if it was made for this Telegram user (legacy or not)."""
    parsed = parse_link(payload, OFFER_PREFIX, 1)
    if parsed is None:
        return None
    (offer_id,), signature = parsed
    return verify_link(
        secret, Purpose.OFFER, signature, (offer_id,), telegram_user_id, f"offer:{offer_id}"
    )
