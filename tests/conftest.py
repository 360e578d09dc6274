"""Shared fixtures: real databases (SQLite file, PostgreSQL server), the real PTB application
with only its HTTP layer replaced, a frozen clock, and chat users to play the supervisors."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import psycopg
import pytest

from bot.app import App, build_application, running, services_of
from bot.core.context import Services
from bot.core.settings import Settings
from bot.domain.clock import FrozenClock
from bot.mail.backends import FileBackend
from storage.migrate import upgrade
from tests.support.botapi import FakeTelegram, RecordingRequest
from tests.support.chat import Chat, TgUser

POSTGRES_SERVER = os.environ.get(
    "VEILEDER_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres"
)


def _postgres_unavailable(reason: str) -> None:
    message = f"PostgreSQL not reachable at {POSTGRES_SERVER} ({reason})"
    if os.environ.get("CI") == "true":
        pytest.fail(message + "; with CI=true this is a failure, not a skip")
    pytest.skip(message + "; set VEILEDER_TEST_POSTGRES to run these tests")


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A freshly created, uniquely named PostgreSQL database, dropped afterwards."""
    name = f"veileder_test_{uuid.uuid4().hex[:12]}"
    try:
        admin = psycopg.connect(POSTGRES_SERVER, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as exc:
        _postgres_unavailable(str(exc).splitlines()[0])
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    base = POSTGRES_SERVER.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://", 1)
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(POSTGRES_SERVER, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'var' / 'veileder.db'}"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Each test using this runs twice: on a SQLite file and on a PostgreSQL server."""
    if request.param == "postgres":
        return str(request.getfixturevalue("postgres_url"))
    return str(request.getfixturevalue("sqlite_url"))


@pytest.fixture
def migrated_url(database_url: str) -> str:
    upgrade(database_url)
    return database_url


@pytest.fixture
def settings(tmp_path: Path, migrated_url: str) -> Settings:
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        var_dir=tmp_path / "var",
        database_url=migrated_url,
        secret_key="test-secret-key-of-at-least-32-characters",
        mail_backend="file",
        mail_from="Veileder <veileder@nmf.example>",
    )


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock()


@pytest.fixture
def fake() -> FakeTelegram:
    return FakeTelegram()


@pytest.fixture
async def app(settings: Settings, fake: FakeTelegram, clock: FrozenClock) -> AsyncIterator[App]:
    application = build_application(
        settings,
        request=RecordingRequest(fake),
        get_updates_request=RecordingRequest(fake),
        clock=clock,
        mail_backend=FileBackend(settings.mail_dir),
        start_sender=False,
    )
    async with running(application):
        yield application
    assert fake.violations == [], "the bot broke a Bot API rule"
    assert fake.unanswered_callback_queries() == [], "a button press was never answered"


@pytest.fixture
def services(app: App) -> Services:
    return services_of(app)


@pytest.fixture
def kari(fake: FakeTelegram, app: App) -> Chat:
    """A Norwegian-speaking hospital doctor."""
    return Chat.in_process(
        fake, TgUser(id=5551001, first_name="Kari", last_name="Nordmann", language_code="nb"), app
    )


@pytest.fixture
def john(fake: FakeTelegram, app: App) -> Chat:
    """An English-speaking researcher."""
    return Chat.in_process(
        fake, TgUser(id=5551002, first_name="John", last_name="Smith", language_code="en"), app
    )
