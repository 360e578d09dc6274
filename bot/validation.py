"""Validation of what people type. Pure functions, no Telegram: property-tested directly.

Each validator returns `Valid(value)` with the cleaned value or `Invalid(message_id)` naming the
catalog message that explains the problem in the person's language.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Final

MAX_NAME: Final = 100
MAX_SHORT_TEXT: Final = 150
MAX_EMAIL: Final = 254


@dataclass(frozen=True)
class Valid:
    value: str


@dataclass(frozen=True)
class Invalid:
    message_id: str


Result = Valid | Invalid

_EMAIL = re.compile(
    r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+"  # local part (dot-atom; quoted forms are not offered)
    r"@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}$"
)
_PHONE_CHARS = re.compile(r"^\+?[0-9 ()-]+$")
_CODE = re.compile(r"^[0-9]{6}$")


def clean_text(raw: str, *, max_length: int, min_length: int = 1) -> Result:
    """Free text: trimmed, inner whitespace folded, no control or invisible format characters.

    Rejecting instead of silently stripping control characters keeps what is stored exactly what
    the person meant; it also keeps them out of emails and exports.
    """
    text = unicodedata.normalize("NFC", raw)
    if any(
        unicodedata.category(ch) in {"Cc", "Cf", "Cs", "Co", "Cn"} and ch not in "\t\n"
        for ch in text
    ):
        return Invalid("invalid.characters")
    text = " ".join(text.split())
    if len(text) < min_length or not any(ch.isalnum() for ch in text):
        return Invalid("invalid.empty")
    if len(text) > max_length:
        return Invalid("invalid.too_long")
    return Valid(text)


def validate_name(raw: str) -> Result:
    result = clean_text(raw, max_length=MAX_NAME, min_length=2)
    if isinstance(result, Valid) and not any(ch.isalpha() for ch in result.value):
        return Invalid("invalid.name")
    return result


def validate_short_text(raw: str) -> Result:
    return clean_text(raw, max_length=MAX_SHORT_TEXT, min_length=2)


def validate_email(raw: str) -> Result:
    text = raw.strip()
    if len(text) > MAX_EMAIL or not _EMAIL.match(text):
        return Invalid("invalid.email")
    local, _, domain = text.rpartition("@")
    if len(local) > 64 or ".." in local or local.startswith(".") or local.endswith("."):
        return Invalid("invalid.email")
    return Valid(f"{local}@{domain.lower()}")


def validate_phone(raw: str) -> Result:
    """International or Norwegian numbers; stored as +digits (Norwegian 8 digits get +47)."""
    text = raw.strip()
    if not text or len(text) > 32 or not _PHONE_CHARS.match(text):
        return Invalid("invalid.phone")
    digits = re.sub(r"\D", "", text)
    if text.startswith("+"):
        ok = 8 <= len(digits) <= 15
        normalised = "+" + digits
    elif digits.startswith("00"):
        ok = 10 <= len(digits) <= 17
        normalised = "+" + digits[2:]
    else:
        ok = len(digits) == 8
        normalised = "+47" + digits
    return Valid(normalised) if ok else Invalid("invalid.phone")


def validate_code(raw: str) -> Result:
    text = raw.replace(" ", "").strip()
    return Valid(text) if _CODE.match(text) else Invalid("invalid.code")
