"""Signed, compact tokens for callback data and deep links.

Callback data may be at most 64 bytes and deep-link payloads at most 64 characters of
`[A-Za-z0-9_-]`, so signatures are short truncated HMACs. A signature binds the data to one
Telegram user: a forwarded, replayed or hand-crafted button does nothing for anyone else.

**One key per purpose.** Each kind of signed thing (a button, an offer link, an unsubscribe link,
an invitation, the season check, a colleague's referral link) is signed with its own key,
`HMAC(SECRET_KEY, "veileder-key:" + purpose)`, so a signature made for one purpose can never verify
for another, whatever the bytes signed. The raw secret itself only keys the keyed hashes of stored
codes and tokens (`hash_secret`, whose inputs start with a fixed word such as `code:`), the key
derivation, and the legacy check below; none of those inputs can equal another (a legacy
signature's input starts with a user id's digits, a label with `veileder-key:`).

**Links already sent keep working.** Before the per-purpose keys everything was signed with the
raw secret. Such a "legacy" signature is still accepted, but only where the time it was made can
be bounded and only for `LEGACY_WINDOW` (90 days) after that: a button from the date of the
message that carries it (its last edit, which is when its buttons were last drawn), an offer
link from the day the offer was made, an invitation from the day it was created, a season-check
link from the day the question was asked. Each of those times is at or before the link was
made, so no legacy link lives longer than 90 days after it was sent. Unsubscribe links are the
exception: they are accepted in the legacy form forever, because a person must always be able
to stop email, even from a message years old. Decoders say whether a signature was legacy
(`Verdict`); the caller, which knows the time, decides.

**Strict parsing.** Everything a person can send (callback data, `/start` payloads, a URL path)
is matched against ASCII-only patterns before anything else is done with it, and signatures
are compared as bytes: no input can make a decoder raise.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum, StrEnum
from typing import Final

CALLBACK_LIMIT: Final = 64
_SIG_BYTES: Final = (
    6  # 8 base64 characters; forging one takes ~2**48 tries against a rate-limited bot
)
LEGACY_WINDOW: Final = timedelta(days=90)

SIGNATURE: Final = re.compile(r"[A-Za-z0-9_-]{8}", re.ASCII)
_TOKEN: Final = re.compile(r"[A-Za-z0-9_-]{16,64}", re.ASCII)
_ID: Final = re.compile(r"[1-9][0-9]{0,17}", re.ASCII)  # a database id, never zero-padded
# A callback field: printable ASCII but the separator ":" (the values are all ours).
_FIELD: Final = r"[!-9;-~]*"
_CALLBACK: Final = re.compile(
    rf"({_FIELD}):({_FIELD}):({_FIELD}):({_FIELD}):([A-Za-z0-9_-]{{8}})", re.ASCII
)


class Purpose(StrEnum):
    """What a signature is for; each has its own key."""

    CALLBACK = "callback"
    OFFER = "offer-link"
    UNSUBSCRIBE = "unsubscribe"
    INVITATION = "invitation"
    SEASON = "season"
    REFERRAL = "referral"
    WEBHOOK = "webhook"  # the secret token Telegram sends with each webhook update


class Verdict(Enum):
    """How a signature checked out: made with the purpose's key, with the legacy key, or not."""

    VALID = "valid"
    LEGACY = "legacy"
    INVALID = "invalid"


def purpose_key(secret: bytes, purpose: Purpose) -> bytes:
    return hmac.new(secret, f"veileder-key:{purpose.value}".encode(), hashlib.sha256).digest()


def webhook_secret(secret: bytes) -> str:
    """The `X-Telegram-Bot-Api-Secret-Token` for this deployment when `WEBHOOK_SECRET` is not
    set: the webhook purpose's own key, 43 characters of `[A-Za-z0-9_-]` (Telegram allows 1-256),
    so it is the same in every process sharing `SECRET_KEY` and reveals nothing about it."""
    return base64.urlsafe_b64encode(purpose_key(secret, Purpose.WEBHOOK)).decode().rstrip("=")


def _mac(key: bytes, user_id: int, body: str) -> str:
    mac = hmac.new(key, f"{user_id}:{body}".encode(), hashlib.sha256).digest()[:_SIG_BYTES]
    return base64.urlsafe_b64encode(mac).decode().rstrip("=")


