"""The task export opens in Excel with Norwegian letters intact, and holds what the IFMSA
exchange portal asks for."""

from __future__ import annotations

import csv
import io

import openpyxl
import pytest

from bot.services import exports
from storage.db import Database
from storage.models import TaskStatus
from tests.support import slots as make


@pytest.fixture
async def rows(settings) -> list[exports.Row]:
    db = Database(settings.database)
    async with db.session() as s:
        person = await make.supervisor(s, 1, name="Åse Ødegård", title="senior_consultant")
        await make.task(s, person, title="=HYPERLINK(\"http://evil\")", city="tromso",
                        months=["2027-02", "2027-03"], english_ok=False)  # fmt: skip
        await make.task(s, person, title="Not yet", status=TaskStatus.SUBMITTED)
        await make.task(s, person, title="Gone", status=TaskStatus.WITHDRAWN)
    async with db.session() as s:
        result = await exports.tasks_rows(s)
    await db.close()
    return result


async def test_one_row_per_approved_task_in_english(rows):
    [row] = rows
    assert row["supervisor_name"] == "Åse Ødegård"
    assert row["supervisor_title"] == "Senior consultant"
    assert row["supervisor_email"] == "doctor1@example.org"
    assert row["exchange_type"] == "Research"
    assert row["field"] == "Epidemiology"
    assert row["city"] == "Tromsø"
    assert row["department"] == "Kardiologisk avdeling"
    assert "Chart review" in str(row["student_tasks"])
    assert str(row["learning_goals"]).endswith("; Write a short report")
    assert not str(row["learning_goals"]).startswith("@")
    assert row["expected_product"] == "Written report"
    assert (row["weeks"], row["places"], row["season"]) == (4, 1, "2026/27")
    assert row["months"] == "Feb 2027, Mar 2027"
    assert row["language"] == "Norwegian needed"
    assert row["ethics_status"] and row["backup_contact"] == "Per Hansen, postdoc"
    assert set(row) == set(exports.COLUMNS)


async def test_csv_is_utf8_with_bom_and_semicolons(rows):
    data = exports.to_csv(rows)
    assert data.startswith(b"\xef\xbb\xbf")
    table = list(csv.reader(io.StringIO(data.decode("utf-8-sig")), delimiter=";"))
    assert table[0][0] == "Title" and len(table[0]) == len(exports.COLUMNS)
    assert len(table) == 2
    record = dict(zip(table[0], table[1], strict=True))
    assert record["Supervisor"] == "Åse Ødegård" and record["City"] == "Tromsø"
    assert record["Title"].startswith("'="), "a formula is shown as text, never run"


async def test_xlsx_opens_with_the_same_content(rows):
    sheet = openpyxl.load_workbook(io.BytesIO(exports.to_xlsx(rows))).active
    header = [cell.value for cell in sheet[1]]
    assert header[:3] == ["Title", "Exchange type", "Field"]
    values = dict(zip(header, [cell.value for cell in sheet[2]], strict=True))
    assert values["Supervisor"] == "Åse Ødegård"
    assert values["Duration (weeks)"] == 4
    assert sheet["A2"].data_type == "s" and sheet["A2"].value.startswith("=HYPERLINK")
    assert sheet.max_row == 2


def test_headers_follow_the_language():
    assert exports.to_csv([], "nb").decode("utf-8-sig").startswith("Tittel;Utvekslingstype")


