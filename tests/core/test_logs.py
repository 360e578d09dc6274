"""Logs never carry a bot token, an email address or a person's message text."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from bot.core import logs


def test_tokens_and_addresses_are_redacted_from_every_line():
    url = "https://api.telegram.org/bot123456789:AAExampleTokenExampleToken12/getMe"
    line = logs.redact(f"GET {url} for kari@uio.no")
    assert "123456789:AAE" not in line and "kari@uio.no" not in line
    assert "<token>" in line and "<email>" in line


@pytest.fixture
def configured_logging() -> Iterator[None]:
    """`logs.configure` changes the root logger: put it back for the tests that follow."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    for name in ("httpx", "httpcore", "apscheduler", "aiosqlite", "alembic"):
        logging.getLogger(name).setLevel(logging.NOTSET)


def test_httpx_request_lines_are_silenced_and_addresses_masked(configured_logging, capsys):
    logs.configure("INFO")
    assert logging.getLogger("httpx").getEffectiveLevel() >= logging.WARNING
    logging.getLogger("bot.test").info("delivered to %s", "ola@uio.no")
    err = capsys.readouterr().err
    assert "ola@uio.no" not in err and "level=info logger=bot.test" in err
