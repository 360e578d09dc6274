"""`python -m bot supervisors invite FILE.csv`: invite people who supervised before the bot existed.

    python -m bot supervisors invite FILE.csv [--skip-bad] [--bot-username NAME]

The file has a header naming its columns: `name,email`, optionally `field` and `city` (codes or
names, as in the slot files). Each address gets one personal invitation email, once ever;
addresses on the suppression list and addresses of registered supervisors are skipped. Like the
slot importer it is all-or-nothing by default: a file with any bad line invites nobody, and
running the corrected file again invites only those not invited yet.

Exit codes: 0 done, 1 bad lines (nothing done unless --skip-bad), 2 the file cannot be read.
"""

from __future__ import annotations

import argparse
import html
import sys
from pathlib import Path
from typing import Any, Final

from bot.cli.mail import reason
from bot.core.i18n import Translator
from bot.core.settings import Settings
from bot.domain.clock import Clock, SystemClock
from bot.domain.slots_csv import RowError, describe
from bot.services import campaigns
from storage.campaigns import suppression_for
from storage.db import Database

COMMAND: Final = "supervisors"
DEFAULT_BOT_USERNAME: Final = "veileder_bot"
_TR = Translator("en")


def add_commands(subparsers: Any) -> None:
    """Add `supervisors` to `python -m bot`'s subcommands (the `add_subparsers()` object)."""
    parser = subparsers.add_parser(COMMAND, help="bring former supervisors back")
    actions = parser.add_subparsers(dest="supervisors_action", metavar="ACTION", required=True)
    invite = actions.add_parser(
        "invite", help="email each person in a CSV file (name,email[,field,city]) one invitation"
    )
    invite.add_argument("file", type=Path, metavar="FILE")
    invite.add_argument(
        "--skip-bad", action="store_true", help="invite from the good lines even if some are bad"
    )
    invite.add_argument(
        "--bot-username",
        default=None,
        help="the bot the invitation links open (default: the TELEGRAM_BOT_USERNAME setting, "
        f"else {DEFAULT_BOT_USERNAME})",
    )


def _say(message_id: str, /, *, error: bool = False, **values: Any) -> None:
    print(html.unescape(_TR(message_id, **values)), file=sys.stderr if error else sys.stdout)


def _show(errors: list[RowError]) -> None:
    for problem in errors:
        print(html.unescape(describe(problem, _TR)), file=sys.stderr)


async def dispatch(
    args: argparse.Namespace, settings: Settings, *, clock: Clock | None = None
) -> int | None:
    """Run `supervisors ...`; None when `args` is some other command."""
    if getattr(args, "command", None) != COMMAND:
        return None
    if args.supervisors_action == "invite":
        return await _invite(args, settings, clock or SystemClock())
    return 2


async def _invite(args: argparse.Namespace, settings: Settings, clock: Clock) -> int:
    try:
        data = args.file.read_bytes()
    except OSError as exc:
        print(f"veileder: cannot read {args.file}: {exc.strerror}", file=sys.stderr)
        return 2
    rows, errors = campaigns.parse_invitations(data)
    _show(errors)
    bad = len({e.line for e in errors})
    if errors and not args.skip_bad:
        _say("invite.cli.nothing", error=True)
        return 1
    username = (
        args.bot_username
        or getattr(settings, "telegram_bot_username", None)
        or DEFAULT_BOT_USERNAME
    )
    db = Database(settings.database)  # migrated by `python -m bot` before any tool runs
    try:
        async with db.session() as session:
            report = await campaigns.invite(
                session,
                rows,
                settings=settings,
                secret=settings.resolved_secret_key().encode(),
                bot_username=str(username).lstrip("@"),
                now=clock.now(),
            )
    finally:
        await db.close()
    _say(
        "invite.cli.report",
        invited=len(report.invited),
        already=len(report.already),
        suppressed=len(report.suppressed),
        registered=len(report.registered),
        bad=bad,
    )
    await _show_suppressed(settings, report.suppressed)
    return 1 if bad and not report.invited else 0


async def _show_suppressed(settings: Settings, addresses: list[str]) -> None:
    """Each address not invited because of the suppression list, with the true reason."""
    if not addresses:
        return
    db = Database(settings.database)
    try:
        async with db.session() as session:
            found = [await suppression_for(session, a) for a in addresses]
    finally:
        await db.close()
    for row in found:
        if row is not None:
            _say(
                "invite.cli.suppressed",
                email=row.email,
                reason=reason(row),
                date=row.created_at.date().isoformat(),
            )
