"""`python -m bot season target --season 2027 --clinical 10 --research 10`: how many incoming
students Norway must host in a season, per exchange type (the reciprocity meter).

Targets are national (see `bot.services.reciprocity`): whoever runs the command line sets them
for the whole country, as a national coordinator can with /target in the chat. A type left out
keeps its target; 0 removes it. Without any number the command only shows the season's meter.
Prints the meter after the change. Exit codes: 0 done, 2 a bad number.
"""

from __future__ import annotations

import argparse
import html
import sys
from functools import partial
from typing import Any, Final

from bot.core import i18n
from bot.core.settings import Settings
from bot.domain import reference
from bot.domain.clock import Clock, SystemClock
from bot.domain.season import season_of
from bot.services import reciprocity
from storage.db import Database

COMMAND: Final = "season"
_SAY = partial(i18n.plain, "en")


def add_commands(subparsers: Any) -> None:
    """Add `season` to `python -m bot`'s subcommands (the `add_subparsers()` object)."""
    parser = subparsers.add_parser(COMMAND, help="a season's hosting targets (reciprocity)")
    actions = parser.add_subparsers(dest="season_action", metavar="ACTION", required=True)
    target = actions.add_parser(
        "target", help="set how many incoming students to host per exchange type, and show it"
    )
    target.add_argument(
        "--season", type=int, metavar="YEAR", help="the year its April falls in (default: now)"
    )
    for kind in reference.EXCHANGE_TYPES:
        target.add_argument(
            f"--{kind}", type=int, metavar="N", help=f"{kind} students to host (0 removes it)"
        )


async def dispatch(
    args: argparse.Namespace, settings: Settings, *, clock: Clock | None = None
) -> int | None:
    """Run `season ...`; None when `args` is some other command."""
    if getattr(args, "command", None) != COMMAND:
        return None
    if args.season_action == "target":
        return await _target(args, settings, clock or SystemClock())
    return 2


async def _target(args: argparse.Namespace, settings: Settings, clock: Clock) -> int:
    now = clock.now()
    today = now.astimezone(settings.tz).date()
    season = args.season if args.season is not None else season_of(today)
    needed = {
        kind: getattr(args, kind)
        for kind in reference.EXCHANGE_TYPES
        if getattr(args, kind) is not None
    }
    if not 2000 <= season <= 2100 or any(
        not 0 <= n <= reciprocity.MAX_NEEDED for n in needed.values()
    ):
        print("veileder: " + _SAY("season.cli.bad", most=reciprocity.MAX_NEEDED), file=sys.stderr)
        return 2
    db = Database(settings.database)  # migrated by `python -m bot` before any tool runs
    try:
        async with db.session() as session:
            await reciprocity.set_targets(session, season, needed, reciprocity.CLI, now)
            found = await reciprocity.national_meters(
                session, today, list(reference.EXCHANGE_TYPES)
            )
    finally:
        await db.close()
    shown = [m for m in found if m.season == season]
    if not shown:
        print(_SAY("season.cli.none", season=season))
    for line in reciprocity.terminal_lines(shown, _SAY):
        print(html.unescape(line))
    return 0
