"""Approved tasks as a spreadsheet: what a coordinator types into the IFMSA exchange portal.

One row per approved task, in English by default (the portal is English); the column headers are
catalog messages like every other text. Two formats:

- CSV is written as UTF-8 *with* a byte-order mark and `;` between values. Excel only reads a
  CSV as UTF-8 when it starts with a BOM (without one, æøå turn into mojibake), and with
  Norwegian regional settings Excel expects `;` as the list separator (`,` is the decimal
  comma), so this is the combination that opens correctly by double-click in Norway.
- XLSX via openpyxl, which needs no such guessing.

Supervisors typed much of this text, so a value that a spreadsheet would run as a formula
(starting with `=`, `+`, `-`, `@`) is neutralised: prefixed with `'` in CSV, stored as plain text
in XLSX.
"""

from __future__ import annotations

import csv
import html
import io
from collections.abc import Sequence
from typing import Final

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.i18n import Translator
from bot.domain import reference
from storage.models import Supervisor, Task
from storage.placements import all_accepted
from storage.slots import approved_tasks

COLUMNS: Final = (
    "title",
    "exchange_type",
    "field",
    "department",
    "site",
    "city",
    "supervisor_name",
    "supervisor_title",
    "supervisor_email",
    "description",
    "title_en",
    "description_en",
    "student_tasks",
    "learning_goals",
    "expected_product",
    "weeks",
    "months",
    "daily_hours",
    "places",
    "skills",
    "language",
    "ethics_status",
    "confidentiality",
    "backup_contact",
    "season",
    "task_id",
)
TITLE_KINDS: Final = 2  # task kinds named in a clinical task's title after its department
# `python -m bot placements export`: every accepted place, who supervises it and for which task.
PLACEMENT_COLUMNS: Final = (
    "reference",
    "exchange_type",
    "city",
    "start_date",
    "end_date",
    "weeks",
    "supervisor_name",
    "workplace",
    "supervisor_email",
    "task",
    "accepted_on",
)
Row = dict[str, str | int]
_FORMULA_START: Final = ("=", "+", "-", "@", "\t", "\r")


def _label(tr: Translator, message_id: str, fallback: str) -> str:
    """A catalog label as plain text, or the stored value when there is no such message."""
    text = tr(message_id)
    return fallback if text == message_id else html.unescape(text)


def _month(tr: Translator, month: str) -> str:
    year, _, number = month.partition("-")
    return f"{_label(tr, f'month.{int(number)}', number)} {year}" if number.isdigit() else month


def task_reference(task: Task) -> str:
    """The task's id for the portal and for talking about it: stable across edits and seasons'
    exports, since it is the row's own id."""
    return f"NO-T{task.id or 0:05d}"


def clinical_title(task: Task, tr: Translator) -> str:
    """A clinical task's title names what the student does, not only where ("Kardiologisk
    avdeling: Ward rounds, Outpatient clinic"): the portal lists titles, and a department's name
    alone says nothing to a student abroad."""
    kinds = [_label(tr, f"task.act.{a}", a) for a in task.activities[:TITLE_KINDS]]
    if not kinds and task.activities_other:
        kinds = [task.activities_other]
    place = task.department or task.title
    return f"{place}: {', '.join(kinds)}" if kinds else place


def _title(task: Task, tr: Translator) -> str:
    return clinical_title(task, tr) if task.exchange_type == "clinical" else task.title


def _title_en(task: Task, supervisor: Supervisor) -> str:
    """The English title given, else a clinical task's composed one (its kinds in English), else
    the title of a supervisor who writes in English; a Norwegian project title has no English
    one until someone writes it."""
    if task.title_en:
        return task.title_en
    if task.exchange_type == "clinical":
        return clinical_title(task, Translator("en"))
    return task.title if supervisor.language == "en" else ""


def _description_en(task: Task, supervisor: Supervisor) -> str:
    if task.description_en:
        return task.description_en
    return task.description or "" if supervisor.language == "en" else ""


def _optional(tr: Translator, prefix: str, code: str | None) -> str:
    return _label(tr, f"{prefix}.{code}", code) if code else ""


def _confidentiality(task: Task, tr: Translator) -> str:
    return tr("export.conf.yes") if task.confidentiality else tr("export.conf.no")


