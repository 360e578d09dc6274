"""`python -m bot backup --out FILE` and `python -m bot restore FILE [--force]`.

    python -m bot backup --out /srv/backups/veileder-2026-11-30.db    # while the bot runs
    python -m bot restore /srv/backups/veileder-2026-11-30.db         # services stopped

A backup is taken while the services run (SQLite's online backup API, or `pg_dump`; see
`storage.backup`) and is the database as it was at one moment. Restore writes into the database
the settings name (`DATABASE_URL`, or the SQLite file under `VAR_DIR`):

- it refuses a database that holds any row (the Alembic version row aside), naming the tables,
  unless `--force`: restoring over live data is the one command here that can lose a season's
  work, so it takes a second, deliberate word. A migrated but empty database (what a new
  deployment's entrypoint leaves) is restored into without `--force`.
- on PostgreSQL it also refuses while other sessions are connected (a running bot or worker),
  unless `--force`: stop the services first.
- it does not migrate: the next start does (`run`, `worker` and the Docker entrypoint migrate
  first), so a backup made by an older version is brought up to date like any database.

Neither command migrates first (unlike the other tools): a backup copies the database as it is,
and a restore must find the target as it is.

Exit codes: 0 done; 2 something to fix first (a PostgreSQL client tool missing, a file that is not
a backup for this database, a target holding data without `--force`); 1 the copy itself failed
(the database or the tool's own error, in one line).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any, Final

from bot.core.settings import Settings
from storage import backup

COMMANDS: Final = ("backup", "restore")
FIX_FIRST: Final = 2
FAILED: Final = 1


def add_commands(subparsers: Any) -> None:
    """Add `backup` and `restore` to `python -m bot`'s subcommands."""
    make = subparsers.add_parser(
        "backup", help="copy the whole database into one file, while the bot runs"
    )
    make.add_argument("--out", type=Path, required=True, metavar="FILE", help="the backup file")
    restore = subparsers.add_parser(
        "restore", help="replace the database with a backup (stop the services first)"
    )
    restore.add_argument("file", type=Path, metavar="FILE", help="a file made by `backup`")
    restore.add_argument("--force", action="store_true", help="replace a database that holds data")


def _fail(message: str, code: int) -> int:
    print(f"veileder: {message}", file=sys.stderr)
    return code


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Run `backup` or `restore` (the caller checked `args.command in COMMANDS`)."""
    url = settings.database
    try:
        if args.command == "backup":
            return _backup(url, args.out)
        return _restore(url, args.file, force=args.force)
    except (backup.ToolMissing, backup.NotABackup) as exc:
        return _fail(str(exc), FIX_FIRST)
    except backup.BackupError as exc:
        return _fail(str(exc), FAILED)


def _backup(url: str, out: Path) -> int:
    if out.is_dir():
        return _fail(f"--out {out} is a directory; name the backup file", FIX_FIRST)
    if not out.parent.is_dir():
        return _fail(f"--out {out}: there is no directory {out.parent}", FIX_FIRST)
    if backup.is_postgresql(url):
        backup.backup_postgresql(url, out)
    else:
        backup.backup_sqlite(url, out)
    print(f"backed up to {out}")
    return 0


def _restore(url: str, file: Path, *, force: bool) -> int:
    if not file.is_file():
        return _fail(f"there is no backup file at {file}", FIX_FIRST)
    backup.check_kind(file, url)
    postgresql = backup.is_postgresql(url)
    if not force:
        held = asyncio.run(backup.rows_held(url))
        if held:
            tables = ", ".join(f"{table} ({rows})" for table, rows in sorted(held.items()))
            return _fail(
                f"the database holds data ({tables}); restore replaces all of it: make a backup"
                " of it first, then run restore again with --force",
                FIX_FIRST,
            )
        others = asyncio.run(backup.other_sessions(url)) if postgresql else 0
        if others:
            return _fail(
                f"{others} other connection(s) to the database: stop the bot and the worker"
                " first (or use --force)",
                FIX_FIRST,
            )
    if postgresql:
        backup.restore_postgresql(file, url)
    else:
        backup.restore_sqlite(file, url)
    print(f"restored {file}; the next start brings the schema up to date")
    return 0