def sign(secret: bytes, purpose: Purpose, user_id: int, body: str) -> str:
    return _mac(purpose_key(secret, purpose), user_id, body)


def check(secret: bytes, purpose: Purpose, user_id: int, body: str, signature: str) -> Verdict:
    """Whether `signature` signs `body` for `user_id` and `purpose` (in bytes, never raising)."""
    if SIGNATURE.fullmatch(signature) is None:
        return Verdict.INVALID
    given = signature.encode("ascii")
    if hmac.compare_digest(given, sign(secret, purpose, user_id, body).encode()):
        return Verdict.VALID
    if hmac.compare_digest(given, _mac(secret, user_id, body).encode()):
        return Verdict.LEGACY
    return Verdict.INVALID


def within_legacy_window(issued_at: datetime | None, now: datetime) -> bool:
    """Whether a legacy signature made no earlier than `issued_at` may still be accepted."""
    return issued_at is not None and now - issued_at <= LEGACY_WINDOW


def is_token(text: str) -> bool:
    """Whether `text` could be one of our random link tokens (`secrets.token_urlsafe`)."""
    return _TOKEN.fullmatch(text) is not None


def parse_id(text: str) -> int | None:
    """A database id written in ASCII digits, else None (never raises: "²".isdigit() is True)."""
    return int(text) if _ID.fullmatch(text) else None


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
    data = f"{body}:{sign(secret, Purpose.CALLBACK, user_id, body)}"
    if len(data.encode()) > CALLBACK_LIMIT or _CALLBACK.fullmatch(data) is None:
        raise ValueError(f"callback data over {CALLBACK_LIMIT} bytes or not ASCII: {body!r}")
    return data


def decode_callback(
    data: str, *, secret: bytes, user_id: int, accept_legacy: bool = False
) -> Callback | None:
    """The callback, or None when the data is malformed or was not made for this user.

    `accept_legacy`: whether the button is young enough for a legacy signature (see above).
    """
    match = _CALLBACK.fullmatch(data)
    if match is None:
        return None
    scope, step, action, value, signature = match.groups()
    body = f"{scope}:{step}:{action}:{value}"
    verdict = check(secret, Purpose.CALLBACK, user_id, body, signature)
    if verdict == Verdict.VALID or (verdict == Verdict.LEGACY and accept_legacy):
        return Callback(scope, step, action, value)
    return None


def hash_secret(secret: bytes, value: str) -> str:
    """A keyed hash for codes and link tokens, so the database never holds them in clear."""
    return hmac.new(secret, value.encode(), hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class Link:
    """A deep link's verified contents: the ids it names, and whether its signature is legacy."""

    ids: tuple[int, ...]
    legacy: bool

    @property
    def id(self) -> int:
        return self.ids[0]

    def usable(self, issued_at: datetime | None, now: datetime) -> bool:
        """A current signature always; a legacy one within the window after `issued_at`."""
        return not self.legacy or within_legacy_window(issued_at, now)


def link_payload(
    secret: bytes, purpose: Purpose, prefix: str, ids: tuple[int, ...], user_id: int, subject: str
) -> str:
    """`<prefix><id>_<id>..._<signature>`, signing `subject` for `user_id`."""
    numbers = "_".join(str(i) for i in ids)
    return f"{prefix}{numbers}_{sign(secret, purpose, user_id, subject)}"


def parse_link(payload: str, prefix: str, count: int) -> tuple[tuple[int, ...], str] | None:
    """(the ids, the signature) of `<prefix><id>_..._<signature>` with `count` ids, strictly."""
    pattern = re.escape(prefix) + "_".join([f"({_ID.pattern})"] * count) + r"_([A-Za-z0-9_-]{8})"
    match = re.fullmatch(pattern, payload, re.ASCII)
    if match is None:
        return None
    *numbers, signature = match.groups()
    return tuple(int(n) for n in numbers), signature


def verify_link(
    secret: bytes,
    purpose: Purpose,
    signature: str,
    ids: tuple[int, ...],
    user_id: int,
    subject: str,
) -> Link | None:
    verdict = check(secret, purpose, user_id, subject, signature)
    if verdict == Verdict.INVALID:
        return None
    return Link(ids, legacy=verdict == Verdict.LEGACY)
