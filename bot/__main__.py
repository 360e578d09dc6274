"""`python -m bot`: run the bot, the terminal demo, the migrations, backups and the tools.

Exit codes: 0 done; 2 a configuration problem, 1 a server that cannot be reached (the database,
the Bot API, the SMTP server). Either way one line on stderr names the cause (`bot.startup`).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import sys
from collections.abc import Sequence
from datetime import date, time

from bot import startup
from bot.app import serve, work
from bot.cli import backup as cli_backup
from bot.cli import coordinators as cli_coordinators
from bot.cli import digest as cli_digest
from bot.cli import mail as cli_mail
from bot.cli import privacy as cli_privacy
from bot.cli import season as cli_season
from bot.cli import slots as cli_slots
from bot.cli import supervisors as cli_supervisors
from bot.core import logs
from bot.core.settings import MailBackend, Settings, SettingsError, load_settings
from bot.demo.session import run_demo
from bot.startup import StartupError
from storage.migrate import upgrade


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bot",
        description="Veileder: recruits supervisors for medical-student exchanges.",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    run = commands.add_parser(
        "run", help="run the Telegram bot with its senders and scheduler (needs TELEGRAM_BOT_TOKEN)"
    )
    run.add_argument("--no-migrate", action="store_true", help="do not migrate the database first")
    run.add_argument(
        "--no-scheduler", action="store_true", help="leave the sweeps to a separate `worker`"
    )
    run.add_argument(
        "--webhook",
        action="store_true",
        help="take updates by webhook at WEBHOOK_URL (or PUBLIC_URL) instead of polling;"
        " implied by WEBHOOK_URL",
    )
    worker = commands.add_parser(
        "worker", help="only the senders and the scheduler, no chat (needs TELEGRAM_BOT_TOKEN)"
    )
    worker.add_argument(
        "--no-migrate", action="store_true", help="do not migrate the database first"
    )
    demo = commands.add_parser("demo", help="a local chat in this terminal, driving the same bot")
    demo.add_argument("--no-migrate", action="store_true", help="do not migrate the database first")
    demo.add_argument(
        "--today",
        type=date.fromisoformat,
        metavar="YYYY-MM-DD",
        help="play the demo on this date, from 10:00",
    )
    demo.add_argument(
        "--at",
        type=time.fromisoformat,
        metavar="HH:MM",
        help="start the demo at this time of day instead (e.g. 22:00: offer emails wait)",
    )
    start = commands.add_parser(
        "start", help="`run` when TELEGRAM_BOT_TOKEN is set, otherwise `demo`"
    )
    start.add_argument(
        "--no-migrate", action="store_true", help="do not migrate the database first"
    )
    start.add_argument(
        "--no-scheduler", action="store_true", help="with a token: as `run --no-scheduler`"
    )
    commands.add_parser("migrate", help="bring the database schema up to date")
    cli_mail.add_commands(commands)
    cli_coordinators.add_commands(commands)
    cli_slots.add_commands(commands)
    cli_digest.add_commands(commands)
    cli_supervisors.add_commands(commands)
    cli_season.add_commands(commands)
    cli_backup.add_commands(commands)
    cli_privacy.add_commands(commands)
    return parser


def _fail(message: str) -> int:
    print(f"veileder: {message}", file=sys.stderr)
    return 2


def _migrate(settings: Settings) -> None:
    upgrade(settings.database)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = load_settings()
    except SettingsError as exc:
        return _fail(f"configuration error: {exc}")
    # The demo talks to a person in this terminal: only warnings may interrupt it.
    demo = args.command == "demo" or (args.command == "start" and not settings.telegram_bot_token)
    logs.configure("WARNING" if demo and settings.log_level == "INFO" else settings.log_level)
    if args.command == "start":
        args.command = "run" if settings.telegram_bot_token else "demo"
    try:
        return _command(args, settings)
    except StartupError as exc:
        print(f"veileder: {exc}", file=sys.stderr)
        return exc.exit_code
    except Exception as exc:
        explained = startup.explain_database_error(exc, settings)
        if explained is None:
            raise
        print(f"veileder: {explained}", file=sys.stderr)
        return explained.exit_code


def _prepare(settings: Settings, *, migrate: bool) -> None:
    """What every command needs before it touches anything: a key shared by all processes, a
    writable VAR_DIR, the signing key, and a reachable database (migrated unless told not to)."""
    startup.require_shared_key(settings)
    startup.check_var_dir(settings)
    startup.secret_key(settings)
    if migrate:
        _migrate(settings)
    else:
        asyncio.run(startup.check_database(settings))


def _serve(settings: Settings) -> None:
    """The servers `run` and `worker` talk to, checked before the first update is taken."""

    async def check() -> None:
        await startup.check_bot_api(settings)
        await startup.check_smtp(settings)

    asyncio.run(check())
    if settings.mail_backend == MailBackend.FILE:
        logging.getLogger("veileder").warning(
            "MAIL_BACKEND=file: emails are written as files to %s and reach nobody;"
            " set MAIL_BACKEND=smtp to send them",
            settings.mail_dir,
        )


def settle() -> None:
    """Before serving: everything imported and checked so far lives as long as the process, so
    the garbage collector is told to leave it alone (`gc.freeze`). A full collection otherwise
    walks those objects each time, holding the event loop for about 100 ms (issue 10, growth)."""
    gc.collect()
    gc.freeze()


def _command(args: argparse.Namespace, settings: Settings) -> int:
    if args.command == "migrate":
        startup.check_var_dir(settings)
        _migrate(settings)
        return 0
    if args.command == "run":
        if not settings.telegram_bot_token:
            return _fail(
                "TELEGRAM_BOT_TOKEN is not set; set it in .env or the environment (or use `demo`)"
            )
        webhook = getattr(args, "webhook", False) or settings.webhook_url is not None
        if webhook and not (settings.webhook_url or settings.public_url):
            return _fail("configuration error: WEBHOOK_URL: --webhook needs WEBHOOK_URL (https)")
        if webhook and settings.web_port is None:
            return _fail("configuration error: WEB_PORT: a webhook needs WEB_PORT set")
        startup.check_web_port(settings)
        _prepare(settings, migrate=not args.no_migrate)
        _serve(settings)
        settle()
        return asyncio.run(serve(settings, start_scheduler=not args.no_scheduler, webhook=webhook))
    if args.command == "worker":
        if not settings.telegram_bot_token:
            return _fail("TELEGRAM_BOT_TOKEN is not set; the worker sends chat messages too")
        _prepare(settings, migrate=not args.no_migrate)
        _serve(settings)
        settle()
        return asyncio.run(work(settings))
    if args.command == "demo":
        _prepare(settings, migrate=not args.no_migrate)
        today, at = getattr(args, "today", None), getattr(args, "at", None)
        return asyncio.run(run_demo(settings, today=today, at=at))
    if args.command in cli_backup.COMMANDS:  # never migrated first: see bot.cli.backup
        return cli_backup.run(args, settings)
    return _tool(args, settings)


def _tool(args: argparse.Namespace, settings: Settings) -> int:
    """The coordinators' command-line tools (coordinators, slots, offers, export, season)."""
    _prepare(settings, migrate=True)
    tools = (
        cli_coordinators,
        cli_slots,
        cli_digest,
        cli_supervisors,
        cli_mail,
        cli_season,
        cli_privacy,
    )

    async def run() -> int:
        for dispatch in (tool.dispatch for tool in tools):
            code = await dispatch(args, settings)
            if code is not None:
                return code
        return 2

    return asyncio.run(run())


if __name__ == "__main__":
    sys.exit(main())
