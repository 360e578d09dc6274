"""Translations for chat messages.

Every user-facing chat text is a symbolic message id (``"reg.name.ask"``) looked up in the
Babel/gettext catalogs under ``templates/locale/<lang>/LC_MESSAGES/messages.po``: English and
Norwegian bokmål both live in catalogs, so no sentence a person reads is written in Python.
The locale is always passed explicitly (handlers run concurrently; there is no global ``_``).

Placeholders use ``str.format`` names and every value is HTML-escaped on the way in, which makes
escaping user text the default rather than something each handler has to remember. A value that
is already safe HTML is passed as ``markupsafe.Markup``.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from importlib.resources import files
from typing import Any, Final

from babel.messages.pofile import read_po
from markupsafe import Markup, escape

SUPPORTED: Final = ("nb", "en")
DEFAULT: Final = "en"
_NORWEGIAN_CODES: Final = frozenset({"nb", "nn", "no"})


def language_from_telegram(language_code: str | None) -> str:
    """Telegram's ``language_code`` ``nb``/``nn``/``no`` (or ``nb-NO``) -> ``nb``, else ``en``."""
    if not language_code:
        return DEFAULT
    base = language_code.replace("_", "-").split("-")[0].lower()
    return "nb" if base in _NORWEGIAN_CODES else DEFAULT


@cache
def catalog(language: str) -> Mapping[str, str]:
    """The non-fuzzy, non-empty translations of one language, read once per process."""
    source = files("templates") / "locale" / language / "LC_MESSAGES" / "messages.po"
    with source.open("rb") as handle:
        po = read_po(handle, locale=language)
    return {
        str(message.id): str(message.string)
        for message in po
        if message.id and message.string and not message.fuzzy
    }


def gettext(language: str, message_id: str) -> str:
    """The raw catalog text; falls back to English, then to the id itself (visible in tests)."""
    return catalog(language).get(message_id) or catalog(DEFAULT).get(message_id) or message_id


def _(language: str, message_id: str, /, **values: Any) -> str:
    """Translate and fill in placeholders, escaping every value for Telegram's HTML mode."""
    text = gettext(language, message_id)
    if not values:
        return text
    safe = {key: _escape(value) for key, value in values.items()}
    return text.format_map(safe)


def _escape(value: Any) -> str:
    if isinstance(value, Markup):
        return str(value)
    return str(escape(str(value)))


class Translator:
    """A language bound once per update, so handler code reads ``tr("reg.name.ask")``."""

    def __init__(self, language: str) -> None:
        self.language = language if language in SUPPORTED else DEFAULT

    def __call__(self, message_id: str, /, **values: Any) -> str:
        return _(self.language, message_id, **values)
