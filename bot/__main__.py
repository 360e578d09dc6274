"""`python -m bot`: run the bot, the terminal demo, or the migrations.

Exit codes: 0 done, 2 a configuration problem (one line on stderr names it).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from datetime import date

from bot.settings import Settings, SettingsError, load_settings


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
    start = commands.add_parser(
        "start", help="`run` when TELEGRAM_BOT_TOKEN is set, otherwise `demo`"
    )
    start.add_argument(
        "--no-migrate", action="store_true", help="do not migrate the database first"
    )
    commands.add_parser("migrate", help="bring the database schema up to date")
    from bot import cli_coordinators, cli_digest, cli_mail, cli_slots, cli_supervisors

    cli_mail.add_commands(commands)
    cli_coordinators.add_commands(commands)
    cli_slots.add_commands(commands)
    cli_digest.add_commands(commands)
    cli_supervisors.add_commands(commands)
    return parser


def _fail(message: str) -> int:
    print(f"veileder: {message}", file=sys.stderr)
    return 2


def _migrate(settings: Settings) -> None:
    from storage.migrate import upgrade

    upgrade(settings.database)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = load_settings()
    except SettingsError as exc:
        return _fail(f"configuration error: {exc}")
    from bot import logs

    # The demo talks to a person in this terminal: only warnings may interrupt it.
    demo = args.command == "demo" or (args.command == "start" and not settings.telegram_bot_token)
    logs.configure("WARNING" if demo and settings.log_level == "INFO" else settings.log_level)
    if args.command == "start":
        args.command = "run" if settings.telegram_bot_token else "demo"
    if args.command == "migrate":
        _migrate(settings)
        return 0
    if args.command == "run":
        if not settings.telegram_bot_token:
            return _fail(
                "TELEGRAM_BOT_TOKEN is not set; set it in .env or the environment (or use `demo`)"
            )
        if not args.no_migrate:
            _migrate(settings)
        from telegram import Update

        from bot.app import build_application

        application = build_application(settings, start_scheduler=not args.no_scheduler)
        application.run_polling(allowed_updates=Update.ALL_TYPES, drop_pending_updates=False)
        return 0
    if args.command == "worker":
        if not settings.telegram_bot_token:
            return _fail("TELEGRAM_BOT_TOKEN is not set; the worker sends chat messages too")
        if not args.no_migrate:
            _migrate(settings)
        from bot.app import work

        return asyncio.run(work(settings))
    if args.command == "demo":
        if not args.no_migrate:
            _migrate(settings)
        from bot.demo import run_demo

        return asyncio.run(run_demo(settings, today=getattr(args, "today", None)))
    return _tool(args, settings)


def _tool(args: argparse.Namespace, settings: Settings) -> int:
    """The coordinators' command-line tools (coordinators, slots, offers, export)."""
    from bot import cli_coordinators, cli_digest, cli_mail, cli_slots, cli_supervisors

    _migrate(settings)
    tools = (cli_coordinators, cli_slots, cli_digest, cli_supervisors, cli_mail)

    async def run() -> int:
        for dispatch in (tool.dispatch for tool in tools):
            code = await dispatch(args, settings)
            if code is not None:
                return code
        return 2

    return asyncio.run(run())


if __name__ == "__main__":
    sys.exit(main())
