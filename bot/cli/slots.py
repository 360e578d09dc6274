"""Command-line tools for slots, offers and the task export (wired into `python -m bot`).

    python -m bot slots import FILE.csv [--skip-bad]
    python -m bot slots list
    python -m bot slots export [--out FILE]
    python -m bot offers propose --slot REFERENCE
    python -m bot export tasks --format csv|xlsx [--out FILE]
    python -m bot placements export --format csv|xlsx [--out FILE]

The importer is all-or-nothing by default: a file with any bad row imports nothing, so a
coordinator fixes the file and runs the same command again (re-importing is idempotent).
Problems are the parser's message ids rendered in English. The database is expected to be
migrated already (`python -m bot` migrates before dispatching here).
"""

from __future__ import annotations

import argparse
import html
import sys
from pathlib import Path
from typing import Any

from bot.core.i18n import Translator
from bot.core.settings import Settings
from bot.domain import season, slots_csv
from bot.domain.clock import Clock, SystemClock
from bot.services import exports, offers
from storage import slots as repo
from storage.db import Database
from storage.models import SlotStatus

_TR = Translator("en")


class _Refused(Exception):
    """Roll the import back: some rows could not be applied and --skip-bad was not given."""


def add_commands(subparsers: Any) -> None:
    """Add `slots`, `offers` and `export` to the `python -m bot` subcommands."""
    slots = subparsers.add_parser("slots", help="import, list and export exchange slots")
    slot_commands = slots.add_subparsers(dest="slots_command", metavar="ACTION", required=True)
    importing = slot_commands.add_parser("import", help="create or update slots from a CSV file")
    importing.add_argument("file", type=Path, metavar="FILE")
    importing.add_argument(
        "--skip-bad", action="store_true", help="import the good rows even if some are bad"
    )
    slot_commands.add_parser("list", help="every slot with its places, filled and reply-by date")
    exporting = slot_commands.add_parser("export", help="the slots as CSV, in the import format")
    exporting.add_argument("--out", type=Path, metavar="FILE", help="write here, not stdout")

    offer = subparsers.add_parser("offers", help="offers of slots to supervisors")
    offer_commands = offer.add_subparsers(dest="offers_command", metavar="ACTION", required=True)
    proposing = offer_commands.add_parser("propose", help="ask the best candidates for a slot now")
    proposing.add_argument("--slot", required=True, metavar="REFERENCE")

    export = subparsers.add_parser("export", help="export data for the IFMSA exchange portal")
    export_commands = export.add_subparsers(dest="export_command", metavar="WHAT", required=True)
    tasks = export_commands.add_parser("tasks", help="approved tasks, one row each")
    tasks.add_argument("--format", choices=("csv", "xlsx"), default="csv")
    tasks.add_argument("--out", type=Path, metavar="FILE", help="write here, not stdout")

    placements = subparsers.add_parser("placements", help="accepted places: who supervises what")
    placement_commands = placements.add_subparsers(
        dest="placements_command", metavar="ACTION", required=True
    )
    listing = placement_commands.add_parser(
        "export", help="every accepted place: slot, dates, supervisor, workplace, email, task"
    )
    listing.add_argument("--format", choices=("csv", "xlsx"), default="csv")
    listing.add_argument("--out", type=Path, metavar="FILE", help="write here, not stdout")


def _say(message_id: str, /, *, error: bool = False, **values: Any) -> None:
    print(html.unescape(_TR(message_id, **values)), file=sys.stderr if error else sys.stdout)


def _show_errors(errors: list[slots_csv.RowError]) -> None:
    for problem in errors:
        print(html.unescape(slots_csv.describe(problem, _TR)), file=sys.stderr)


async def _import(args: argparse.Namespace, settings: Settings, db: Database, clock: Clock) -> int:
    try:
        data = args.file.read_bytes()
    except OSError as exc:
        print(f"veileder: cannot read {args.file}: {exc.strerror}", file=sys.stderr)
        return 2
    rows, errors = slots_csv.parse(data)
    _show_errors(errors)
    if errors and not args.skip_bad:
        _say("slots.import.nothing", error=True)
        _say("slots.cli.skip_bad", error=True)
        return 1
    now = clock.now()
    try:
        async with db.session() as session:
            report = await repo.import_slots(session, rows, now)
            if report.refused and not args.skip_bad:
                raise _Refused
    except _Refused:
        _show_errors(report.refused)
        _say("slots.import.nothing", error=True)
        _say("slots.cli.skip_bad", error=True)
        return 1
    _show_errors(report.refused)
    _say(
        "slots.import.summary",
        created=len(report.created),
        updated=len(report.updated),
        unchanged=len(report.unchanged),
    )
    today = now.astimezone(settings.tz).date()
    imported = {*report.created, *report.updated, *report.unchanged}
    for row in rows:
        deadline = season.reply_by(row.start_date, settings.coordinator_margin_weeks)
        if row.reference in imported and deadline < today:
            _say("slots.import.urgent", reference=row.reference, date=deadline.isoformat())
    bad = bool(errors or report.refused)
    return 1 if bad and not (report.created or report.updated) else 0


