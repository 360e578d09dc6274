"""Start-up checks: every reason a service cannot start is one line naming the cause.

A person starting the bot reads the first line of the terminal; a 177-line traceback about
psycopg hides the one fact that matters (the database is not there). So `python -m bot` runs
these checks before anything else, in the order the service needs things, and turns what they
find into a `StartupError`: exit code 2 for a configuration problem (fix a setting and start
again) and 1 for a server that cannot be reached (the same settings may work once it is up).

SMTP is checked at start (connect, TLS and login, as configured) when `run` or `worker` will send
email: a mistyped host or password otherwise shows only as retries in the log hours later, after
the first emails have queued. An SMTP server that goes away after start-up is the outbox's
business (it retries), not a reason to stop the bot.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import socket
from pathlib import Path

import aiosmtplib
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import InterfaceError, OperationalError
from telegram import Bot
from telegram.error import InvalidToken, NetworkError, TelegramError

from bot.core.logs import redact
from bot.core.settings import MailBackend, Settings, SettingsError
from bot.mail.backends import SmtpBackend
from storage.db import Database

CONFIGURATION = 2
UNREACHABLE = 1


class StartupError(Exception):
    """Why the service cannot start, in one line, with the exit code that says whose move it is."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return redact(text.splitlines()[0].strip())


def is_postgresql(settings: Settings) -> bool:
    return make_url(settings.database).get_backend_name() == "postgresql"


def require_shared_key(settings: Settings) -> None:
    """On PostgreSQL the bot and its workers may run on different hosts, and a key generated on
    each would sign links the others reject: the key must be configured, the same everywhere."""
    if is_postgresql(settings) and not settings.secret_key:
        raise StartupError(
            "configuration error: SECRET_KEY must be set when DATABASE_URL is PostgreSQL,"
            " the same for every process (a generated key differs from host to host)",
            CONFIGURATION,
        )


def _uses_var_dir(settings: Settings) -> bool:
    return (
        settings.database_url is None
        or settings.mail_backend == MailBackend.FILE
        or settings.secret_key is None
    )


def check_var_dir(settings: Settings) -> None:
    """Fail now, by name, rather than deep inside SQLite or the mail writer later."""
    if _uses_var_dir(settings):
        # Created readable by the owner only: it holds the database, the key and emails.
        _check_writable(settings.var_dir, "VAR_DIR", mode=0o700)
    url = make_url(settings.database)
    custom_sqlite = settings.database_url is not None and url.get_backend_name() == "sqlite"
    if custom_sqlite and url.database and url.database != ":memory:":
        _check_writable(Path(url.database).parent, "DATABASE_URL", mode=0o700)


def _check_writable(directory: Path, setting: str, *, mode: int) -> None:
    probe = directory / f".write-check-{os.getpid()}-{secrets.token_hex(4)}"
    try:
        directory.mkdir(mode=mode, parents=True, exist_ok=True)
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        reason = exc.strerror or _first_line(exc)
        if isinstance(exc, FileExistsError):
            reason = "a file of that name is in the way"
        raise StartupError(
            f"configuration error: {setting}: cannot write to {directory}: {reason}",
            CONFIGURATION,
        ) from None


def secret_key(settings: Settings) -> str:
    """The signing key, generated on first start when none is configured."""
    try:
        return settings.resolved_secret_key()
    except SettingsError as exc:
        raise StartupError(f"configuration error: {exc}", CONFIGURATION) from None
    except OSError as exc:
        path = settings.var_dir / "secret_key"
        raise StartupError(
            f"configuration error: SECRET_KEY: cannot create {path}: {exc.strerror or exc}",
            CONFIGURATION,
        ) from None


def explain_database_error(exc: BaseException, settings: Settings) -> StartupError | None:
    """The one line for a database that cannot be opened or reached; None for anything else."""
    if not isinstance(exc, OperationalError | InterfaceError):
        return None
    url = make_url(settings.database)
    reason = _first_line(exc.orig if exc.orig is not None else exc)
    if url.get_backend_name() == "sqlite":
        if "unable to open" in reason:  # a path that cannot be a database: fix the setting
            return StartupError(
                f"configuration error: DATABASE_URL: cannot open the SQLite database"
                f" {url.database}: {reason}",
                CONFIGURATION,
            )
        return StartupError(f"cannot use the SQLite database {url.database}: {reason}", UNREACHABLE)
    where = f"{url.host or 'localhost'}:{url.port or 5432}/{url.database or ''}"
    return StartupError(f"cannot connect to the database at {where}: {reason}", UNREACHABLE)


async def check_database(settings: Settings) -> None:
    """One query, so `--no-migrate` fails at start too, not in the first handler."""
    db = Database(settings.database)
    try:
        async with db.session() as session:
            await session.execute(text("SELECT 1"))
    except Exception as exc:
        explained = explain_database_error(exc, settings)
        if explained is None:
            raise
        raise explained from None
    finally:
        await db.close()


async def check_bot_api(settings: Settings) -> None:
    """Ask the Bot API who we are (what polling would do first), with the token never shown."""
    bot = Bot(settings.telegram_bot_token or "", base_url=settings.telegram_api_base_url)
    try:
        await bot.initialize()
    except InvalidToken:
        raise StartupError(
            f"configuration error: TELEGRAM_BOT_TOKEN: the Bot API at"
            f" {settings.telegram_api_base_url} rejected the token; copy it again from @BotFather",
            CONFIGURATION,
        ) from None
    except (NetworkError, TelegramError, OSError) as exc:
        raise StartupError(
            f"cannot reach the Telegram Bot API at {settings.telegram_api_base_url}:"
            f" {_first_line(exc)}",
            UNREACHABLE,
        ) from None
    finally:
        with contextlib.suppress(Exception):  # closing after a failure must not hide its cause
            await bot.shutdown()


async def check_smtp(settings: Settings) -> None:
    """Connect, STARTTLS or TLS and log in exactly as the outbox sender will, then QUIT."""
    if settings.mail_backend != MailBackend.SMTP:
        return
    client = SmtpBackend(settings).client()
    where = f"{settings.smtp_host}:{settings.smtp_port}"
    try:
        await client.connect()
    except aiosmtplib.SMTPAuthenticationError as exc:
        raise StartupError(
            f"configuration error: SMTP_USER/SMTP_PASSWORD: the SMTP server at {where} refused"
            f" the login: {exc.code} {redact(exc.message.splitlines()[0] if exc.message else '')}",
            CONFIGURATION,
        ) from None
    except (aiosmtplib.SMTPException, OSError) as exc:
        raise StartupError(
            f"cannot reach the SMTP server at {where}: {_first_line(exc)}", UNREACHABLE
        ) from None
    try:
        await client.quit()
    except (aiosmtplib.SMTPException, OSError):
        client.close()


def check_web_port(settings: Settings) -> None:
    """`WEB_HOST:WEB_PORT` can be listened on (only `run` listens there): a port another program
    holds is a setting to fix, said before the bot starts rather than after."""
    if settings.web_port is None or settings.web_port == 0:
        return
    family = socket.AF_INET6 if ":" in settings.web_host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((settings.web_host, settings.web_port))
        except OSError as exc:
            raise StartupError(
                f"configuration error: WEB_PORT: cannot listen on {settings.web_host}:"
                f"{settings.web_port} ({exc.strerror or exc})",
                CONFIGURATION,
            ) from None
