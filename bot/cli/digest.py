"""`python -m bot digest preview --coordinator EMAIL [--out DIR]`: see a coordinator's digest.

Writes the HTML and the plain text of the digest that person would receive for the current
period if it were made now - also when it is empty and would not be sent - and prints the two
paths. Nothing is recorded or queued. Exit codes: 0 written, 1 no coordinator has that email.
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Any

from bot.core import i18n
from bot.core.settings import Settings
from bot.domain.clock import Clock, FrozenClock, SystemClock
from bot.services import digests
from storage.db import Database

COMMAND = "digest"


def add_commands(subparsers: Any) -> None:
    """Add `digest` to `python -m bot`'s subcommands (the `add_subparsers()` object)."""
    parser = subparsers.add_parser("digest", help="coordinators' digest emails")
    actions = parser.add_subparsers(dest="digest_action", metavar="ACTION", required=True)
    preview = actions.add_parser(
        "preview", help="write the HTML and text of a coordinator's digest as it would be now"
    )
    preview.add_argument("--coordinator", required=True, metavar="EMAIL")
    preview.add_argument(
        "--out", type=Path, metavar="DIR", help="where to write (default: VAR_DIR/digests)"
    )
    preview.add_argument(
        "--today",
        type=date.fromisoformat,
        metavar="YYYY-MM-DD",
        help="as it would be on this date at the digest time (default: now)",
    )


def _part(message: Any, subtype: str) -> str:
    body = message.get_body(preferencelist=(subtype,))
    return str(body.get_content()) if body is not None else ""


def _write(directory: Path, files: dict[str, str]) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, content in files.items():
        path = directory / name
        path.write_text(content, encoding="utf-8")
        written.append(path)
    return written


async def _preview(args: argparse.Namespace, settings: Settings, clock: Clock) -> int:
    db = Database(settings.database)  # migrated by `python -m bot` before any tool runs
    try:
        found = await digests.preview(db, settings, args.coordinator, clock.now())
    finally:
        await db.close()
    if found is None:
        problem = i18n.gettext("en", "digest.cli.not_found").format(email=args.coordinator)
        print(f"veileder: {problem}", file=sys.stderr)
        return 1
    digest, message = found
    stem = "digest-" + "".join(c if c.isalnum() else "-" for c in args.coordinator.lower())
    for path in _write(
        args.out or settings.var_dir / "digests",
        {
            f"{stem}-{digest.period}.html": _part(message, "html"),
            f"{stem}-{digest.period}.txt": _part(message, "plain"),
        },
    ):
        print(path)
    if digest.empty:
        print(i18n.gettext("en", "digest.cli.empty"))
    return 0


async def dispatch(
    args: argparse.Namespace, settings: Settings, clock: Clock | None = None
) -> int | None:
    """Run `digest ...`; None when `args` is some other command."""
    if getattr(args, "command", None) != COMMAND:
        return None
    if args.digest_action == "preview":
        if clock is None and getattr(args, "today", None) is not None:
            at = datetime.combine(args.today, time.fromisoformat(settings.digest_time), settings.tz)
            clock = FrozenClock(at.astimezone(UTC))
        return await _preview(args, settings, clock or SystemClock())
    return 2