async def _list(settings: Settings, db: Database, clock: Clock) -> int:
    today = clock.now().astimezone(settings.tz).date()
    async with db.session() as session:
        slots = await repo.list_slots(session)
    print(f"{'reference':<24} {'type':<9} {'city':<10} {'start':<10} wk filled reply-by")
    for slot in slots:
        deadline = season.reply_by(slot.start_date, settings.coordinator_margin_weeks)
        flags = []
        if slot.status != SlotStatus.OPEN:
            flags.append(slot.status.upper())
        elif slot.filled < slot.places and deadline < today:
            flags.append("URGENT")
        print(
            f"{slot.reference:<24} {slot.exchange_type:<9} {slot.city:<10} "
            f"{slot.start_date.isoformat()} {slot.weeks:>2} {slot.filled:>3}/{slot.places:<2} "
            f"{deadline.isoformat()} {' '.join(flags)}".rstrip()
        )
    return 0


def _write(data: bytes, out: Path | None) -> None:
    if out is None:
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
        return
    out.write_bytes(data)
    _say("slots.cli.written", path=str(out))


async def _export_slots(args: argparse.Namespace, db: Database) -> int:
    async with db.session() as session:
        text = slots_csv.export_csv(repo.csv_rows(await repo.list_slots(session)))
    if args.out is None:
        print(text, end="")
    else:
        _write(text.encode("utf-8"), args.out)
    return 0


async def _propose(args: argparse.Namespace, settings: Settings, db: Database, clock: Clock) -> int:
    async with db.session() as session:
        slot = await repo.get_slot_by_reference(session, args.slot)
        if slot is None:
            _say("slots.cli.no_slot", error=True, reference=args.slot)
            return 1
        made = await offers.propose(session, settings, slot.id or 0, clock.now())
    _say("slots.cli.proposed", count=len(made), reference=args.slot)
    return 0


async def _export_tasks(args: argparse.Namespace, db: Database) -> int:
    if args.format == "xlsx" and args.out is None and sys.stdout.isatty():
        _say("export.cli.xlsx_terminal", error=True)  # binary would garble the terminal
        return 2
    async with db.session() as session:
        rows = await exports.tasks_rows(session)
    data = exports.to_xlsx(rows) if args.format == "xlsx" else exports.to_csv(rows)
    _write(data, args.out)
    return 0


async def _export_placements(args: argparse.Namespace, db: Database) -> int:
    async with db.session() as session:
        rows = await exports.placements_rows(session)
    columns = exports.PLACEMENT_COLUMNS
    if args.format == "xlsx":
        data = exports.to_xlsx(rows, columns=columns, sheet_id="export.placements_sheet")
    else:
        data = exports.to_csv(rows, columns=columns)
    _write(data, args.out)
    return 0


async def dispatch(
    args: argparse.Namespace, settings: Settings, clock: Clock | None = None
) -> int | None:
    """Run one of these commands and return its exit code; None when `args` is not ours."""
    command = getattr(args, "command", None)
    if command not in ("slots", "offers", "export", "placements"):
        return None
    clock = clock or SystemClock()
    db = Database(settings.database)
    try:
        if command == "slots" and args.slots_command == "import":
            return await _import(args, settings, db, clock)
        if command == "slots" and args.slots_command == "list":
            return await _list(settings, db, clock)
        if command == "slots" and args.slots_command == "export":
            return await _export_slots(args, db)
        if command == "offers" and args.offers_command == "propose":
            return await _propose(args, settings, db, clock)
        if command == "export" and args.export_command == "tasks":
            return await _export_tasks(args, db)
        if command == "placements" and args.placements_command == "export":
            return await _export_placements(args, db)
        return None
    finally:
        await db.close()
