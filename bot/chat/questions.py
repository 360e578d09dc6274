"""Binding a confirmation's buttons to what it asks about.

A yes/no button carries `<subject id>.<question id>`; the question row (`storage.questions`)
remembers the fingerprint of its subject as it was when asked, and is answered at most once. So
"Yes" acts only on an unanswered question about an unchanged thing: not after "No", not from a
screen shown again (the terminal demo's `/as`), not after the slot filled or the task changed.
`/pending`'s approve and return carry `<task id>.<fingerprint>` directly: a card is not a
question, but it must only act on the task as the card showed it.

A fingerprint, not a version counter: it needs no migration of the rows it describes and no
code path that could forget to bump a counter. `updated_at` is left out because locking a slot
touches it without changing anything a person sees.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from typing import Final

from sqlmodel import SQLModel

from bot.chat.turn import Turn
from bot.core.i18n import Translator

_PAIR: Final = re.compile(r"([0-9]{1,12})(?:\.([0-9A-Za-z_-]{1,16}))?")
_IGNORED: Final = frozenset({"updated_at"})


def fingerprint(row: SQLModel) -> str:
    """Eight characters that change whenever anything about the row a person sees changes."""
    values = {k: v for k, v in row.model_dump().items() if k not in _IGNORED}
    digest = hashlib.sha256(json.dumps(values, sort_keys=True, default=str).encode()).digest()
    return base64.urlsafe_b64encode(digest[:6]).decode()


def pair(subject_id: int, tag: int | str) -> str:
    """The button value for a subject and its question id (or fingerprint)."""
    return f"{subject_id}.{tag}"


def split(value: str) -> tuple[int, str] | None:
    """`12` -> (12, ""), `12.34` -> (12, "34"); None for anything else (ASCII digits only)."""
    match = _PAIR.fullmatch(value)
    if match is None:
        return None
    return int(match.group(1)), match.group(2) or ""


def question_id(tag: str) -> int | None:
    return int(tag) if re.fullmatch(r"[0-9]{1,12}", tag) else None


async def already_answered(turn: Turn, tr: Translator) -> None:
    """Say so on the button, and take the buttons off the stale question (keeping its text)."""
    if turn.query is None:
        return
    await turn.query.answer(tr("question.answered"))
    if text := turn.pressed_html():
        await turn.close(text)
