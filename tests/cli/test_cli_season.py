"""`python -m bot season target ...` through `bot.cli.season.dispatch` (and once as a subprocess,
as a person types it): the targets stored, and the meter the terminal shows after."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from sqlmodel import col, select

from bot.cli import season as cli_season
from bot.domain.clock import FrozenClock
from storage.db import Database
from storage.models import SeasonTarget
from tests.support import slots as make

ROOT = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)


@pytest.fixture
def database_url(sqlite_url: str) -> str:
    return sqlite_url  # the CLI's behaviour does not depend on the database


def parsed(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    cli_season.add_commands(parser.add_subparsers(dest="command", required=True))
    return parser.parse_args(argv)


async def run(settings, *argv: str) -> int | None:
    return await cli_season.dispatch(parsed(*argv), settings, clock=FrozenClock(NOW))


async def stored(settings) -> dict[tuple[int, str], int]:
    db = Database(settings.database)
    async with db.session() as s:
        rows = (await s.execute(select(SeasonTarget).order_by(col(SeasonTarget.id)))).scalars()
        found = {(t.season, t.exchange_type): t.needed for t in rows}
    await db.close()
    return found


async def test_setting_targets_shows_the_meter(settings, capsys):
    db = Database(settings.database)
    async with db.session() as s:
        await make.slot(s, "SCOPE-1", exchange_type="clinical", start_date=date(2027, 9, 6),
                        places=3, filled=2)  # fmt: skip
        await make.slot(s, "SCOPE-2", exchange_type="clinical", start_date=date(2026, 9, 7),
                        places=5, filled=5)  # the season before: not counted  # fmt: skip
    await db.close()

    code = await run(settings, "season", "target", "--season", "2027", "--clinical", "10",
                     "--research", "4")  # fmt: skip
    assert code == 0
    out = capsys.readouterr().out.splitlines()
    assert out[:4] == [
        "Hosting in return, season 2027/28",
        "  Clinical: hosted 2 of 10 needed",
        "  ██░░░░░░░░ 20%",
        "  8 more to host · 1 open place in Sep 2027 · no places yet in Apr 2027–Aug 2027, "
        "Oct 2027–Mar 2028",
    ]
    assert out[4:] == [
        "  Research: hosted 0 of 4 needed",
        "  ░░░░░░░░░░ 0%",
        "  4 more to host · no places yet in Apr 2027–Mar 2028",
    ]
    assert await stored(settings) == {(2027, "clinical"): 10, (2027, "research"): 4}

    # A type left out keeps its target; 0 removes one.
    assert await run(settings, "season", "target", "--season", "2027", "--research", "0") == 0
    out = capsys.readouterr().out
    assert "Clinical: hosted 2 of 10 needed" in out and "Research" not in out
    assert await stored(settings) == {(2027, "clinical"): 10}

    assert await run(settings, "season", "target", "--season", "2027", "--clinical", "1") == 0
    assert "Clinical: hosted 2 of 1 needed" in (out := capsys.readouterr().out)
    assert "target met ✔" in out


async def test_no_target_and_bad_numbers(settings, capsys):
    assert await run(settings, "season", "target") == 0  # the current season: 2026
    assert "No hosting target for season 2026" in capsys.readouterr().out
    assert await run(settings, "season", "target", "--season", "2027", "--clinical", "-3") == 2
    assert "a target a number from 0 to 10000" in capsys.readouterr().err
    assert await stored(settings) == {}


@pytest.mark.slow
def test_the_command_as_typed_in_a_terminal(tmp_path, sqlite_url):
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("TELEGRAM_", "DATABASE_", "SMTP_", "MAIL_", "DEMO_"))
    }
    env.update(PYTHONPATH=str(ROOT), DATABASE_URL=sqlite_url)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "bot",
            "season",
            "target",
            "--season",
            "2027",
            "--clinical",
            "10",
            "--research",
            "10",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "Clinical: hosted 0 of 10 needed" in result.stdout
    assert "Research: hosted 0 of 10 needed" in result.stdout
