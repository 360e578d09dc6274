"""Shared fixtures: real databases (SQLite file, PostgreSQL server), the real PTB application
with only its HTTP layer replaced, a frozen clock, and chat users to play the supervisors."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import NoReturn

import psycopg
import pytest
from sqlalchemy.engine import make_url

from bot.app import App, build_application, running, services_of
from bot.core.context import Services
from bot.core.settings import Settings
from bot.domain.clock import FrozenClock
from bot.mail.backends import FileBackend
from storage.migrate import upgrade
from tests.support import effort
from tests.support.botapi.fake import FakeTelegram
from tests.support.botapi.request import RecordingRequest
from tests.support.chat import Chat, TgUser
from tests.support.databases import (
    PostgresCopies,
    copy_sqlite_template,
    create_postgres_database,
    drop_postgres_database,
    migrate_sqlite_template,
    postgres_url_of,
    sqlite_url_at,
    unique_database_name,
)
from tests.support.pacing import virtual_limiter

# Stories send one person's updates faster than anyone types (no pauses between answers), so
# per-person flood control is off for them, in-process and in the bots they start as
# subprocesses; tests/chat/test_flood.py and the fuzz test switch it on with limits of their own.
os.environ.setdefault("FLOOD_UPDATES", "0")

POSTGRES_SERVER = os.environ.get(
    "VEILEDER_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres"
)


def _postgres_unavailable(reason: str) -> NoReturn:
    message = f"PostgreSQL not reachable at {POSTGRES_SERVER} ({reason})"
    if os.environ.get("CI") == "true":
        pytest.fail(message + "; with CI=true this is a failure, not a skip")
    pytest.skip(message + "; set VEILEDER_TEST_POSTGRES to run these tests")


def _postgres_admin() -> psycopg.Connection:
    try:
        return psycopg.connect(POSTGRES_SERVER, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as exc:
        _postgres_unavailable(str(exc).splitlines()[0])


@contextmanager
def _postgres_database(kind: str, template: str | None) -> Iterator[str]:
    """A new, uniquely named database (a copy of `template`, or empty), dropped afterwards."""
    name = unique_database_name(kind)
    with _postgres_admin() as admin:
        create_postgres_database(admin, name, template)
    try:
        yield postgres_url_of(POSTGRES_SERVER, name)
    finally:
        drop_postgres_database(POSTGRES_SERVER, name)


@pytest.fixture(scope="session")
def postgres_copies() -> Iterator[PostgresCopies]:
    """This session's migrated PostgreSQL template, and the copies tests get of it.

    Each pytest process (each xdist worker too) makes its own template, so none is shared."""
    with _postgres_database("template", template=None) as url:
        upgrade(url)
        copies = PostgresCopies(POSTGRES_SERVER, make_url(url).database or "")
        try:
            yield copies
        finally:
            copies.close()


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A freshly created, empty, uniquely named PostgreSQL database, dropped afterwards."""
    with _postgres_database("test", template=None) as url:
        yield url


@pytest.fixture
def migrated_postgres_url(postgres_copies: PostgresCopies) -> Iterator[str]:
    """A uniquely named PostgreSQL database at the migrations' head, dropped afterwards."""
    name = postgres_copies.take()
    try:
        yield postgres_url_of(POSTGRES_SERVER, name)
    finally:
        postgres_copies.give_back(name)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """This session's migrated SQLite file, which tests' databases copy."""
    return migrate_sqlite_template(tmp_path_factory.mktemp("template") / "veileder.db")


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """Where this test's SQLite database goes; nothing is there yet."""
    return sqlite_url_at(tmp_path / "var" / "veileder.db")


@pytest.fixture
def migrated_sqlite_url(tmp_path: Path, sqlite_template: Path) -> str:
    """A SQLite database at the migrations' head, at tmp_path/var/veileder.db."""
    return copy_sqlite_template(sqlite_template, tmp_path / "var" / "veileder.db")


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest) -> str:
    """Each test using this runs twice: on a SQLite file and on a PostgreSQL server.

    The database is empty, unless the test asks for `migrated_url`: then the PostgreSQL database
    is made as a copy of the migrated template (rather than made empty and replaced), and the
    SQLite file is copied into place by `migrated_url`. A module can set `database_url` to
    `sqlite_url` to run its tests on SQLite only."""
    if request.param == "postgres":
        migrated = "migrated_url" in request.fixturenames
        return str(request.getfixturevalue("migrated_postgres_url" if migrated else "postgres_url"))
    return str(request.getfixturevalue("sqlite_url"))


@pytest.fixture
def migrated_url(request: pytest.FixtureRequest, database_url: str) -> str:
    """`database_url`, at the migrations' head: a copy of this session's migrated template."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        sqlite_template = request.getfixturevalue("sqlite_template")
        copy_sqlite_template(sqlite_template, Path(url.database or ""))
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
        rate_limiter=virtual_limiter(),
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


def pytest_sessionstart(session: pytest.Session) -> None:
    if not hasattr(session.config, "workerinput"):  # the controller, or a run without xdist
        effort.clear()


def pytest_sessionfinish(session: pytest.Session) -> None:
    if not hasattr(session.config, "workerinput"):
        effort.write_table()
