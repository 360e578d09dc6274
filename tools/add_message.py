"""Add or update one message id in both catalogs: `tools/add_message.py ID "English" "Bokmål"`.

A message whose grammar follows a count ("1 place", "2 places") has a form per count:
`tools/add_message.py --plural ID COUNT "English one" "English many" "Bokmål one" "Bokmål many"`,
where COUNT names the placeholder that counts (`places` for `{places}`); see `bot.core.i18n`.
`tools/add_message.py --remove ID` takes a message out of both catalogs.

Placeholders (`{name}`) must match between the two languages (and between the forms).
The .po files stay the source of truth; this only saves hand-editing two files (and takes a
lock, so parallel edits are safe).
"""

from __future__ import annotations

import fcntl
import re
import sys
from pathlib import Path

from babel.messages.pofile import read_po, write_po

ROOT = Path(__file__).resolve().parent.parent
LOCALES = ROOT / "templates" / "locale"


def add(
    message_id: str | tuple[str, str],
    english: str | tuple[str, str],
    bokmal: str | tuple[str, str],
) -> None:
    texts = [t for text in (english, bokmal) for t in ([text] if isinstance(text, str) else text)]
    placeholders = [set(re.findall(r"\{(\w+)\}", t)) for t in texts]
    if any(p != placeholders[0] for p in placeholders):
        raise SystemExit(f"placeholders differ: {placeholders}")
    if isinstance(message_id, tuple) and message_id[1] not in placeholders[0]:
        raise SystemExit(f"the count {{{message_id[1]}}} is not a placeholder of the message")
    with open(LOCALES / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        for language, text in (("en", english), ("nb", bokmal)):
            path = LOCALES / language / "LC_MESSAGES" / "messages.po"
            with path.open("rb") as handle:
                catalog = read_po(handle, locale=language)
            key = message_id[0] if isinstance(message_id, tuple) else message_id
            if key in catalog:  # Babel's `add` would keep the old text of an existing id
                catalog.delete(key)
            catalog.add(message_id, text)
            with path.open("wb") as handle:
                write_po(handle, catalog, width=100, sort_output=True)


def remove(message_id: str) -> None:
    with open(LOCALES / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        for language in ("en", "nb"):
            path = LOCALES / language / "LC_MESSAGES" / "messages.po"
            with path.open("rb") as handle:
                catalog = read_po(handle, locale=language)
            if message_id not in catalog:
                raise SystemExit(f"{language}: no message {message_id}")
            catalog.delete(message_id)
            with path.open("wb") as handle:
                write_po(handle, catalog, width=100, sort_output=True)


if __name__ == "__main__":
    if len(sys.argv) == 8 and sys.argv[1] == "--plural":
        _, _, key, count, en_one, en_many, nb_one, nb_many = sys.argv
        add((key, count), (en_one, en_many), (nb_one, nb_many))
    elif len(sys.argv) == 3 and sys.argv[1] == "--remove":
        remove(sys.argv[2])
    elif len(sys.argv) == 4:
        add(sys.argv[1], sys.argv[2], sys.argv[3])
    else:
        raise SystemExit(__doc__)
