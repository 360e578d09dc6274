"""Configuration, read from the environment and `.env`.

Every setting is documented in `.env.example`. A wrong value stops start-up with one line that
names the setting and the reason (see `SettingsError`), never with a traceback.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import re
import secrets
from datetime import date, time, timedelta
from enum import StrEnum
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from bot.domain.reminders import Policy, parse_days, parse_hours

MIN_SECRET_KEY_LENGTH = 32  # characters; shorter keys are guessable offline from one signature
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


class SettingsError(Exception):
    """A configuration problem, phrased for the person starting the service."""


class MailBackend(StrEnum):
    SMTP = "smtp"
    FILE = "file"


class SmtpSecurity(StrEnum):
    NONE = "none"
    STARTTLS = "starttls"
    TLS = "tls"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        case_sensitive=False,
        env_ignore_empty=True,
    )

    telegram_bot_token: str | None = None
    telegram_api_base_url: str = "https://api.telegram.org/bot"
    telegram_bot_username: str | None = None  # for links made outside the bot (CLI invitations)
    var_dir: Path = Path("var")
    database_url: str | None = None
    secret_key: str | None = None
    mail_backend: MailBackend = MailBackend.FILE
    mail_from: str = "Veileder <veileder@localhost>"
    smtp_host: str = "localhost"
    smtp_port: int = Field(default=25, ge=1, le=65535)
    smtp_user: str | None = None
    smtp_password: str | None = None
    smtp_security: SmtpSecurity = SmtpSecurity.NONE
    smtp_timeout_seconds: float = Field(default=15.0, gt=0)
    timezone: str = "Europe/Oslo"
    coordinator_margin_weeks: int = Field(default=2, ge=0, le=12)
    offers_per_place: int = Field(default=2, ge=1, le=10)
    public_url: str | None = None  # https://... where /unsubscribe is served, if anywhere
    web_host: str = "127.0.0.1"
    web_port: int | None = Field(default=None, ge=0, le=65535)  # the web app (`bot.web`)
    webhook_url: str | None = None  # https://... : Telegram posts updates to <this>/telegram/<id>
    webhook_secret: str | None = None  # default derived from SECRET_KEY (`signing.webhook_secret`)
    reply_to: str | None = None  # fallback Reply-To when no coordinator is responsible
    emails_per_day: int = Field(default=1, ge=1, le=10)
    emails_per_week: int = Field(default=2, ge=1, le=20)
    working_hours: str = "08:00-20:00"
    working_days: str = "mon-fri"
    followup_days: int = Field(default=7, ge=1, le=60)
    followups_per_offer: int = Field(default=2, ge=0, le=5)
    season_check_date: str = "02-01"  # MM-DD: "same as last season?" for the April season
    digest_time: str = "07:30"
    draft_expiry_days: int = Field(default=30, ge=1, le=365)
    # Privacy (GDPR): who answers for the data, and how long an inactive supervisor's is kept.
    privacy_controller: str = "the student association that runs this bot"
    privacy_contact: str | None = None  # an address for privacy requests (else none is named)
    retention_inactive_seasons: int = Field(default=2, ge=1, le=10)  # whole seasons, then asked
    retention_answer_days: int = Field(default=60, ge=7, le=365)  # no answer: erased
    # Per-person flood control (`bot.domain.flood`): a burst of this many updates, refilled
    # over FLOOD_SECONDS; 0 turns it off.
    flood_updates: int = Field(default=30, ge=0, le=10_000)
    flood_seconds: float = Field(default=15.0, gt=0, le=3_600)
    log_level: str = "INFO"
    # Updates of different people processed at once (`bot.chat.inbox`); 1: one at a time.
    max_concurrent_updates: int = Field(default=256, ge=1, le=4096)

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    @field_validator("digest_time")
    @classmethod
    def _clock_time(cls, value: str) -> str:
        try:
            time.fromisoformat(value)
        except ValueError as exc:
            raise ValueError("expected a time like 07:30") from exc
        return value

    @field_validator("working_hours")
    @classmethod
    def _hours(cls, value: str) -> str:
        try:
            parse_hours(value)
        except ValueError as exc:
            raise ValueError("expected a range like 08:00-20:00") from exc
        return value

    @field_validator("working_days")
    @classmethod
    def _days(cls, value: str) -> str:
        try:
            parse_days(value)
        except ValueError as exc:
            raise ValueError("expected days like mon-fri or mon,wed,fri") from exc
        return value

    @field_validator("season_check_date")
    @classmethod
    def _month_day(cls, value: str) -> str:
        try:
            date.fromisoformat(f"2000-{value}")
        except ValueError as exc:
            raise ValueError("expected MM-DD, like 02-01") from exc
        return value

    @field_validator("database_url")
    @classmethod
    def _supported_database(cls, value: str | None) -> str | None:
        if value and not value.startswith(("sqlite+aiosqlite://", "postgresql+psycopg://")):
            raise ValueError("use sqlite+aiosqlite:///PATH or postgresql+psycopg://USER@HOST/DB")
        return value

    @field_validator("telegram_bot_token")
    @classmethod
    def _token_shape(cls, value: str | None) -> str | None:
        if value is None or value.strip() == "":
            return None
        head, sep, tail = value.strip().partition(":")
        if not sep or not head.isascii() or not head.isdigit() or len(tail) < 10:
            raise ValueError("expected the form 123456789:ABC... that BotFather gives")
        return value.strip()

    @field_validator("secret_key")
    @classmethod
    def _long_secret(cls, value: str | None) -> str | None:
        if value is not None and len(value.strip()) < MIN_SECRET_KEY_LENGTH:
            length = len(value.strip())
            raise ValueError(
                f"must be at least {MIN_SECRET_KEY_LENGTH} characters (it has {length});"
                " make one with: python -c 'import secrets; print(secrets.token_urlsafe(32))'"
            )
        return value.strip() if value is not None else None

    @field_validator("public_url")
    @classmethod
    def _https_only(cls, value: str | None) -> str | None:
        if value is not None and not value.lower().startswith("https://"):
            raise ValueError("must start with https:// (unsubscribe links carry a personal token)")
        return value

    @field_validator("webhook_url")
    @classmethod
    def _https_webhook(cls, value: str | None) -> str | None:
        if value is not None and not value.lower().startswith("https://"):
            raise ValueError("must start with https:// (Telegram sends webhooks only over HTTPS)")
        return value

    @field_validator("webhook_secret")
    @classmethod
    def _telegram_secret(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"[A-Za-z0-9_-]{1,256}", value, re.ASCII):
            raise ValueError("Telegram accepts 1-256 characters of A-Z, a-z, 0-9, _ and -")
        return value

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        if value.strip().upper() not in LOG_LEVELS:
            raise ValueError(f"expected one of {', '.join(LOG_LEVELS)}, not {value!r}")
        return value.strip().upper()

    @model_validator(mode="after")
    def _no_password_in_clear(self) -> Settings:
        """A login over a plain connection sends the password in clear text; only a server on
        this machine (a local relay) may be used that way."""
        if (
            self.smtp_user
            and self.smtp_security == SmtpSecurity.NONE
            and not _is_loopback(self.smtp_host)
        ):
            raise ValueError(
                f"SMTP_SECURITY: none would send SMTP_USER's password in clear text to"
                f" {self.smtp_host}; use starttls or tls (plain is allowed only to this machine)"
            )
        return self

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def reminder_policy(self) -> Policy:
        """When offer emails and chat nudges may go, and how many (`bot.domain.reminders`)."""
        start, end = parse_hours(self.working_hours)
        return Policy(
            tz=self.tz,
            start=start,
            end=end,
            days=parse_days(self.working_days),
            per_day=self.emails_per_day,
            per_week=self.emails_per_week,
            followup_after=timedelta(days=self.followup_days),
            followups=self.followups_per_offer,
        )

    @property
    def database(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.var_dir / 'veileder.db').as_posix()}"

    @property
    def mail_dir(self) -> Path:
        return self.var_dir / "mail"

    def resolved_secret_key(self) -> str:
        """The signing key; generated once into `var/secret_key` when none is configured.

        Generating instead of defaulting keeps a forgotten setting from shipping a well-known key,
        while `make run` still works with no configuration at all.
        """
        if self.secret_key:
            return self.secret_key
        path = self.var_dir / "secret_key"
        if not path.exists():
            self.var_dir.mkdir(mode=0o700, parents=True, exist_ok=True)  # owner only
            _create_once(path, secrets.token_urlsafe(32))
        key = path.read_text().strip()
        if len(key) < MIN_SECRET_KEY_LENGTH:
            raise SettingsError(
                f"SECRET_KEY: {path} holds a key shorter than {MIN_SECRET_KEY_LENGTH} characters;"
                " set SECRET_KEY, or delete the file to generate a new one"
            )
        return key


def _is_loopback(host: str) -> bool:
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[] ")).is_loopback
    except ValueError:
        return False


def _create_once(path: Path, content: str) -> None:
    """Write `content` to `path` unless it exists, readable by the owner only.

    The key is written to a private file first (O_EXCL, 0600) and then linked into place, which
    fails if the name exists: two processes starting at once end up with one key, and neither
    ever reads a half-written file.
    """
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as file:
            file.write(content)
            file.flush()
            os.fsync(file.fileno())
        with contextlib.suppress(FileExistsError):  # another process was first: its key wins
            os.link(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def load_settings(**overrides: object) -> Settings:
    """Read settings, turning pydantic's report into one line naming the setting."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        error = exc.errors()[0]
        message = str(error["msg"]).removeprefix("Value error, ")
        if not error["loc"]:  # a rule about several settings names them itself
            raise SettingsError(message) from None
        raise SettingsError(f"{str(error['loc'][0]).upper()}: {message}") from None
