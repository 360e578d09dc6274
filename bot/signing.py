"""Signed, compact tokens for callback data and deep links.

Callback data may be at most 64 bytes and deep-link payloads at most 64 characters of
`[A-Za-z0-9_-]`, so signatures are short truncated HMACs. A signature binds the data to one
Telegram user: a forwarded, replayed or hand-crafted button does nothing for anyone else.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass
from typing import Final

CALLBACK_LIMIT: Final = 64
_SIG_BYTES: Final = (
    6  # 8 base64 characters; forging one takes ~2**48 tries against a rate-limited bot
)


def _sign(secret: bytes, user_id: int, body: str) -> str:
    mac = hmac.new(secret, f"{user_id}:{body}".encode(), hashlib.sha256).digest()[:_SIG_BYTES]
    return base64.urlsafe_b64encode(mac).decode().rstrip("=")


@dataclass(frozen=True)
class Callback:
    """A button press: which flow, which step it belongs to, what it does, with what value."""

    scope: str
    step: str
    action: str
    value: str = ""

    def body(self) -> str:
        return f"{self.scope}:{self.step}:{self.action}:{self.value}"


def encode_callback(callback: Callback, *, secret: bytes, user_id: int) -> str:
    body = callback.body()
    data = f"{body}:{_sign(secret, user_id, body)}"
    if len(data.encode()) > CALLBACK_LIMIT:
        raise ValueError(f"callback data over {CALLBACK_LIMIT} bytes: {body!r}")
    return data


def decode_callback(data: str, *, secret: bytes, user_id: int) -> Callback | None:
    """The callback, or None when the data is malformed or was not made for this user."""
    parts = data.split(":")
    if len(parts) != 5:
        return None
    scope, step, action, value, signature = parts
    body = f"{scope}:{step}:{action}:{value}"
    if not hmac.compare_digest(signature, _sign(secret, user_id, body)):
        return None
    return Callback(scope, step, action, value)


def hash_secret(secret: bytes, value: str) -> str:
    """A keyed hash for codes and link tokens, so the database never holds them in clear."""
    return hmac.new(secret, value.encode(), hashlib.sha256).hexdigest()


def sign_payload(secret: bytes, subject: str, user_id: int) -> str:
    """A short signature for a deep-link payload about `subject`, valid for one user only."""
    return _sign(secret, user_id, subject).replace("=", "")


def verify_payload(secret: bytes, subject: str, user_id: int, signature: str) -> bool:
    return hmac.compare_digest(signature, sign_payload(secret, subject, user_id))
