"""Add or update one message id in both catalogs: `tools/add_message.py ID "English" "Bokmål"`.

Placeholders (`{name}`) must match between the two languages. The .po files stay the source of
truth; this only saves hand-editing two files (and takes a lock, so parallel edits are safe).
"""

from __future__ import annotations

import fcntl
import re
import sys
from pathlib import Path

from babel.messages.pofile import read_po, write_po

ROOT = Path(__file__).resolve().parent.parent
LOCALES = ROOT / "templates" / "locale"


def add(message_id: str, english: str, bokmal: str) -> None:
    placeholders = [set(re.findall(r"\{(\w+)\}", t)) for t in (english, bokmal)]
    if placeholders[0] != placeholders[1]:
        raise SystemExit(f"placeholders differ: {placeholders[0]} vs {placeholders[1]}")
    with open(LOCALES / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        for language, text in (("en", english), ("nb", bokmal)):
            path = LOCALES / language / "LC_MESSAGES" / "messages.po"
            with path.open("rb") as handle:
                catalog = read_po(handle, locale=language)
            catalog.add(message_id, text)
            with path.open("wb") as handle:
                write_po(handle, catalog, width=100, sort_output=True)


if __name__ == "__main__":
    if len(sys.argv) != 4:
        raise SystemExit(__doc__)
    add(sys.argv[1], sys.argv[2], sys.argv[3])
