"""`python -m bot privacy export|erase|audit`: answering a request that came by email.

    python -m bot privacy export --email kari@ous-hf.no [--out FILE]   # the data, as JSON
    python -m bot privacy erase --email kari@ous-hf.no [--yes]         # without --yes: a dry run
    python -m bot privacy audit                                        # the deletion audit

Before running either for someone, check that the request comes from that mailbox (answer at
the address, not the reply-to). `export` writes what `/mydata` would give each supervisor
registered with the address, plus what the address alone keys (invitations, the do-not-email
entry, emails and codes sent to it, coordinator scopes). `erase` erases those supervisors
exactly as `/delete` does (`bot.services.erasure`) and then what the address alone keys; the
do-not-email entry stays, so the address is never emailed again. See docs/PRIVACY.md.
Exit codes: 0 done, 1 nothing stored under the address.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from bot.core import i18n
from bot.core.context import Services
from bot.core.settings import Settings
from bot.domain.clock import Clock, SystemClock
from bot.services import erasure
from storage import audit, privacy, repository
from storage.db import Database

COMMAND = "privacy"


class _QueueOnly:
    """This process only queues email; the running bot's outbox sender delivers it."""

    def wake(self) -> None:
        return None

    def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    async def run_once(self) -> int:
        return 0


def _say(message_id: str, **values: Any) -> None:
    print(i18n.plain("en", message_id, **values))


def add_commands(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        COMMAND, help="export or erase a person's data by email address (requests by email)"
    )
    actions = parser.add_subparsers(dest="privacy_action", metavar="ACTION", required=True)
    export = actions.add_parser("export", help="everything stored under an address, as JSON")
    export.add_argument("--email", required=True)
    export.add_argument("--out", type=Path, help="a file (default: standard output)")
    erase = actions.add_parser("erase", help="erase everything stored under an address")
    erase.add_argument("--email", required=True)
    erase.add_argument("--yes", action="store_true", help="erase (without it: a dry run)")
    actions.add_parser("audit", help="the deletion audit: when, why and how many rows")


async def dispatch(
    args: argparse.Namespace, settings: Settings, *, clock: Clock | None = None
) -> int | None:
    """Run `privacy ...`; None when `args` is some other command."""
    if getattr(args, "command", None) != COMMAND:
        return None
    db = Database(settings.database)
    try:
        if args.privacy_action == "audit":
            return await _audit(db)
        async with db.session() as session:
            accounts = await repository.supervisor_accounts_at(session, args.email)
            found = {
                "supervisors": [await repository.export_person(session, a) for a in accounts],
                **await privacy.export_address(session, args.email),
            }
        if not accounts and not any(v for k, v in found.items() if k != "email"):
            _say("privacy.cli.nothing", email=args.email)
            return 1
        if args.privacy_action == "export":
            return _export(found, args.out)
        if not args.yes:
            _say("privacy.cli.dry_run", email=args.email, supervisors=len(accounts))
            return 0
        svc = Services(
            settings=settings,
            db=db,
            clock=clock or SystemClock(),
            secret=settings.resolved_secret_key().encode(),
            sender=_QueueOnly(),
        )
        counts = await erasure.erase_address(svc, args.email)
        _say("privacy.cli.erased", email=args.email, counts=_counts(counts))
        return 0
    finally:
        await db.close()


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{kind} {count}" for kind, count in sorted(counts.items()) if count) or "-"


def _export(found: dict[str, Any], out: Path | None) -> int:
    text = json.dumps(found, ensure_ascii=False, indent=2)
    if out is None:
        sys.stdout.write(text + "\n")
        return 0
    out.write_text(text + "\n", encoding="utf-8")
    out.chmod(0o600)  # it is a person's data
    _say("privacy.cli.exported", out=str(out))
    return 0


async def _audit(db: Database) -> int:
    async with db.session() as session:
        entries = await audit.entries(session)
    for entry in entries:
        print(f"{entry.created_at:%Y-%m-%d %H:%M} {entry.kind:<10} {_counts(entry.counts)}")
    return 0
