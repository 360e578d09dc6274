"""Fixtures for stories with a coordinator: the fake Bot API that serves uploaded files, the
application wired as in production, and Nora, the local exchange officer in Oslo.

Import them into a test module (`from tests.support.coordinator_fixtures import app, fake, nora`)
to use them in place of the plain ones from `tests/conftest.py`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from bot.app import App
from bot.core.settings import Settings
from bot.domain.clock import FrozenClock
from tests.support import coordinators as support
from tests.support.chat import Chat
from tests.support.coordinators import NORA
from tests.support.files import FilesTelegram


@pytest.fixture
def fake() -> FilesTelegram:
    return FilesTelegram()


@pytest.fixture
async def app(settings: Settings, fake: FilesTelegram, clock: FrozenClock) -> AsyncIterator[App]:
    async with support.application(settings, fake, clock) as application:
        yield application


@pytest.fixture
def nora(fake: FilesTelegram, app: App) -> Chat:
    """A student volunteer, local exchange officer in Oslo, who reads English."""
    return Chat.in_process(fake, NORA, app)
