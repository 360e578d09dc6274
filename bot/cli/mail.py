"""Command-line tools for the operator of the mail: the suppression list and undelivered mail.

    python -m bot suppressions list
    python -m bot suppressions remove EMAIL
    python -m bot outbox failed
    python -m bot outbox retry

`suppressions remove` lifts a bounce (the person fixed their mailbox, or the operator's own
misconfiguration once caused it); an address a person took off themselves ("no thanks",
unsubscribed) stays: only they can undo that, from the bot. `outbox failed` lists the held
emails (waiting for the operator to fix the mail settings, see `bot.mail.sender`) and the failed
ones with the server's reason; `outbox retry` sends the held ones, and those waiting out a
backoff, at the next pass of the running sender. These tools show full addresses: they are the
operator's, in the operator's terminal, never in a log.

Exit codes: 0 done, 1 nothing to remove or the removal refused.
"""

from __future__ import annotations

import argparse
import html
import sys
from typing import Any, Final

from bot.core.i18n import Translator
from bot.core.settings import Settings
from bot.domain.clock import Clock, SystemClock
from storage import campaigns, outbox
from storage.db import Database
from storage.models import OutboxStatus, Suppression

_TR = Translator("en")
BOUNCED: Final = "bounced"


def add_commands(subparsers: Any) -> None:
    """Add `suppressions` and `outbox` to `python -m bot`'s subcommands."""
    suppressions = subparsers.add_parser(
        "suppressions", help="addresses that get no email (bounced, said no, unsubscribed)"
    )
    actions = suppressions.add_subparsers(
        dest="suppressions_action", metavar="ACTION", required=True
    )
    actions.add_parser("list", help="every suppressed address with its reason")
    remove = actions.add_parser("remove", help="let a bounced address be emailed again")
    remove.add_argument("email", metavar="EMAIL")
    mail = subparsers.add_parser("outbox", help="emails that were not delivered")
    mail_actions = mail.add_subparsers(dest="outbox_action", metavar="ACTION", required=True)
    mail_actions.add_parser("failed", help="held and failed emails with the server's reason")
    mail_actions.add_parser("retry", help="send the held emails (after fixing the mail settings)")


def _say(message_id: str, /, *, error: bool = False, **values: Any) -> None:
    print(html.unescape(_TR(message_id, **values)), file=sys.stderr if error else sys.stdout)


def reason(row: Suppression, tr: Translator = _TR) -> str:
    """Why an address is suppressed, truthfully: the bounce with the server's reply."""
    if row.reason == BOUNCED:
        return html.unescape(tr("mail.reason.bounced", detail=row.detail or "—"))
    if row.reason in ("declined", "unsubscribed"):
        return html.unescape(tr(f"mail.reason.{row.reason}"))
    return row.reason


async def _list_suppressions(db: Database) -> int:
    async with db.session() as session:
        found = await campaigns.suppressions(session)
    if not found:
        _say("mail.cli.suppressions.none")
    for row in found:
        print(f"{row.email}\t{row.created_at.date().isoformat()}\t{reason(row)}")
    return 0


async def _remove(db: Database, email: str) -> int:
    async with db.session() as session:
        row = await campaigns.suppression_for(session, email)
        if row is None:
            _say("mail.cli.suppressions.not_found", error=True, email=email)
            return 1
        if row.reason != BOUNCED:
            _say(
                "mail.cli.suppressions.own_choice",
                error=True,
                email=row.email,
                reason=reason(row),
                date=row.created_at.date().isoformat(),
            )
            return 1
        await session.delete(row)
    _say("mail.cli.suppressions.removed", email=row.email)
    return 0


async def _failed(db: Database) -> int:
    async with db.session() as session:
        rows = await outbox.undelivered(session)
    if not rows:
        _say("mail.cli.outbox.none")
        return 0
    for row in rows:
        when = row.next_attempt_at if row.status == OutboxStatus.FAILED else row.created_at
        error = " ".join((row.last_error or "").split())
        print(
            f"{row.id}\t{row.status.value}\t{row.kind}\t{when:%Y-%m-%d %H:%M}\t{row.recipient}\t"
            f"{error}"
        )
    held = sum(row.status == OutboxStatus.HELD for row in rows)
    if held:
        _say("mail.cli.outbox.held", error=True, count=held)
    return 0


async def _retry(db: Database, clock: Clock) -> int:
    async with db.session() as session:
        held, waiting = await outbox.retry_now(session, clock.now())
    _say("mail.cli.outbox.retried", held=held, waiting=waiting)
    return 0


async def dispatch(
    args: argparse.Namespace, settings: Settings, *, clock: Clock | None = None
) -> int | None:
    """Run `suppressions ...` or `outbox ...`; None when `args` is some other command."""
    command = getattr(args, "command", None)
    if command not in ("suppressions", "outbox"):
        return None
    db = Database(settings.database)  # migrated by `python -m bot` before any tool runs
    try:
        if command == "suppressions" and args.suppressions_action == "list":
            return await _list_suppressions(db)
        if command == "suppressions" and args.suppressions_action == "remove":
            return await _remove(db, args.email)
        if command == "outbox" and args.outbox_action == "failed":
            return await _failed(db)
        if command == "outbox" and args.outbox_action == "retry":
            return await _retry(db, clock or SystemClock())
        return 2
    finally:
        await db.close()
