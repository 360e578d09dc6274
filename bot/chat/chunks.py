"""Cutting long chat texts into messages Telegram accepts.

Telegram refuses a message whose visible text (after its HTML parsing) is longer than 4096
UTF-16 code units, or whose inline keyboard has more than 100 buttons, and the person then sees
nothing but an error. Texts built from data (a month of slots, a list of tasks) grow without
bound, so they are cut here: between lines wherever possible, so no line is ever split over two
messages, and each piece keeps the buttons that belong to its lines.

The visible length is measured on the bot's own HTML, which only ever holds simple tags
(``<b>``, ``<i>``, ``<code>``, ``<a href="...">``) and escaped entities (``&lt;``, ``&amp;``,
...): tags count nothing, an entity counts as the character it stands for, everything else
counts its UTF-16 code units, as Telegram counts. Only a single line longer than a whole message
(which the bot's own lines never are) is cut inside; even then never inside a tag or an entity,
and the tags open at the cut are closed before it and opened again after it.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Final, Generic, TypeVar

LIMIT: Final = 4096
MAX_BUTTONS: Final = 100

T = TypeVar("T")

_TOKEN: Final = re.compile(r"<[^<>]*>|&#?[A-Za-z0-9]{1,32};|[^<&]+|[<&]")
_TAG_NAME: Final = re.compile(r"</?\s*([A-Za-z][A-Za-z0-9-]*)")


def utf16_len(text: str) -> int:
    """Length in UTF-16 code units, the unit of Telegram's limits and entity offsets."""
    return len(text.encode("utf-16-le")) // 2


def _token_length(token: str) -> int:
    if token.startswith("<") and token.endswith(">"):
        return 0
    if token.startswith("&") and token.endswith(";"):
        return utf16_len(html.unescape(token))
    return utf16_len(token)


def visible_length(text: str) -> int:
    """How long Telegram considers this HTML text: its visible characters in UTF-16 units."""
    return sum(_token_length(token) for token in _TOKEN.findall(text))


def fits(text: str, limit: int = LIMIT) -> bool:
    return visible_length(text) <= limit


@dataclass
class Part(Generic[T]):
    """One message's worth: its HTML text and the keyboard rows that go with it."""

    text: str
    rows: list[list[T]] = field(default_factory=list)

    @property
    def buttons(self) -> int:
        return sum(len(row) for row in self.rows)


def _cut_line(line: str, limit: int) -> list[str]:
    """A line too long for one message, cut between characters outside tags and entities; the
    tags open at a cut are closed before it and reopened after it, so each piece is valid."""
    pieces: list[str] = []
    current: list[str] = []
    used = 0
    open_tags: list[tuple[str, str]] = []  # (name, the opening tag as written)

    def flush() -> None:
        nonlocal current, used
        closing = "".join(f"</{name}>" for name, _ in reversed(open_tags))
        pieces.append("".join(current) + closing)
        current = [tag for _, tag in open_tags]
        used = 0

    for token in _TOKEN.findall(line):
        if token.startswith("<") and token.endswith(">"):
            match = _TAG_NAME.match(token)
            name = match.group(1).lower() if match else ""
            if token.startswith("</"):
                if open_tags and open_tags[-1][0] == name:
                    open_tags.pop()
            elif not token.endswith("/>"):
                open_tags.append((name, token))
            current.append(token)
            continue
        units = [token] if token.startswith("&") and token.endswith(";") else list(token)
        for unit in units:
            size = _token_length(unit)
            if used + size > limit and used > 0:
                flush()
            current.append(unit)
            used += size
    if used > 0 or not pieces:
        pieces.append("".join(current))
    return pieces


def split_text(text: str, limit: int = LIMIT) -> list[str]:
    """Cut `text` into messages of at most `limit` visible units, between lines.

    Joined with newlines the parts give back `text` exactly, unless a single line was longer
    than `limit` (see `_cut_line`). Parts without any visible character are left out: Telegram
    refuses an empty message.
    """
    entries: list[tuple[str, list[list[object]]]] = [(line, []) for line in text.split("\n")]
    return [part.text for part in pack(None, entries, limit)]


def pack(
    header: str | None,
    entries: Sequence[tuple[str, Sequence[Sequence[T]]]],
    limit: int = LIMIT,
    max_buttons: int = MAX_BUTTONS,
) -> list[Part[T]]:
    """Fill messages with entries (a line, or a few, and the keyboard rows that belong to them),
    in order, never splitting an entry while it fits in a message of its own.

    Each message starts with `header` (a month's heading, say), so every message still says
    what it lists. An entry with more than `max_buttons` buttons has its rows spread over
    messages with the entry's last line.
    """
    prefix = f"{header}\n" if header else ""
    room = limit - visible_length(prefix)
    if room <= 0:
        raise ValueError("the header alone does not fit in a message")
    parts: list[Part[T]] = []
    lines: list[str] = []
    rows: list[list[T]] = []
    used = 0

    def close() -> None:
        nonlocal lines, rows, used
        if lines or rows:
            parts.append(Part(prefix + "\n".join(lines), rows))
        lines, rows, used = [], [], 0

    for text, entry_rows in entries:
        size = visible_length(text)
        count = sum(len(row) for row in entry_rows)
        grows = size + (1 if lines else 0)  # the line and the newline before it
        if lines and (used + grows > room or sum(len(r) for r in rows) + count > max_buttons):
            close()
        pieces = [text] if size <= room else _cut_line(text, room)
        for piece in pieces[:-1]:
            lines.append(piece)
            close()
        lines.append(pieces[-1])
        used += visible_length(pieces[-1]) + (1 if len(lines) > 1 else 0)
        for row in entry_rows:
            if sum(len(r) for r in rows) + len(row) > max_buttons and rows:
                close()
                lines.append(pieces[-1])
                used = visible_length(pieces[-1])
            rows.append(list(row))
    close()
    return [part for part in parts if _visible(part.text)]


def _visible(text: str) -> bool:
    plain = "".join(
        html.unescape(t)
        for t in _TOKEN.findall(text)
        if not (t.startswith("<") and t.endswith(">"))
    )
    return bool(plain.strip(" \t\r\n\v\f\0"))


def split_rows(rows: Sequence[Sequence[T]], max_buttons: int = MAX_BUTTONS) -> list[list[list[T]]]:
    """Keyboard rows in groups of at most `max_buttons` buttons, rows kept whole."""
    groups: list[list[list[T]]] = []
    current: list[list[T]] = []
    count = 0
    for row in rows:
        for start in range(0, max(len(row), 1), max_buttons):
            piece = list(row[start : start + max_buttons])
            if current and count + len(piece) > max_buttons:
                groups.append(current)
                current, count = [], 0
            current.append(piece)
            count += len(piece)
    if current:
        groups.append(current)
    return groups
