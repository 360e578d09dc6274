"""The slot CSV: every bad row is named with its line and reason; nothing ever raises."""

from __future__ import annotations

from datetime import date
from importlib.resources import files

from hypothesis import given
from hypothesis import strategies as st

from bot.core import i18n
from bot.core.i18n import Translator
from bot.domain.slots_csv import COLUMNS, RowError, describe, export_csv, parse
from storage.models import Slot
from storage.slots import csv_rows

HEADER = ",".join(COLUMNS)
EXAMPLE = (files("bot") / "data" / "slots-example.csv").read_bytes()


def reasons(errors: list[RowError]) -> list[tuple[int, str]]:
    return [(e.line, e.reason_id) for e in errors]


def test_the_example_file_parses_without_errors():
    rows, errors = parse(EXAMPLE)
    assert errors == []
    assert len(rows) == 11
    first = rows[0]
    assert (first.line, first.reference, first.city, first.start_date) == (
        2,
        "SCOPE-2027-01-OSL-1",
        "oslo",
        date(2027, 1, 4),
    )
    assert first.field_preference == "cardiology" and rows[1].field_preference is None


def test_excel_with_norwegian_settings_bom_semicolons_and_crlf():
    text = EXAMPLE.decode().replace(",", ";").replace("\n", "\r\n")
    rows, errors = parse(b"\xef\xbb\xbf" + text.encode())
    assert errors == [] and len(rows) == 11


def test_names_are_accepted_for_codes():
    rows, errors = parse(f"{HEADER}\nX1,Research,Tromsø,2027-03-01,8,1,Cardiology,\n")
    assert errors == []
    assert (rows[0].exchange_type, rows[0].city, rows[0].field_preference) == (
        "research",
        "tromso",
        "cardiology",
    )


def test_every_bad_row_is_reported_with_the_line_the_file_shows():
    text = "\n".join(
        [
            HEADER,
            "OK-1,clinical,oslo,2027-01-04,4,1,,Poland",
            "",
            "bad ref,clinical,oslo,2027-01-04,4,1,,",
            "OK-2,surgical,oslo,2027-01-04,4,1,,",
            "OK-3,clinical,atlantis,2027-01-04,4,1,,",
            "OK-4,clinical,oslo,04.01.2027,4,1,,",
            "OK-5,clinical,oslo,2027-02-30,4,1,,",
            "OK-6,research,oslo,2027-01-04,6,1,,",
            "OK-7,clinical,oslo,2027-01-04,8,1,,",
            "OK-8,clinical,oslo,2027-01-04,4,0,,",
            "OK-9,clinical,oslo,2027-01-04,4,21,,",
            "OK-10,clinical,oslo,2027-01-04,4,1,astrology,",
            "OK-1,clinical,oslo,2027-01-04,4,1,,",
            "OK-11,clinical,oslo",
            '"OK-12",clinical,oslo,2027-01-04,4,1,,"Two',
            'lines"',
            "OK-13,clinical,oslo,2027-01-04,4,1,,Chile",
        ]
    )
    rows, errors = parse(text)
    assert reasons(errors) == [
        (4, "slots.error.reference"),
        (5, "slots.error.exchange_type"),
        (6, "slots.error.city"),
        (7, "slots.error.start_date"),
        (8, "slots.error.start_date"),
        (9, "slots.error.weeks"),
        (10, "slots.error.weeks_clinical"),
        (11, "slots.error.places"),
        (12, "slots.error.places"),
        (13, "slots.error.field"),
        (14, "slots.error.duplicate"),
        (15, "slots.error.columns"),
        (16, "slots.error.partner_country"),
    ]
    assert [(r.line, r.reference) for r in rows] == [(2, "OK-1"), (18, "OK-13")]


def test_a_missing_or_different_header_is_one_error_on_line_1():
    for text in ("", "\n\n", "reference,city\nX,oslo\n", EXAMPLE.decode().split("\n", 1)[1]):
        assert reasons(parse(text)[1]) == [(1, "slots.error.header")]


def test_bytes_that_are_not_utf8_name_the_line():
    good = "A,clinical,oslo,2027-01-04,4,1,,Poland"
    data = f"{HEADER}\n{good}\nB,clinical,oslo,2027-01-04,4,1,,Bøsnia\n".encode("latin-1")
    rows, errors = parse(data)
    assert rows == [] and reasons(errors) == [(3, "slots.error.encoding")]


def test_errors_read_well_in_both_languages():
    error = RowError(6, "slots.error.city", "<atlantis>")
    assert describe(error, Translator("en")).startswith("Line 6: Unknown city “&lt;atlantis&gt;”")
    assert describe(error, Translator("nb")).startswith("Linje 6: Ukjent by «&lt;atlantis&gt;»")


def test_every_reason_is_a_message_in_both_languages():
    ids = {
        "slots.error.line",
        "slots.error.below_filled",
        "slots.error.unreadable",
        "slots.error.encoding",
        "slots.error.header",
        "slots.error.columns",
        *(f"slots.error.{name}" for name in ("duplicate", "weeks_clinical")),
        *(f"slots.error.{name}" for name in COLUMNS if name != "field_preference"),
        "slots.error.field",
    }
    for language in i18n.SUPPORTED:
        assert ids <= set(i18n.catalog(language)), ids - set(i18n.catalog(language))


def test_export_imports_back_unchanged():
    slots = [
        Slot(
            reference=f"R-{i}",
            exchange_type="research",
            city="bergen",
            start_date=date(2027, 8, 2),
            weeks=8,
            places=i,
            field_preference="global_health" if i % 2 else None,
            partner_country="Côte d'Ivoire, West" if i % 2 else None,
        )
        for i in (1, 2)
    ]
    rows, errors = parse(export_csv(csv_rows(slots)))
    assert errors == []
    assert [(r.reference, r.places, r.field_preference, r.partner_country) for r in rows] == [
        ("R-1", 1, "global_health", "Côte d'Ivoire, West"),
        ("R-2", 2, None, None),
    ]


# ---- properties ---------------------------------------------------------------------------


@given(st.binary(max_size=2000))
def test_arbitrary_bytes_never_raise(data):
    _, errors = parse(data)
    assert all(isinstance(e, RowError) for e in errors)
    assert all(e.line >= 1 for e in errors)


@given(st.text(max_size=2000))
def test_arbitrary_text_after_a_good_header_never_raises(text):
    _, errors = parse(HEADER + "\n" + text)
    assert all(e.line >= 2 for e in errors)
    lines = (HEADER + "\n" + text).count("\n") + 2
    assert all(e.line <= lines for e in errors)


cell = st.text(alphabet=st.characters(codec="utf-8"), max_size=12)


@given(st.lists(st.lists(cell, min_size=8, max_size=8), max_size=8))
def test_arbitrary_cells_give_rows_or_errors_never_both_for_a_line(table):
    import csv
    import io

    out = io.StringIO()
    csv.writer(out).writerows([list(COLUMNS), *table])
    rows, errors = parse(out.getvalue())
    assert not {r.line for r in rows} & {e.line for e in errors}
    for row in rows:
        assert row.exchange_type in ("clinical", "research")
        assert 1 <= row.places <= 20 and row.weeks in (4, 8)