@pytest.fixture
async def english_rows(settings) -> list[exports.Row]:
    """A Norwegian research task with its English title, one without, and a clinical task."""
    db = Database(settings.database)
    async with db.session() as s:
        person = await make.supervisor(s, 1, name="Åse Ødegård", language="nb")
        await make.task(
            s,
            person,
            title="Hjerteflimmer-registeret",
            description="Journalgjennomgang av pasienter med nyoppstått flimmer.",
            title_en="Atrial fibrillation registry",
            description_en="Chart review of patients with new-onset AF in Tromsø.",
        )
        await make.task(s, person, title="Søvn på sykehjem", confidentiality=None)
        await make.task(s, person, exchange_type="clinical", title="Barneavdelingen",
                        department="Barneavdelingen", daily_hours="half",
                        activities=["ward_rounds", "outpatient", "on_call"],
                        confidentiality=None, ethics_status=None)  # fmt: skip
    async with db.session() as s:
        result = await exports.tasks_rows(s)
    await db.close()
    return sorted(result, key=lambda row: str(row["task_id"]))  # in the order made


async def test_english_fields_and_the_portal_columns(english_rows):
    research, untranslated, clinical = english_rows
    assert research["title"] == "Hjerteflimmer-registeret"
    assert research["title_en"] == "Atrial fibrillation registry"
    assert research["description_en"] == "Chart review of patients with new-onset AF in Tromsø."
    assert untranslated["title_en"] == untranslated["description_en"] == ""
    assert (research["confidentiality"], untranslated["confidentiality"]) == (
        "Required",
        "Not required",
    )
    assert research["daily_hours"] == ""  # research tasks have no daily-hours question
    assert clinical["daily_hours"] == "Half days"
    ids = [row["task_id"] for row in english_rows]
    assert all(str(i).startswith("NO-T") for i in ids) and len(set(ids)) == 3


async def test_a_clinical_title_names_the_work_not_only_the_department(english_rows):
    clinical = english_rows[2]
    assert clinical["title"] == "Barneavdelingen: Ward rounds, Outpatient clinic"
    assert clinical["title_en"] == "Barneavdelingen: Ward rounds, Outpatient clinic"


async def test_the_task_id_is_stable_across_exports(settings, english_rows):
    db = Database(settings.database)
    async with db.session() as s:
        again = await exports.tasks_rows(s)
    await db.close()

    def ids(rows: list[exports.Row]) -> dict[str, str]:
        return {str(r["title"]): str(r["task_id"]) for r in rows}

    assert ids(again) == ids(english_rows)


async def test_english_columns_open_in_excel_with_norwegian_letters(english_rows):
    data = exports.to_csv(english_rows)
    table = list(csv.reader(io.StringIO(data.decode("utf-8-sig")), delimiter=";"))
    record = dict(zip(table[0], table[1], strict=True))
    assert record["Title (English)"] == "Atrial fibrillation registry"
    assert record["Description (English)"].endswith("in Tromsø.")
    assert record["Title"] == "Hjerteflimmer-registeret"
    assert {"Confidentiality agreement", "Daily hours", "Task ID"} <= set(table[0])
    sheet = openpyxl.load_workbook(io.BytesIO(exports.to_xlsx(english_rows))).active
    header = [cell.value for cell in sheet[1]]
    records = [dict(zip(header, [c.value for c in row], strict=True)) for row in sheet.iter_rows(2)]
    [values] = [r for r in records if r["Exchange type"] == "Clinical"]
    assert values["Title"] == "Barneavdelingen: Ward rounds, Outpatient clinic"
    assert values["Daily hours"] == "Half days" and values["Task ID"].startswith("NO-T")


async def test_a_supervisor_writing_in_english_needs_no_translation(settings):
    db = Database(settings.database)
    async with db.session() as s:
        person = await make.supervisor(s, 1, language="en")
        await make.task(s, person, title="Atrial fibrillation registry")
    async with db.session() as s:
        [row] = await exports.tasks_rows(s)
    await db.close()
    assert row["title_en"] == "Atrial fibrillation registry"
    assert str(row["description_en"]).startswith("Chart review of patients")


def test_new_headers_in_norwegian():
    header = exports.to_csv([], "nb").decode("utf-8-sig")
    assert "Tittel (engelsk);Beskrivelse (engelsk)" in header
    assert "Taushetserklæring" in header and "Oppgave-ID" in header
