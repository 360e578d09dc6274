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
    quoted: str | None = None  # the refused text, for a message that shows it as {value}


Result = Valid | Invalid

_EMAIL = re.compile(
    r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+"  # local part (dot-atom; quoted forms are not offered)
    r"@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}$"
)
_PHONE_CHARS = re.compile(r"^\+?[0-9 ()-]+$")
_CODE = re.compile(r"^[0-9]{6}$")


_REFUSED_CATEGORIES: Final = frozenset({"Cc", "Cf", "Cs", "Co", "Cn"})
_ZWJ: Final = "\u200d"
_EMOJI_TAILS: Final = frozenset("\ufe0e\ufe0f") | {chr(c) for c in range(0x1F3FB, 0x1F400)}
_BLACK_FLAG: Final = "\U0001f3f4"
_CANCEL_TAG: Final = "\U000e007f"


def _joins_emoji(text: str, at: int) -> bool:
    """A zero-width joiner inside an emoji sequence (👩‍⚕️, 🏳️‍🌈): a symbol, optionally with a
    presentation selector or skin tone, on its left, and a symbol on its right."""
    before = at - 1
    while before >= 0 and text[before] in _EMOJI_TAILS:
        before -= 1
    return (
        before >= 0
        and at + 1 < len(text)
        and unicodedata.category(text[before]) == "So"
        and unicodedata.category(text[at + 1]) == "So"
    )


def _flag_tags_end(text: str, start: int) -> int:
    """After a black flag: the end of its tag sequence (🏴 + tag letters + cancel tag, as in the
    flags of England, Scotland and Wales), or `start` when there is none."""
    end = start
    while end < len(text) and "\U000e0020" <= text[end] <= "\U000e007e":
        end += 1
    if end > start and end < len(text) and text[end] == _CANCEL_TAG:
        return end + 1
    return start


def has_hidden_characters(text: str) -> bool:
    """Control, invisible or direction-changing characters (U+202E and the like), except the
    joiners that hold emoji together: a name like "👩‍⚕️ Kari" is an ordinary name, but "Kari"
    with a zero-width space or a right-to-left override is not what it looks like."""
    at = 0
    while at < len(text):
        ch = text[at]
        if ch == _BLACK_FLAG:
            at = _flag_tags_end(text, at + 1)
            continue
        refused = unicodedata.category(ch) in _REFUSED_CATEGORIES and ch not in "\t\n"
        if refused and not (ch == _ZWJ and _joins_emoji(text, at)):
            return True
        at += 1
    return False


def clean_text(raw: str, *, max_length: int, min_length: int = 1) -> Result:
    """Free text: trimmed, inner whitespace folded, no control or invisible format characters.

    Rejecting instead of silently stripping control characters keeps what is stored exactly what
    the person meant; it also keeps them out of emails and exports.
    """
    text = unicodedata.normalize("NFC", raw)
    if has_hidden_characters(text):
        return Invalid("invalid.characters")
    text = " ".join(text.split())
    if len(text) < min_length or not any(ch.isalnum() for ch in text):
        return Invalid("invalid.empty")
    if len(text) > max_length:
        return Invalid("invalid.too_long")
    return Valid(text)


def validate_name(raw: str) -> Result:
    """A name as typed, or as Telegram's profile suggests it: one line, with letters."""
    if "\n" in raw or "\r" in raw:
        return Invalid("invalid.characters")  # a name is one line, never folded into one
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
