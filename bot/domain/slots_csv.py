"""Slot lists as CSV: the importer's parser and the exporter. Pure: no database, no chat.

One parser serves `python -m bot slots import` and a coordinator's upload in chat, so it never
raises on bad input: every problem is a `RowError` whose `reason_id` is a message id, rendered in
whoever's language reads it (`describe`). Line numbers are the ones a spreadsheet or editor shows
(the header is line 1), so a coordinator can go straight to the bad row.

Files from Excel with Norwegian settings use `;` and often start with a byte-order mark; both are
accepted. The columns are those of `bot/data/slots-example.csv`, in that order.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import Any, Final, Protocol

from markupsafe import Markup

from bot.domain import reference

COLUMNS: Final = (
    "reference",
    "exchange_type",
    "city",
    "start_date",
    "weeks",
    "places",
    "field_preference",
    "partner_country",
)
MAX_PLACES: Final = 20
MAX_COUNTRY: Final = 80
_REFERENCE = re.compile(r"[A-Za-z0-9_-]{1,60}")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_NUMBER = re.compile(r"[0-9]{1,3}")
_DETAIL_MAX = 60


class Translate(Protocol):
    """A message catalog bound to the reader's language (`bot.core.i18n.Translator`)."""

    def __call__(self, message_id: str, /, **values: Any) -> str: ...


@dataclass(frozen=True)
class SlotRow:
    """One slot as the file has it; `line` is where (exports number their rows the same way)."""

    line: int
    reference: str
    exchange_type: str
    city: str
    start_date: date
    weeks: int
    places: int
    field_preference: str | None
    partner_country: str | None


@dataclass(frozen=True)
class RowError:
    line: int
    reason_id: str  # a message id, e.g. "slots.error.city"
    detail: str = ""  # the offending value, shown as {value}


def describe(error: RowError, tr: Translate) -> str:
    """ "Line 4: Unknown city “osl”." in the reader's language (Telegram HTML, values escaped)."""
    reason = Markup(tr(error.reason_id, value=error.detail))
    return tr("slots.error.line", line=error.line, reason=reason)


def _codes(named: Iterable[reference.Named]) -> dict[str, str]:
    """Code, bokmål or English name (any case) -> code: people type "Tromsø" as often as
    "tromso"."""
    lookup: dict[str, str] = {}
    for item in named:
        for spelling in (item.en, item.nb, item.code):
            lookup[spelling.casefold()] = item.code
    return lookup


def _short(value: str) -> str:
    return value if len(value) <= _DETAIL_MAX else value[: _DETAIL_MAX - 1] + "…"


def _decode(data: bytes | str) -> tuple[str | None, RowError | None]:
    if isinstance(data, str):
        return data.removeprefix("\ufeff"), None
    try:
        return data.decode("utf-8-sig"), None
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        return None, RowError(line, "slots.error.encoding")


def _delimiter(text: str) -> str:
    first = text.splitlines()[0] if text else ""
    return ";" if first.count(";") > first.count(",") else ","


def _row(line: int, cells: list[str]) -> tuple[SlotRow | None, list[RowError]]:
    errors: list[RowError] = []

    def bad(reason: str, value: str) -> None:
        errors.append(RowError(line, f"slots.error.{reason}", _short(value)))

    ref, kind, city, start, weeks, places, field, country = (c.strip() for c in cells)
    if not _REFERENCE.fullmatch(ref):
        bad("reference", ref)
    kind = kind.lower()
    if kind not in reference.EXCHANGE_TYPES:
        bad("exchange_type", kind)
    city_code = _codes(reference.cities()).get(city.casefold())
    if city_code is None:
        bad("city", city)
    start_date: date | None = None
    if _DATE.fullmatch(start):
        try:
            start_date = date.fromisoformat(start)
        except ValueError:
            start_date = None
    if start_date is None:
        bad("start_date", start)
    n_weeks = int(weeks) if _NUMBER.fullmatch(weeks) else 0
    if n_weeks not in (4, 8):
        bad("weeks", weeks)
    elif n_weeks == 8 and kind == "clinical":
        bad("weeks_clinical", weeks)
    n_places = int(places) if _NUMBER.fullmatch(places) else 0
    if not 1 <= n_places <= MAX_PLACES:
        bad("places", places)
    field_code = _codes(reference.fields()).get(field.casefold()) if field else None
    if field and field_code is None:
        bad("field", field)
    if len(country) > MAX_COUNTRY or not country.isprintable():
        bad("partner_country", country)
    if errors or city_code is None or start_date is None:
        return None, errors
    return SlotRow(
        line, ref, kind, city_code, start_date, n_weeks, n_places, field_code, country or None
    ), []


def parse(data: bytes | str) -> tuple[list[SlotRow], list[RowError]]:
    """Every good row and every problem; never raises, whatever the bytes."""
    text, problem = _decode(data)
    if text is None:
        return [], [problem] if problem else []
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=_delimiter(text))
    rows: list[SlotRow] = []
    errors: list[RowError] = []
    seen: dict[str, int] = {}
    header_done = False
    line = ended = 0
    try:
        for cells in reader:
            # A quoted value may span lines: a record starts on the line after the previous one.
            line, ended = ended + 1, reader.line_num
            if not header_done:
                header_done = True
                if tuple(c.strip() for c in cells) != COLUMNS:
                    return [], [RowError(1, "slots.error.header", ",".join(COLUMNS))]
            elif any(c.strip() for c in cells):
                if len(cells) != len(COLUMNS):
                    errors.append(RowError(line, "slots.error.columns", str(len(cells))))
                else:
                    row, row_errors = _row(line, cells)
                    errors += row_errors
                    if row is not None and row.reference in seen:
                        errors.append(RowError(line, "slots.error.duplicate", row.reference))
                    elif row is not None:
                        seen[row.reference] = line
                        rows.append(row)
    except csv.Error:
        errors.append(RowError(ended + 1, "slots.error.unreadable"))
    if not header_done:
        return [], [RowError(1, "slots.error.header", ",".join(COLUMNS))]
    return rows, errors


def export_csv(slots: Iterable[SlotRow]) -> str:
    """The slots in the import format, so an export edited in a spreadsheet imports back."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for slot in slots:
        writer.writerow(
            [
                slot.reference,
                slot.exchange_type,
                slot.city,
                slot.start_date.isoformat(),
                slot.weeks,
                slot.places,
                slot.field_preference or "",
                slot.partner_country or "",
            ]
        )
    return out.getvalue()
