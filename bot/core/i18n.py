"""Translations for chat messages.

Every user-facing chat text is a symbolic message id (``"reg.name.ask"``) looked up in the
Babel/gettext catalogs under ``templates/locale/<lang>/LC_MESSAGES/messages.po``: English and
Norwegian bokmål both live in catalogs, so no sentence a person reads is written in Python.
The locale is always passed explicitly (handlers run concurrently; there is no global ``_``).

Placeholders use ``str.format`` names and every value is HTML-escaped on the way in, which makes
escaping user text the default rather than something each handler has to remember. A value that
is already safe HTML is passed as ``markupsafe.Markup``.

Counts take their grammar from Babel's ``ngettext`` ("1 place", "2 places"; "1 plass",
"2 plasser"). A plural message keeps its symbolic id as ``msgid`` and names, as its
``msgid_plural``, the value that counts (``msgid "coord.slots.line"``, ``msgid_plural "places"``),
so callers fill it in like any other message and the form follows from that value.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from functools import cache
from importlib.resources import files
from typing import Any, Final

from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations
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
def _po(language: str) -> Catalog:
    source = files("templates") / "locale" / language / "LC_MESSAGES" / "messages.po"
    with source.open("rb") as handle:
        return read_po(handle, locale=language)


@cache
def catalog(language: str) -> Mapping[str, str]:
    """The non-fuzzy, non-empty translations of one language, read once per process (a plural
    message by its last, "many" form; `plurals` has all of them)."""
    found: dict[str, str] = {}
    for message in _po(language):
        if not message.id or not message.string or message.fuzzy:
            continue
        if isinstance(message.id, tuple):
            found[str(message.id[0])] = str(message.string[-1])
        else:
            found[str(message.id)] = str(message.string)
    return found


@cache
def plurals(language: str) -> Mapping[str, tuple[str, tuple[str, ...]]]:
    """Plural messages: id -> (the name of the value that counts, every form)."""
    found: dict[str, tuple[str, tuple[str, ...]]] = {}
    for message in _po(language):
        forms = message.string
        if not isinstance(message.id, tuple) or not isinstance(forms, tuple | list):
            continue
        if all(forms) and not message.fuzzy:
            found[str(message.id[0])] = (str(message.id[1]), tuple(str(s) for s in forms))
    return found


@cache
def _translations(language: str) -> Translations:
    """The catalog compiled in memory, for Babel's `ngettext` and the language's plural rule."""
    compiled = io.BytesIO()
    write_mo(compiled, _po(language))
    compiled.seek(0)
    return Translations(fp=compiled)


def gettext(language: str, message_id: str) -> str:
    """The raw catalog text; falls back to English, then to the id itself (visible in tests)."""
    return catalog(language).get(message_id) or catalog(DEFAULT).get(message_id) or message_id


def ngettext(language: str, message_id: str, count: int) -> str:
    """The raw catalog text in the form for `count`, by Babel's `ngettext` (falling back to
    English like `gettext`)."""
    for lang in (language, DEFAULT):
        entry = plurals(lang).get(message_id)
        if entry is not None:
            return str(_translations(lang).ngettext(message_id, entry[0], count))
    return gettext(language, message_id)


def template(language: str, message_id: str, values: Mapping[str, Any]) -> str:
    """The raw text for these values: the plural form their count asks for, if it has forms."""
    entry = plurals(language).get(message_id) or plurals(DEFAULT).get(message_id)
    if entry is not None and isinstance(values.get(entry[0]), int):
        return ngettext(language, message_id, values[entry[0]])
    return gettext(language, message_id)


def plain(language: str, message_id: str, /, **values: Any) -> str:
    """A catalog text filled in without HTML escaping, for the terminal."""
    return template(language, message_id, values).format_map(values)


def _(language: str, message_id: str, /, **values: Any) -> str:
    """Translate and fill in placeholders, escaping every value for Telegram's HTML mode."""
    text = template(language, message_id, values)
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
