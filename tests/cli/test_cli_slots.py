"""`python -m bot slots|offers|export ...` through `bot.cli.slots.dispatch`, on a migrated
database: what a coordinator sees in the terminal and what ends up stored."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from importlib.resources import files

import openpyxl
import pytest

from bot.cli import slots as cli_slots
from bot.domain.clock import FrozenClock
from bot.domain.slots_csv import parse
from storage import slots as repo
from storage.db import Database
from storage.models import Slot
from tests.support import slots as make

EXAMPLE = (files("bot") / "data" / "slots-example.csv").read_bytes()
BEFORE_ALL_DEADLINES = datetime(2026, 8, 1, 9, 0, tzinfo=UTC)


@pytest.fixture
def database_url(sqlite_url: str) -> str:
    return sqlite_url  # the CLI's behaviour does not depend on the database


def parsed(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    cli_slots.add_commands(parser.add_subparsers(dest="command", required=True))
    return parser.parse_args(argv)


async def run(settings, *argv: str, now: datetime = BEFORE_ALL_DEADLINES) -> int | None:
    return await cli_slots.dispatch(parsed(*argv), settings, FrozenClock(now))


async def stored(settings) -> dict[str, Slot]:
    db = Database(settings.database)
    async with db.session() as s:
        slots = {slot.reference: slot for slot in await repo.list_slots(s)}
    await db.close()
    return slots


async def test_importing_twice_creates_once(settings, tmp_path, capsys):
    path = tmp_path / "slots.csv"
    path.write_bytes(EXAMPLE)
    assert await run(settings, "slots", "import", str(path)) == 0
    assert "11 created, 0 updated, 0 unchanged." in capsys.readouterr().out
    assert await run(settings, "slots", "import", str(path)) == 0
    assert "0 created, 0 updated, 11 unchanged." in capsys.readouterr().out

    path.write_bytes(EXAMPLE.replace(b"BGO-1,clinical,bergen,2027-01-04,4,1,",
                                     b"BGO-1,clinical,bergen,2027-01-04,4,3,"))  # fmt: skip
    assert await run(settings, "slots", "import", str(path)) == 0
    assert "0 created, 1 updated, 10 unchanged." in capsys.readouterr().out
    slots = await stored(settings)
    assert len(slots) == 11 and slots["SCOPE-2027-01-BGO-1"].places == 3


async def test_a_file_with_bad_rows_imports_nothing_unless_told(settings, tmp_path, capsys):
    path = tmp_path / "slots.csv"
    bad = EXAMPLE.decode().replace("tromso,2027-03-01,8", "tromsoe,2027-03-01,8")
    path.write_text(bad.replace("Indonesia", "Indonesia\nX,clinical,oslo,2027-13-01,4,1,,"))
    assert await run(settings, "slots", "import", str(path)) == 1
    err = capsys.readouterr().err
    assert "Line 5: Unknown city “tromsoe”" in err
    assert "Line 10: The start date must be a date like 2027-01-04 (got “2027-13-01”)." in err
    assert "Nothing was imported" in err and "--skip-bad" in err
    assert await stored(settings) == {}

    assert await run(settings, "slots", "import", "--skip-bad", str(path)) == 0
    out, err = capsys.readouterr()
    assert "Line 5:" in err and "10 created, 0 updated, 0 unchanged." in out
    assert len(await stored(settings)) == 10


async def test_a_file_of_only_bad_rows_fails_even_with_skip_bad(settings, tmp_path, capsys):
    path = tmp_path / "slots.csv"
    path.write_text("reference;city\n")
    assert await run(settings, "slots", "import", "--skip-bad", str(path)) == 1
    assert "Line 1: The first line must be exactly: reference,exchange_type" in (
        capsys.readouterr().err
    )


async def test_a_missing_file_is_one_line_and_exit_2(settings, tmp_path, capsys):
    assert await run(settings, "slots", "import", str(tmp_path / "nope.csv")) == 2
    assert capsys.readouterr().err.count("\n") == 1


async def test_slots_past_their_reply_by_date_are_imported_and_flagged_urgent(
    settings, tmp_path, capsys
):
    path = tmp_path / "slots.csv"
    path.write_bytes(EXAMPLE)
    late = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)  # January slots were due on 26 October
    assert await run(settings, "slots", "import", str(path), now=late) == 0
    out = capsys.readouterr().out
    assert "URGENT: SCOPE-2027-01-OSL-1 — its reply-by date 2026-10-26 has already passed." in out
    assert "URGENT: SCOPE-2027-01-BGO-1" in out and "URGENT: SCORE-2027-03" not in out
    assert len(await stored(settings)) == 11

    assert await run(settings, "slots", "list", now=late) == 0
    lines = {line.split()[0]: line for line in capsys.readouterr().out.splitlines()[1:]}
    assert lines["SCOPE-2027-01-OSL-1"].endswith("0/2  2026-10-26 URGENT")
    assert lines["SCORE-2027-03-OSL-1"].endswith("2026-12-21")


async def test_fewer_places_than_accepted_is_refused_and_rolls_back(settings, tmp_path, capsys):
    path = tmp_path / "slots.csv"
    path.write_bytes(EXAMPLE)
    await run(settings, "slots", "import", str(path))
    db = Database(settings.database)
    async with db.session() as s:
        slot = await repo.get_slot_by_reference(s, "SCOPE-2027-01-OSL-1")
        slot.filled = 2
    await db.close()
    changed = EXAMPLE.replace(
        b"OSL-1,clinical,oslo,2027-01-04,4,2", b"OSL-1,clinical,oslo,2027-01-04,4,1"
    )
    changed = changed.replace(b"Brazil", b"Brasil")
    path.write_bytes(changed)
    capsys.readouterr()

    assert await run(settings, "slots", "import", str(path)) == 1
    err = capsys.readouterr().err
    assert "Line 2: “SCOPE-2027-01-OSL-1” already has more accepted supervisors" in err
    slots = await stored(settings)
    assert slots["SCOPE-2027-01-BGO-1"].partner_country == "Brazil", "nothing applied"

    assert await run(settings, "slots", "import", "--skip-bad", str(path)) == 0
    slots = await stored(settings)
    assert slots["SCOPE-2027-01-BGO-1"].partner_country == "Brasil"
    assert (slots["SCOPE-2027-01-OSL-1"].places, slots["SCOPE-2027-01-OSL-1"].filled) == (2, 2)


async def test_export_writes_the_import_format(settings, tmp_path, capsys):
    path = tmp_path / "slots.csv"
    path.write_bytes(EXAMPLE)
    await run(settings, "slots", "import", str(path))
    capsys.readouterr()
    assert await run(settings, "slots", "export") == 0
    rows, errors = parse(capsys.readouterr().out)
    assert errors == [] and len(rows) == 11
    assert await run(settings, "slots", "export", "--out", str(tmp_path / "out.csv")) == 0
    assert parse((tmp_path / "out.csv").read_bytes())[1] == []


async def test_propose_from_the_command_line(settings, capsys):
    db = Database(settings.database)
    async with db.session() as s:
        await make.task(s, await make.supervisor(s, 1))
        await make.slot(s, "SCORE-X")
    await db.close()
    assert await run(settings, "offers", "propose", "--slot", "SCORE-X") == 0
    assert "1 offer sent for SCORE-X." in capsys.readouterr().out
    assert await run(settings, "offers", "propose", "--slot", "SCORE-X") == 0
    assert "0 offers sent" in capsys.readouterr().out
    assert await run(settings, "offers", "propose", "--slot", "NOPE") == 1
    assert "No slot with the reference NOPE." in capsys.readouterr().err


async def test_export_tasks_as_csv_and_xlsx(settings, tmp_path, capsys):
    db = Database(settings.database)
    async with db.session() as s:
        await make.task(s, await make.supervisor(s, 1), title="Hjerteflimmer i Tromsø")
    await db.close()
    out = tmp_path / "tasks.xlsx"
    assert await run(settings, "export", "tasks", "--format", "xlsx", "--out", str(out)) == 0
    sheet = openpyxl.load_workbook(out).active
    assert sheet["A2"].value == "Hjerteflimmer i Tromsø"
    assert await run(settings, "export", "tasks", "--format", "csv") == 0
    data = capsys.readouterr().out
    assert "Hjerteflimmer i Tromsø" in data


async def test_other_commands_are_not_ours(settings):
    assert await cli_slots.dispatch(argparse.Namespace(command="migrate"), settings) is None


def test_the_arguments_parse():
    assert parsed("slots", "import", "f.csv", "--skip-bad").skip_bad is True
    assert parsed("slots", "import", "f.csv").skip_bad is False
    assert parsed("export", "tasks", "--format", "xlsx").format == "xlsx"
    assert parsed("offers", "propose", "--slot", "R-1").slot == "R-1"
    with pytest.raises(SystemExit):
        parsed("export", "tasks", "--format", "pdf")
