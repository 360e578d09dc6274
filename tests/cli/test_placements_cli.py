"""Coordinators' command line, run as a coordinator would (a subprocess): `placements export`
lists every accepted place with who supervises it, and `slots export` writes the import format,
so an edited export imports back."""

from __future__ import annotations

import csv
import io
import os
import subprocess
import sys
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from openpyxl import load_workbook

from storage.db import Database
from storage.models import Offer, OfferStatus, Slot, Supervisor, Task, TaskStatus

ROOT = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
pytestmark = pytest.mark.slow


@pytest.fixture
def database_url(sqlite_url: str) -> str:
    return sqlite_url


def _cli(settings, *args: str) -> subprocess.CompletedProcess[bytes]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("TELEGRAM_", "DATABASE_", "SMTP_", "MAIL_", "DEMO_"))
    }
    env.update(
        PYTHONPATH=str(ROOT),
        DATABASE_URL=settings.database,
        VAR_DIR=str(settings.var_dir),
        SECRET_KEY="test-secret-key-that-is-long-enough-for-anyone",
    )
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        cwd=settings.var_dir.parent,
        env=env,
        capture_output=True,
        timeout=120,
    )


async def _person(s, n: int, name: str, workplace: str) -> tuple[Supervisor, Task]:
    person = Supervisor(
        telegram_user_id=1000 + n, chat_id=1000 + n, language="nb", name=name,
        title="researcher", workplace=workplace, city="oslo", fields=["epidemiology"],
        exchange_types=["research"], email=f"person{n}@uio.no", email_verified_at=NOW,
        consent_version="2026-11", consent_at=NOW, created_at=NOW, updated_at=NOW,
    )  # fmt: skip
    s.add(person)
    await s.flush()
    task = Task(
        supervisor_id=person.id, season=2026, exchange_type="research",
        title=f"=HYPERLINK(\"x\") {name}'s study", field="epidemiology", city="oslo",
        site=workplace, weeks=4, months=["2027-03"], backup_contact="Dr. B",
        status=TaskStatus.APPROVED, created_at=NOW, updated_at=NOW,
    )  # fmt: skip
    s.add(task)
    await s.flush()
    return person, task


async def _world(settings) -> None:
    """Ingrid accepted SCORE-2027-03-OSL-1; Ola was asked for it and has not answered."""
    db = Database(settings.database)
    try:
        async with db.session() as s:
            slot = Slot(
                reference="SCORE-2027-03-OSL-1", exchange_type="research", city="oslo",
                start_date=date(2027, 3, 1), weeks=4, places=2, filled=1,
                created_at=NOW, updated_at=NOW,
            )  # fmt: skip
            s.add(slot)
            await s.flush()
            for n, name, status in ((1, "Ingrid Sæterdal", OfferStatus.ACCEPTED),
                                    (2, "Ola Nordmann", OfferStatus.SENT)):  # fmt: skip
                person, task = await _person(s, n, name, f"Workplace {n}")
                s.add(
                    Offer(
                        slot_id=slot.id or 0,
                        task_id=task.id or 0,
                        supervisor_id=person.id or 0,
                        status=status,
                        reply_by=date(2026, 12, 21),
                        created_at=NOW,
                        answered_at=NOW if status == OfferStatus.ACCEPTED else None,
                    )
                )
    finally:
        await db.close()


async def test_placements_export_as_csv_lists_each_accepted_place_with_its_supervisor(settings):
    await _world(settings)
    result = _cli(settings, "placements", "export", "--format", "csv")
    assert result.returncode == 0, result.stderr
    rows = list(csv.reader(io.StringIO(result.stdout.decode("utf-8-sig")), delimiter=";"))
    header, *places = rows
    assert header == [
        "Slot", "Exchange type", "City", "First day", "Last day", "Duration (weeks)", "Supervisor",
        "Workplace", "Supervisor email", "Task", "Accepted on",
    ]  # fmt: skip
    assert places == [
        [
            "SCORE-2027-03-OSL-1", "Research", "Oslo", "2027-03-01", "2027-03-28", "4",
            "Ingrid Sæterdal", "Workplace 1", "person1@uio.no",
            "'=HYPERLINK(\"x\") Ingrid Sæterdal's study", "2026-11-24",
        ]
    ]  # fmt: skip


async def test_placements_export_as_xlsx_reads_back_in_a_spreadsheet(settings, tmp_path):
    await _world(settings)
    out = tmp_path / "placements.xlsx"
    result = _cli(settings, "placements", "export", "--format", "xlsx", "--out", str(out))
    assert result.returncode == 0, result.stderr
    sheet = load_workbook(out).active
    values = [[cell.value for cell in row] for row in sheet.iter_rows()]
    assert sheet.title == "Placements"
    assert values[0][0] == "Slot" and len(values) == 2
    reference, *_, name, workplace, email, task, _accepted = values[1]
    assert (reference, name, workplace, email) == (
        "SCORE-2027-03-OSL-1", "Ingrid Sæterdal", "Workplace 1", "person1@uio.no",
    )  # fmt: skip
    assert task == '=HYPERLINK("x") Ingrid Sæterdal\'s study'  # text, not a formula


async def test_an_edited_slots_export_imports_back(settings, tmp_path):
    await _world(settings)
    exported = _cli(settings, "slots", "export")
    assert exported.returncode == 0, exported.stderr
    header, *rows = list(csv.reader(io.StringIO(exported.stdout.decode())))
    assert header == [
        "reference", "exchange_type", "city", "start_date", "weeks", "places",
        "field_preference", "partner_country",
    ]  # fmt: skip
    [row] = rows
    row[header.index("places")] = "3"
    row[header.index("partner_country")] = "Morocco"
    edited = tmp_path / "edited.csv"
    with edited.open("w", newline="") as handle:
        csv.writer(handle).writerows([header, row])

    imported = _cli(settings, "slots", "import", str(edited))
    assert imported.returncode == 0, imported.stderr
    assert b"1 updated" in imported.stdout or b"updated: 1" in imported.stdout.lower()
    listed = _cli(settings, "slots", "list").stdout.decode()
    assert "SCORE-2027-03-OSL-1" in listed and " 1/3 " in listed  # the accepted place stays
    again = _cli(settings, "slots", "export").stdout.decode()
    assert again == edited.read_text()
