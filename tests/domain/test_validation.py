"""What people type: every validator accepts what it should, refuses the rest, never crashes."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.domain.validation import (
    Invalid,
    Valid,
    clean_text,
    validate_code,
    validate_email,
    validate_name,
    validate_phone,
    validate_short_text,
)

VALIDATORS = [validate_name, validate_short_text, validate_email, validate_phone, validate_code]


@pytest.mark.parametrize("validator", VALIDATORS)
@given(text=st.text(max_size=6000))
def test_any_text_gets_a_verdict_and_never_an_exception(validator, text):
    result = validator(text)
    assert isinstance(result, Valid | Invalid)
    if isinstance(result, Invalid):
        assert result.message_id.startswith("invalid.")


ZWJ = "\u200d"
TAGS = {chr(c) for c in range(0xE0020, 0xE0080)}  # tag letters and the cancel tag of flags


def _only_emoji_joiners_are_invisible(value: str) -> bool:
    """Every format character left is a joiner between two emoji (either side may carry a
    presentation selector or skin tone) or part of a flag's tag sequence."""
    for at, ch in enumerate(value):
        category = unicodedata.category(ch)
        if category in {"Cc", "Cs", "Co", "Cn"}:
            return False
        if category != "Cf" or ch in TAGS:
            continue
        if ch != ZWJ or at == 0 or at == len(value) - 1:
            return False
        if (
            value[at - 1].isspace()
            or value[at - 1].isalnum()
            or unicodedata.category(value[at + 1]) != "So"
        ):
            return False
    return True


@given(text=st.text(max_size=400))
def test_accepted_free_text_is_clean_bounded_and_stable(text):
    result = validate_short_text(text)
    if isinstance(result, Valid):
        value = result.value
        assert 2 <= len(value) <= 150
        assert value == value.strip()
        assert "  " not in value and "\n" not in value
        assert _only_emoji_joiners_are_invisible(value)
        assert validate_short_text(value) == Valid(value)  # cleaning twice changes nothing


BIDI_AND_BREAKS = (
    "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c\r\n\u200b"
)
EMOJI = ["👩", "👨🏽", "🧑", "⚕\ufe0f", "💻", "🏳\ufe0f", "🌈", "❤\ufe0f", "🔥", "🤝"]
emoji_sequences = st.lists(st.sampled_from(EMOJI), min_size=2, max_size=4).map(ZWJ.join)
plain_names = (
    st.text(alphabet=st.characters(categories=["Lu", "Ll", "Lo"]), min_size=2, max_size=40)
    .map(lambda name: unicodedata.normalize("NFC", name))
    .filter(lambda name: len(name) >= 2)
)


@given(text=st.text(max_size=300) | st.text(alphabet=BIDI_AND_BREAKS + "Kari 👩⚕" + ZWJ))
def test_an_accepted_name_is_one_clean_bounded_line_that_stays_as_it_is(text):
    result = validate_name(text)
    if isinstance(result, Valid):
        value = result.value
        assert 2 <= len(value) <= 100 and any(ch.isalpha() for ch in value)
        assert not set(value) & set(BIDI_AND_BREAKS)
        assert _only_emoji_joiners_are_invisible(value)
        assert validate_name(value) == Valid(value)


@given(name=plain_names, at=st.integers(min_value=0), bad=st.sampled_from(BIDI_AND_BREAKS))
def test_a_direction_override_line_break_or_zero_width_space_anywhere_is_refused(name, at, bad):
    assert isinstance(validate_name(name), Valid)
    at %= len(name) + 1
    assert validate_name(name[:at] + bad + name[at:]) == Invalid("invalid.characters")


@given(emoji=emoji_sequences, name=plain_names, before=st.booleans())
def test_names_with_joined_emoji_are_ordinary_names(emoji, name, before):
    typed = f"{emoji} {name}" if before else f"{name} {emoji}"
    assert validate_name(typed) == Valid(typed)


@given(name=plain_names, extra=st.integers(min_value=1, max_value=200))
def test_a_name_over_one_hundred_characters_is_refused(name, extra):
    long_name = (name + " ") * (100 // len(name) + 1) + "x" * extra
    assert validate_name(long_name) == Invalid("invalid.too_long")


@given(name=plain_names)
def test_a_joiner_that_joins_no_emoji_is_refused(name):
    for at in range(len(name) + 1):
        assert validate_name(name[:at] + ZWJ + name[at:]) == Invalid("invalid.characters")


def test_a_huge_text_is_refused_as_too_long():
    assert validate_short_text("a" * 5000) == Invalid("invalid.too_long")


def test_control_and_invisible_characters_are_refused_not_silently_dropped():
    assert validate_name("Kari\x00 Nordmann") == Invalid("invalid.characters")
    assert validate_name("Kari\u200b Nordmann") == Invalid("invalid.characters")


def test_html_in_a_name_is_kept_as_text_for_escaping_later():
    assert validate_name("<b>Kari</b> & Ola") == Valid("<b>Kari</b> & Ola")


@pytest.mark.parametrize("name", ["Kari Nordmann", "Åse Øvrebø-Ås", "李小龙", "O'Brien"])
def test_real_names_are_accepted(name):
    assert validate_name(name) == Valid(name)


@pytest.mark.parametrize("name", ["", " ", "1234", "..", "a"])
def test_non_names_are_refused(name):
    assert isinstance(validate_name(name), Invalid)


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("kari.nordmann@ous-hf.no", "kari.nordmann@ous-hf.no"),
        ("  Kari@UiB.NO ", "Kari@uib.no"),
        ("first+tag@helse-bergen.no", "first+tag@helse-bergen.no"),
    ],
)
def test_work_emails_are_accepted_with_the_domain_lowercased(raw, clean):
    assert validate_email(raw) == Valid(clean)


@pytest.mark.parametrize(
    "raw",
    [
        "kari",
        "kari@",
        "@uio.no",
        "kari@uio",
        "kari@@uio.no",
        "kari nordmann@uio.no",
        ".kari@uio.no",
        "ka..ri@uio.no",
        "<script>@x.no",
        "a" * 250 + "@uio.no",
    ],
)
def test_invalid_emails_are_refused(raw):
    assert validate_email(raw) == Invalid("invalid.email")


@given(st.emails())
def test_every_accepted_email_has_one_at_and_a_dotted_domain(email):
    result = validate_email(email)
    if isinstance(result, Valid):
        local, _, domain = result.value.rpartition("@")
        assert local and "." in domain and domain == domain.lower()


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("912 34 567", "+4791234567"),
        ("+47 912 34 567", "+4791234567"),
        ("0046 70 123 45 67", "+46701234567"),
        ("+1 (415) 555-0100", "+14155550100"),
    ],
)
def test_phone_numbers_are_normalised(raw, clean):
    assert validate_phone(raw) == Valid(clean)


@pytest.mark.parametrize("raw", ["12", "phone", "+47 91 23", "9123456789012345678", "+47<b>"])
def test_invalid_phone_numbers_are_refused(raw):
    assert validate_phone(raw) == Invalid("invalid.phone")


@given(st.text(alphabet="0123456789 ", max_size=12))
def test_codes_are_six_digits_with_spaces_ignored(raw):
    digits = raw.replace(" ", "")
    assert isinstance(validate_code(raw), Valid) == (len(digits) == 6)


def test_clean_text_folds_whitespace():
    assert clean_text("  Haukeland \n universitetssjukehus ", max_length=100) == Valid(
        "Haukeland universitetssjukehus"
    )
