"""Configuration, read from the environment and `.env`.

Every setting is documented in `.env.example`. A wrong value stops start-up with one line that
names the setting and the reason (see `SettingsError`), never with a traceback.
"""

from __future__ import annotations

import secrets
from datetime import date, time
from enum import StrEnum
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


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
    web_port: int | None = Field(default=None, ge=0, le=65535)  # the unsubscribe endpoint
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
    log_level: str = "INFO"

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
        first, sep, last = value.partition("-")
        try:
            ok = bool(sep) and time.fromisoformat(first.strip()) < time.fromisoformat(last.strip())
        except ValueError:
            ok = False
        if not ok:
            raise ValueError("expected a range like 08:00-20:00")
        return value

    @field_validator("working_days")
    @classmethod
    def _days(cls, value: str) -> str:
        from bot.reminders import parse_days

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
        if not sep or not head.isdigit() or len(tail) < 10:
            raise ValueError("expected the form 123456789:ABC... that BotFather gives")
        return value.strip()

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

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
        if path.exists():
            return path.read_text().strip()
        self.var_dir.mkdir(parents=True, exist_ok=True)
        key = secrets.token_urlsafe(32)
        path.write_text(key)
        path.chmod(0o600)
        return key


def load_settings(**overrides: object) -> Settings:
    """Read settings, turning pydantic's report into one line naming the setting."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        error = exc.errors()[0]
        name = str(error["loc"][0]).upper() if error["loc"] else "settings"
        message = str(error["msg"]).removeprefix("Value error, ")
        raise SettingsError(f"{name}: {message}") from None
