"""`python -m bot coordinators add|list|remove`: the yearly handover, from a terminal.

    python -m bot coordinators add --email kari@nmf.no --role LEO --type clinical --city oslo
    python -m bot coordinators list
    python -m bot coordinators remove --email kari@nmf.no [--role LEO] [--type ...] [--city ...]

`add` stores the scope and queues the invitation email in one transaction (the running bot's
outbox sender delivers it); adding a scope the person already holds sends a fresh invitation.
Exit codes: 0 done, 1 nothing matched (`remove`), 2 a bad value (one line on stderr names it).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from bot.core import i18n
from bot.core.settings import Settings
from bot.domain.clock import Clock, SystemClock
from bot.domain.reference import EXCHANGE_TYPES
from bot.services import coordinators
from bot.services.coordinators import ROLES, ScopeError
from storage import coordinators as store
from storage.db import Database
from storage.models import Coordinator

COMMAND = "coordinators"
DEFAULT_BOT_USERNAME = "veileder_bot"


def _say(message_id: str, **values: Any) -> None:
    """A catalog text for the terminal: English, nothing escaped (it is not HTML)."""
    print(i18n.plain("en", message_id, **values))


def add_commands(subparsers: Any) -> None:
    """Add `coordinators` to `python -m bot`'s subcommands (the `add_subparsers()` object)."""
    parser = subparsers.add_parser(
        COMMAND, help="add, list or remove exchange coordinators (the yearly handover)"
    )
    actions = parser.add_subparsers(dest="coordinators_action", metavar="ACTION", required=True)
    add = actions.add_parser("add", help="add a scope and email the person a one-tap invitation")
    add.add_argument("--email", required=True)
    add.add_argument("--role", required=True, type=str.upper, choices=ROLES)
    add.add_argument("--type", dest="exchange_type", required=True, choices=EXCHANGE_TYPES)
    add.add_argument("--city", required=True, help=f"a city code, or {store.NATIONAL}")
    add.add_argument("--language", default="nb", choices=i18n.SUPPORTED)
    add.add_argument(
        "--bot-username",
        default=None,
        help="the bot the invitation link opens (default: the TELEGRAM_BOT_USERNAME setting, "
        f"else {DEFAULT_BOT_USERNAME})",
    )
    actions.add_parser("list", help="every coordinator: scope, email, connected or not")
    remove = actions.add_parser("remove", help="remove a person's scopes (all, or the matching)")
    remove.add_argument("--email", required=True)
    remove.add_argument("--role", type=str.upper, choices=ROLES)
    remove.add_argument("--type", dest="exchange_type", choices=EXCHANGE_TYPES)
    remove.add_argument("--city")


async def dispatch(
    args: argparse.Namespace, settings: Settings, *, clock: Clock | None = None
) -> int | None:
    """Run `coordinators ...`; None when `args` is some other command."""
    if getattr(args, "command", None) != COMMAND:
        return None
    db = Database(settings.database)  # migrated by `python -m bot` before any tool runs
    try:
        action = args.coordinators_action
        if action == "add":
            return await _add(args, settings, db, (clock or SystemClock()))
        if action == "list":
            return await _list(db, (clock or SystemClock()))
        if action == "remove":
            return await _remove(args, db)
    finally:
        await db.close()
    return 2


async def _add(args: argparse.Namespace, settings: Settings, db: Database, clock: Clock) -> int:
    try:
        scope = coordinators.check_scope(
            email=args.email,
            role=args.role,
            exchange_type=args.exchange_type,
            city=args.city,
            language=args.language,
        )
    except ScopeError as exc:
        print(f"veileder: {exc}", file=sys.stderr)
        return 2
    now = clock.now()
    async with db.session() as session:
        existing = await store.find_coordinator(
            session,
            email=scope.email,
            role=scope.role,
            exchange_type=scope.exchange_type,
            city=scope.city,
        )
        coordinator = await coordinators.invite(
            session,
            scope,
            secret=settings.resolved_secret_key().encode(),
            mail_from=settings.mail_from,
            bot_username=(
                args.bot_username or settings.telegram_bot_username or DEFAULT_BOT_USERNAME
            ).lstrip("@"),
            now=now,
        )
    label = coordinators.scope_label(coordinator, "en")
    if existing is not None:
        _say("coord.cli.invited_again", email=scope.email, scope=label)
    _say("coord.cli.invited", email=scope.email, scope=label)
    return 0


def _state(coordinator: Coordinator, clock: Clock) -> str:
    if coordinator.bound_at is not None:
        return i18n.gettext("en", "coord.cli.bound").format(date=coordinator.bound_at.date())
    key = (
        "coord.cli.expired"
        if coordinator.invited_at + store.INVITE_VALIDITY <= clock.now()
        else "coord.cli.waiting"
    )
    return i18n.gettext("en", key).format(date=coordinator.invited_at.date())


async def _list(db: Database, clock: Clock) -> int:
    async with db.session() as session:
        everyone = await store.list_coordinators(session)
    if not everyone:
        _say("coord.cli.none")
    for c in everyone:
        print(f"{c.role:<5} {c.exchange_type:<9} {c.city:<10} {c.email:<40} {_state(c, clock)}")
    return 0


async def _remove(args: argparse.Namespace, db: Database) -> int:
    async with db.session() as session:
        count = await store.remove_coordinator(
            session,
            args.email.strip(),
            role=args.role,
            exchange_type=args.exchange_type,
            city=args.city.lower() if args.city else None,
        )
    if count == 0:
        _say("coord.cli.not_found", email=args.email)
        return 1
    _say("coord.cli.removed", count=count, email=args.email)
    return 0