def _row(task: Task, supervisor: Supervisor, tr: Translator) -> Row:
    field = reference.field(task.field)
    city = reference.city(task.city)
    activities = [_label(tr, f"task.act.{a}", a) for a in task.activities]
    if task.activities_other:
        activities.append(task.activities_other)
    goals = [
        _label(tr, f"task.goal.{g[1:]}", g[1:]) if g.startswith("@") else g
        for g in task.learning_goals
    ]
    return {
        "title": _title(task, tr),
        "exchange_type": _label(tr, f"type.{task.exchange_type}", task.exchange_type),
        "field": field.en if field else task.field,
        "department": task.department or "",
        "site": task.site,
        "city": city.en if city else task.city,
        "supervisor_name": supervisor.name,
        "supervisor_title": _label(tr, f"title.{supervisor.title}", supervisor.title),
        "supervisor_email": supervisor.email,
        "description": task.description or "",
        "title_en": _title_en(task, supervisor),
        "description_en": _description_en(task, supervisor),
        "student_tasks": "; ".join(activities),
        "learning_goals": "; ".join(goals),
        "expected_product": "; ".join(_label(tr, f"task.product.{p}", p) for p in task.products),
        "weeks": task.weeks,
        "months": ", ".join(_month(tr, m) for m in task.months),
        "daily_hours": _optional(tr, "task.hours", task.daily_hours),
        "places": task.capacity,
        "skills": task.skills or "",
        "language": tr("export.language.english")
        if task.english_ok
        else tr("export.language.norwegian"),
        "ethics_status": _optional(tr, "task.ethics", task.ethics_status),
        "confidentiality": _confidentiality(task, tr),
        "backup_contact": task.backup_contact,
        "season": f"{task.season}/{(task.season + 1) % 100:02d}",
        "task_id": task_reference(task),
    }


async def tasks_rows(session: AsyncSession, language: str = "en") -> list[Row]:
    tr = Translator(language)
    return [_row(task, supervisor, tr) for task, supervisor in await approved_tasks(session)]


async def placements_rows(session: AsyncSession, language: str = "en") -> list[Row]:
    """One row per accepted place, by start date; dates as ISO dates (sortable in a sheet)."""
    tr = Translator(language)
    rows: list[Row] = []
    for p in await all_accepted(session):
        city = reference.city(p.slot.city)
        answered = p.offer.answered_at
        rows.append(
            {
                "reference": p.slot.reference,
                "exchange_type": _label(tr, f"type.{p.slot.exchange_type}", p.slot.exchange_type),
                "city": city.name(language) if city else p.slot.city,
                "start_date": p.slot.start_date.isoformat(),
                "end_date": p.end.isoformat(),
                "weeks": p.slot.weeks,
                "supervisor_name": p.supervisor.name,
                "workplace": p.supervisor.workplace,
                "supervisor_email": p.supervisor.email,
                "task": p.task.title,
                "accepted_on": answered.date().isoformat() if answered else "",
            }
        )
    return rows


def _headers(language: str, columns: Sequence[str] = COLUMNS) -> list[str]:
    tr = Translator(language)
    return [html.unescape(tr(f"export.column.{name}")) for name in columns]


def _safe(value: str | int) -> str | int:
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def to_csv(rows: list[Row], language: str = "en", columns: Sequence[str] = COLUMNS) -> bytes:
    """UTF-8 with BOM, `;`-separated, CRLF: what Excel with Norwegian settings opens cleanly."""
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";", lineterminator="\r\n")
    writer.writerow(_headers(language, columns))
    for row in rows:
        writer.writerow([_safe(row.get(name, "")) for name in columns])
    return out.getvalue().encode("utf-8-sig")


def to_xlsx(
    rows: list[Row],
    language: str = "en",
    columns: Sequence[str] = COLUMNS,
    sheet_id: str = "export.sheet",
) -> bytes:
    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None  # a new workbook always has one sheet
    sheet.title = html.unescape(Translator(language)(sheet_id))
    sheet.append(_headers(language, columns))
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    for row in rows:
        sheet.append([row.get(name, "") for name in columns])
        for cell in sheet[sheet.max_row]:
            if cell.data_type == "f":  # openpyxl treats any "=..." string as a formula
                cell.data_type = "s"
            cell.alignment = Alignment(wrap_text=True, vertical="top")
    sheet.freeze_panes = "A2"
    for column in sheet.columns:
        letter = column[0].column_letter
        width = max((len(str(c.value or "")) for c in column), default=10)
        sheet.column_dimensions[letter].width = min(max(width, 10), 50)
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()
