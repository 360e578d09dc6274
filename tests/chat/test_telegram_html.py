"""Telegram's HTML parse mode (bot/chat/telegram_html.py): what a person sees of the markup the bot
sends, and what a message read back (PTB's `text_html`) turns into when it is sent again."""

from __future__ import annotations

import html

import pytest
from hypothesis import given
from hypothesis import strategies as st
from telegram import Message

from bot.chat.telegram_html import (
    HtmlParseError,
    parse_html,
    parse_html_entities,
    received,
    utf16_len,
    utf16_slice,
)

TAGS = ("b", "i", "u", "s", "code")


@pytest.mark.parametrize(
    "markup",
    [
        "<b>x",
        "a < b",
        "<div>x</div>",
        "<b>x</i>",
        "<b><i>x</b></i>",
        "x</b>",
        "Tom & Jerry",
        "&nbsp;",
        "&amp",
        "<a>link</a>",
        '<span class="other">x</span>',
        "<br/>",
        "<b",
        '<a href="x>y</a>',
        "&#0;",
    ],
)
def test_markup_telegram_refuses_is_refused(markup: str) -> None:
    with pytest.raises(HtmlParseError):
        parse_html(markup)


def test_the_whole_subset_becomes_text_and_entities() -> None:
    text, entities = parse_html_entities(
        "<B>b</B><strong>s</strong><i>i</i><em>e</em><u>u</u><ins>n</ins><s>s</s>"
        "<strike>k</strike><del>d</del><tg-spoiler>t</tg-spoiler>"
        '<span class="tg-spoiler">p</span><code>c</code>'
        '<pre><code class="language-python">x = 1</code></pre>'
        "<blockquote expandable>q</blockquote><blockquote>r</blockquote>"
        '<tg-emoji emoji-id="5368324170671202286">👍</tg-emoji>'
        "&lt;&gt;&quot;&#65;&#x42; > 😀<b>z</b>"
    )
    assert text == 'bsieunskdtpcx = 1qr👍<>"AB > 😀z'
    types = [e["type"] for e in entities]
    assert types[:10] == [
        "bold",
        "bold",
        "italic",
        "italic",
        "underline",
        "underline",
        "strikethrough",
        "strikethrough",
        "strikethrough",
        "spoiler",
    ]
    assert {"type": "pre", "offset": 12, "length": 5, "language": "python"} in entities
    assert "expandable_blockquote" in types and "blockquote" in types
    # UTF-16 offsets: 😀 counts as two code units
    assert entities[-1] == {"type": "bold", "offset": utf16_len(text) - 1, "length": 1}


def test_a_link_keeps_its_address() -> None:
    text, entities = parse_html_entities('<b>a &amp; b</b> <a href="https://x?a=1&amp;b=2">l</a>')
    assert text == "a & b l"
    assert entities == [
        {"type": "bold", "offset": 0, "length": 5},
        {"type": "text_link", "offset": 6, "length": 1, "url": "https://x?a=1&b=2"},
    ]


def test_what_telegram_stores_is_trimmed_with_its_entities_shifted() -> None:
    assert received("\n  <b>hei</b> <i>du </i> \n") == (
        "hei du",
        [{"type": "bold", "offset": 0, "length": 3}, {"type": "italic", "offset": 4, "length": 2}],
    )


# ---------------------------------------------------------------------------------- properties

plain = st.text(st.characters(exclude_categories=("Cs",)), max_size=40)
segments = st.lists(st.tuples(st.sampled_from((None, *TAGS)), plain), max_size=6)


@given(plain)
def test_escaped_text_reads_back_as_itself(text: str) -> None:
    assert parse_html_entities(html.escape(text)) == (text, [])


@given(st.text(max_size=60))
def test_any_string_is_parsed_or_refused_never_crashes(markup: str) -> None:
    try:
        text, entities = parse_html_entities(markup)
    except HtmlParseError:
        return
    for entity in entities:
        assert entity["offset"] >= 0 and entity["length"] > 0
        assert entity["offset"] + entity["length"] <= utf16_len(text)


@given(segments)
def test_every_tag_covers_exactly_its_text(parts: list[tuple[str | None, str]]) -> None:
    markup = "".join(
        f"<{tag}>{html.escape(text)}</{tag}>" if tag else html.escape(text) for tag, text in parts
    )
    text, entities = parse_html_entities(markup)
    assert text == "".join(t for _, t in parts)
    tagged = [(tag, t) for tag, t in parts if tag and t]
    assert len(entities) == len(tagged)
    covered = sorted(utf16_slice(text, e["offset"], e["length"]) for e in entities)
    assert covered == sorted(t for _, t in tagged)


@given(segments, st.sampled_from(TAGS))
def test_a_message_read_back_and_sent_again_shows_the_same(
    parts: list[tuple[str | None, str]], outer: str
) -> None:
    """What the demo relies on: PTB rebuilds markup (`text_html`) from the stored text and
    entities, and that markup parses to the very same text and entities."""
    inner = "".join(
        f"<{tag}>{html.escape(text)}</{tag}>" if tag else html.escape(text) for tag, text in parts
    )
    text, entities = received(f"<{outer}>Title</{outer}>\n{inner}")
    message = Message.de_json(
        {
            "message_id": 1,
            "date": 0,
            "chat": {"id": 1, "type": "private"},
            "text": text,
            "entities": entities,
        },
        None,
    )
    again = received(message.text_html)
    assert again[0] == text
    assert _shape(again[1]) == _shape(entities)


def _shape(entities: list[dict[str, object]]) -> list[tuple[object, ...]]:
    return sorted((e["type"], e["offset"], e["length"]) for e in entities)  # type: ignore[type-var]
