"""Telegram's HTML parse mode, parsed the way Telegram parses it: markup in, displayed text and
message entities out. Pure: no I/O.

Telegram never stores the markup a bot sends; it stores what the person sees (the text) and the
formatting as entities (UTF-16 offsets). Whatever imitates Telegram must do the same, or a
message read back (PTB's `Message.text_html`) is the markup escaped a second time: the terminal
demo and the tests' fake Bot API both answer with what this module returns.

The parser is strict: where Telegram answers "can't parse entities" it raises `HtmlParseError`
with Telegram's kind of description, and (stricter than Telegram) for a bare `&` that does not
start an entity, so a missing `escape()` never passes unnoticed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Final

Entity = dict[str, Any]
"""A MessageEntity as the Bot API sends it (`type`, `offset`, `length`, and `url`, ...)."""

TELEGRAM_STRIP: Final = " \t\r\n\v\f\0"
"""What Telegram trims from both ends of a message before storing it."""


def utf16_len(text: str) -> int:
    """Length of ``text`` in UTF-16 code units (the unit of Telegram entity offsets)."""
    return len(text.encode("utf-16-le")) // 2


class HtmlParseError(ValueError):
    """Raised by :func:`parse_html` for text Telegram would reject with "can't parse entities"."""


_HTML_TAGS = frozenset(
    {
        "b",
        "strong",
        "i",
        "em",
        "u",
        "ins",
        "s",
        "strike",
        "del",
        "span",
        "tg-spoiler",
        "a",
        "code",
        "pre",
        "blockquote",
        "tg-emoji",
    }
)
_TAG_ENTITY_TYPES = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "span": "spoiler",
    "tg-spoiler": "spoiler",
    "a": "text_link",
    "code": "code",
    "pre": "pre",
    "blockquote": "blockquote",
    "tg-emoji": "custom_emoji",
}
_NAMED_HTML_ENTITIES = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
_TAG_NAME_RE = re.compile(r"[A-Za-z][A-Za-z0-9-]*")
_ATTR_NAME_RE = re.compile(r"[A-Za-z0-9_-]+")
_UNQUOTED_ATTR_RE = re.compile(r"[^\s>]*")
_HTML_ENTITY_RE = re.compile(
    r"&(?:#([0-9]{1,8})|#[xX]([0-9A-Fa-f]{1,8})|([A-Za-z][A-Za-z0-9]{0,31}));"
)
_HTML_SPACE = " \t\r\n\f"


@dataclass
class _OpenTag:
    name: str
    attrs: dict[str, str]
    start: int  # UTF-16 offset in the visible text
    byte_offset: int
    language: str | None = None


def _byte_offset(text: str, index: int) -> int:
    return len(text[:index].encode("utf-8"))


def _decode_html_entity(text: str, index: int, base: int = 0) -> tuple[str, int]:
    """Decode the entity starting at ``text[index] == '&'``; return (character, next index)."""
    match = _HTML_ENTITY_RE.match(text, index)
    where = base + _byte_offset(text, index)
    if match is None:
        raise HtmlParseError(
            f'Character "&" at byte offset {where} must be escaped as "&amp;" '
            "(it does not start a valid HTML entity)"
        )
    decimal, hexadecimal, name = match.groups()
    if name is not None:
        if name not in _NAMED_HTML_ENTITIES:
            raise HtmlParseError(f'Unsupported HTML entity "&{name};" at byte offset {where}')
        return _NAMED_HTML_ENTITIES[name], match.end()
    code_point = int(decimal) if decimal is not None else int(hexadecimal, 16)
    if code_point == 0 or code_point > 0x10FFFF or 0xD800 <= code_point <= 0xDFFF:
        raise HtmlParseError(f"Invalid numeric HTML entity at byte offset {where}")
    return chr(code_point), match.end()


def _decode_attribute_value(raw: str, base: int) -> str:
    out: list[str] = []
    i = 0
    while i < len(raw):
        if raw[i] == "&":
            char, i = _decode_html_entity(raw, i, base)
            out.append(char)
        else:
            out.append(raw[i])
            i += 1
    return "".join(out)


def _skip_space(text: str, index: int) -> int:
    while index < len(text) and text[index] in _HTML_SPACE:
        index += 1
    return index


def _parse_start_tag(text: str, index: int) -> tuple[str, dict[str, str], int]:
    """Parse ``<name attr="v" ...>`` at ``index``; return (name, attributes, next index)."""
    where = _byte_offset(text, index)
    name_match = _TAG_NAME_RE.match(text, index + 1)
    if name_match is None:
        raise HtmlParseError(
            f'Unsupported start tag "" at byte offset {where} '
            '(a literal "<" must be escaped as "&lt;")'
        )
    name = name_match.group(0).lower()
    if name not in _HTML_TAGS:
        raise HtmlParseError(f'Unsupported start tag "{name}" at byte offset {where}')
    attrs: dict[str, str] = {}
    i = name_match.end()
    while True:
        after_space = _skip_space(text, i)
        if after_space >= len(text):
            raise HtmlParseError(f"Unclosed start tag at byte offset {where}")
        if text[after_space] == ">":
            return name, attrs, after_space + 1
        if after_space == i:
            raise HtmlParseError(
                f'Unexpected character {text[i]!r} in the tag "{name}" at byte offset {where}'
            )
        attr_match = _ATTR_NAME_RE.match(text, after_space)
        if attr_match is None:
            raise HtmlParseError(f'Empty attribute name in the tag "{name}" at byte offset {where}')
        attr_name = attr_match.group(0).lower()
        i = _skip_space(text, attr_match.end())
        value = ""
        if i < len(text) and text[i] == "=":
            i = _skip_space(text, i + 1)
            if i >= len(text):
                raise HtmlParseError(f"Unclosed start tag at byte offset {where}")
            if text[i] in "\"'":
                end = text.find(text[i], i + 1)
                if end < 0:
                    raise HtmlParseError(f"Unclosed start tag at byte offset {where}")
                raw, value_start, i = text[i + 1 : end], i + 1, end + 1
            else:
                value_match = _UNQUOTED_ATTR_RE.match(text, i)
                assert value_match is not None
                raw, value_start, i = value_match.group(0), i, value_match.end()
            value = _decode_attribute_value(raw, _byte_offset(text, value_start))
        attrs[attr_name] = value


def _validate_tag(name: str, attrs: dict[str, str], where: int) -> None:
    if name == "a" and not attrs.get("href", "").strip():
        raise HtmlParseError(
            f'Tag "a" must have a non-empty attribute "href" at byte offset {where}'
        )
    if name == "span" and attrs.get("class") != "tg-spoiler":
        raise HtmlParseError(f'Tag "span" must have class "tg-spoiler" at byte offset {where}')
    if name == "tg-emoji" and not attrs.get("emoji-id", "").isdigit():
        raise HtmlParseError(
            f'Tag "tg-emoji" must have a numeric attribute "emoji-id" at byte offset {where}'
        )


def _entity_for(tag: _OpenTag, end: int) -> Entity | None:
    length = end - tag.start
    if length <= 0:
        return None
    entity: Entity = {
        "type": _TAG_ENTITY_TYPES[tag.name],
        "offset": tag.start,
        "length": length,
    }
    if tag.name == "a":
        entity["url"] = tag.attrs["href"]
    elif tag.name == "pre" and tag.language:
        entity["language"] = tag.language
    elif tag.name == "blockquote" and "expandable" in tag.attrs:
        entity["type"] = "expandable_blockquote"
    elif tag.name == "tg-emoji":
        entity["custom_emoji_id"] = tag.attrs["emoji-id"]
    return entity


def parse_html_entities(text: str) -> tuple[str, list[Entity]]:
    """Parse Telegram's HTML subset strictly.

    Returns the visible text (not yet whitespace-trimmed) and the MessageEntity dicts (UTF-16
    offsets). Raises :class:`HtmlParseError` where Telegram would answer "can't parse entities"
    - plus, stricter than Telegram, for a bare ``&`` that does not start an entity.
    """
    out: list[str] = []
    position = 0  # UTF-16 offset of the next visible character
    entities: list[Entity] = []
    stack: list[_OpenTag] = []
    i = 0
    n = len(text)
    while i < n:
        char = text[i]
        if char == "<" and text.startswith("</", i):
            where = _byte_offset(text, i)
            name_match = _TAG_NAME_RE.match(text, i + 2)
            name = name_match.group(0).lower() if name_match else ""
            end = _skip_space(text, name_match.end() if name_match else i + 2)
            if end >= n or text[end] != ">":
                raise HtmlParseError(f"Unclosed end tag at byte offset {where}")
            if not stack:
                raise HtmlParseError(f'Unexpected end tag "</{name}>" at byte offset {where}')
            top = stack[-1]
            if top.name != name:
                raise HtmlParseError(
                    f'Unmatched end tag at byte offset {where}, expected "</{top.name}>", '
                    f'found "</{name}>"'
                )
            stack.pop()
            parent = stack[-1] if stack else None
            if top.name == "code" and parent is not None and parent.name == "pre":
                # <pre><code class="language-x">...</code></pre> is one "pre" entity.
                css_class = top.attrs.get("class", "")
                if css_class.startswith("language-") and len(css_class) > len("language-"):
                    parent.language = css_class[len("language-") :]
            else:
                entity = _entity_for(top, position)
                if entity is not None:
                    entities.append(entity)
            i = end + 1
        elif char == "<":
            where = _byte_offset(text, i)
            name, attrs, i = _parse_start_tag(text, i)
            _validate_tag(name, attrs, where)
            stack.append(_OpenTag(name=name, attrs=attrs, start=position, byte_offset=where))
        elif char == "&":
            decoded, i = _decode_html_entity(text, i)
            out.append(decoded)
            position += utf16_len(decoded)
        else:
            out.append(char)
            position += 2 if ord(char) > 0xFFFF else 1
            i += 1
    if stack:
        raise HtmlParseError(
            f'Can\'t find end tag corresponding to start tag "{stack[-1].name}" '
            f"(opened at byte offset {stack[-1].byte_offset})"
        )
    entities.sort(key=lambda e: (e["offset"], -e["length"]))
    return "".join(out), entities


def parse_html(text: str, *, strip: bool = False) -> str:
    """Return the visible plain text of an HTML-parse-mode message (raises ValueError if invalid).

    With ``strip=True`` leading/trailing whitespace is trimmed like Telegram does on delivery.
    """
    visible, _ = parse_html_entities(text)
    return visible.strip(TELEGRAM_STRIP) if strip else visible


def trim(text: str, entities: list[Entity]) -> tuple[str, list[Entity]]:
    """Trim whitespace at both ends (as Telegram does on delivery), shifting and clipping the
    entities with it."""
    stripped = text.strip(TELEGRAM_STRIP)
    if stripped == text:
        return text, entities
    lead = utf16_len(text[: len(text) - len(text.lstrip(TELEGRAM_STRIP))])
    total = utf16_len(stripped)
    result: list[Entity] = []
    for entity in entities:
        start = max(int(entity.get("offset", 0)) - lead, 0)
        end = min(int(entity.get("offset", 0)) + int(entity.get("length", 0)) - lead, total)
        if end > start:
            result.append({**entity, "offset": start, "length": end - start})
    return stripped, result


def received(text: str) -> tuple[str, list[Entity]]:
    """What Telegram stores for an HTML-parse-mode `text`: the trimmed visible text and its
    entities (raises `HtmlParseError` where Telegram would refuse the message)."""
    return trim(*parse_html_entities(text))


def utf16_slice(text: str, offset: int, length: int) -> str:
    """The part of `text` an entity covers (its offsets count UTF-16 code units)."""
    units = text.encode("utf-16-le")
    return units[2 * offset : 2 * (offset + length)].decode("utf-16-le")
