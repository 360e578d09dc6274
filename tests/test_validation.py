"""What people type: every validator accepts what it should, refuses the rest, never crashes."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.validation import (
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


@given(text=st.text(max_size=400))
def test_accepted_free_text_is_clean_bounded_and_stable(text):
    result = validate_short_text(text)
    if isinstance(result, Valid):
        value = result.value
        assert 2 <= len(value) <= 150
        assert value == value.strip()
        assert "  " not in value and "\n" not in value
        assert not any(unicodedata.category(ch) in {"Cc", "Cf", "Cs", "Co", "Cn"} for ch in value)
        assert validate_short_text(value) == Valid(value)  # cleaning twice changes nothing


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
