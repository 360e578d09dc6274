"""Cutting long chat texts: every part fits Telegram's limits as Telegram measures them, nothing
is lost, and lines are never split (property-tested against the fake Bot API's own parser)."""

from __future__ import annotations

from html import escape

from hypothesis import assume, given
from hypothesis import strategies as st

from bot.chat import chunks
from bot.chat.telegram_html import parse_html, utf16_len

# Text as the bot writes it: escaped values, some in simple tags, any characters (emoji too).
_value = st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\n"), max_size=60)
_fragment = st.one_of(
    _value.map(escape),
    _value.map(lambda v: f"<b>{escape(v)}</b>"),
    _value.map(lambda v: f"<code>{escape(v)}</code>"),
    _value.map(lambda v: f'<a href="https://t.me/x?start={len(v)}">{escape(v)}</a>'),
)
_line = st.lists(_fragment, max_size=6).map("".join)


def _visible(text: str) -> int:
    return utf16_len(parse_html(text))


@given(_line)
def test_the_visible_length_is_what_telegram_counts(line):
    assert chunks.visible_length(line) == _visible(line)


@given(st.lists(_line, max_size=80), st.integers(min_value=300, max_value=4096))
def test_lines_are_packed_into_parts_that_fit_and_lose_nothing(lines, limit):
    text = "\n".join(lines)
    parts = chunks.split_text(text, limit)
    for part in parts:
        assert _visible(part) <= limit
    # Lines are whole and in order; only parts with nothing visible are left out.
    kept = [line for part in parts for line in part.split("\n")]
    visible_lines = [line for line in lines if parse_html(line).strip()]
    assert [line for line in kept if parse_html(line).strip()] == visible_lines
    if all(parse_html(part).strip() for part in text.split("\n")) and lines:
        assert "\n".join(parts) == text


@given(st.lists(_line, min_size=1, max_size=5), st.integers(min_value=20, max_value=200))
def test_a_line_longer_than_a_message_is_cut_outside_tags_and_keeps_every_character(
    fragments, limit
):
    line = "".join(fragments) * 4
    parts = chunks.split_text(line, limit)
    for part in parts:
        assert _visible(part) <= limit  # also: each part is valid HTML on its own
    assert "".join(parse_html(p) for p in parts).strip() == parse_html(line).strip() or not (
        parse_html(line).strip()
    )


@given(
    st.lists(
        st.tuples(_line, st.lists(st.lists(st.integers(), min_size=1, max_size=3), max_size=4)),
        max_size=120,
    ),
    st.integers(min_value=5, max_value=100),
)
def test_entries_keep_their_buttons_and_no_part_has_too_many(entries, max_buttons):
    parts = chunks.pack("<b>March 2027</b>", entries, max_buttons=max_buttons)
    for part in parts:
        assert _visible(part.text) <= chunks.LIMIT
        assert part.buttons <= max_buttons
        assert part.text.startswith("<b>March 2027</b>")
    shown = [row for part in parts for row in part.rows]
    assert shown == [list(row) for _, rows in entries for row in rows]


def test_two_hundred_slot_lines_become_messages_under_the_limit_with_100_buttons_at_most():
    line = "<code>SCORE-2027-03-OSL-{n:03}</code> Clinical, Oslo, from 2027-03-01, 4 weeks: " + (
        "2 places, 0 filled, 2 open – reply by 2026-12-21 😊"
    )
    entries = [(line.format(n=n), [[f"cancel {n}"]]) for n in range(200)]
    parts = chunks.pack("<b>March 2027</b>", entries)
    assert len(parts) >= 2
    assert all(_visible(p.text) <= 4096 and p.buttons <= 100 for p in parts)
    assert sum(p.buttons for p in parts) == 200


@given(st.lists(_line, max_size=150), st.integers(min_value=0, max_value=250))
def test_any_screen_goes_out_as_messages_telegram_accepts_with_every_button(lines, buttons):
    from bot.chat import ui
    from bot.domain.signing import Callback

    rows = [[ui.Button(str(n), Callback("x", "-", "b", str(n)))] for n in range(buttons)]
    text = "\n".join(lines)
    assume(parse_html(text).strip())  # the bot never sends an empty text
    screen = ui.Screen(text, rows, remove_keyboard=True)
    messages = ui.parts(screen)
    for message in messages:
        assert parse_html(message.text).strip() and _visible(message.text) <= chunks.LIMIT
        assert sum(len(row) for row in message.buttons) <= chunks.MAX_BUTTONS
    assert [row for m in messages for row in m.buttons] == rows
    assert messages[-1].remove_keyboard and not any(m.remove_keyboard for m in messages[:-1])
