"""Signed deep-link payloads that open one thing for one person: `o_<offer>_<signature>`.

Payloads are at most 64 characters of [A-Za-z0-9_-] (Telegram's limit for /start parameters).
"""

from __future__ import annotations

from typing import Final

from bot.signing import sign_payload, verify_payload

OFFER_PREFIX: Final = "o_"


def offer_payload(secret: bytes, offer_id: int, telegram_user_id: int) -> str:
    return f"{OFFER_PREFIX}{offer_id}_{sign_payload(secret, f'offer:{offer_id}', telegram_user_id)}"


def parse_offer(secret: bytes, payload: str, telegram_user_id: int) -> int | None:
    """The offer id, if the payload was made for this Telegram user."""
    head, _, signature = payload.removeprefix(OFFER_PREFIX).partition("_")
    if head.isdigit() and verify_payload(secret, f"offer:{head}", telegram_user_id, signature):
        return int(head)
    return None
