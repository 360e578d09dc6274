"""Structured (logfmt) logging that never carries tokens, addresses or message texts.

httpx logs every request URL at INFO, and a Bot API URL contains the bot token, so it is held at
WARNING; python-telegram-bot is held at INFO even when LOG_LEVEL=DEBUG (its DEBUG lines carry
every message sent and received). Our own log lines mention ids and counts only; `redact` is a
last line of defence.
"""

from __future__ import annotations

import logging
import re

_TOKEN = re.compile(r"\d{5,}:[A-Za-z0-9_-]{20,}")
_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")


def redact(text: str) -> str:
    return _EMAIL.sub("<email>", _TOKEN.sub("<token>", text))


class LogfmtFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        message = redact(record.getMessage()).replace('"', "'")
        line = (
            f"time={self.formatTime(record)} level={record.levelname.lower()} "
            f'logger={record.name} msg="{message}"'
        )
        if record.exc_info:
            line += "\n" + redact(self.formatException(record.exc_info))
        return line


def configure(level: str = "INFO") -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(LogfmtFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("httpx", "httpcore", "apscheduler", "aiosqlite", "alembic"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    # python-telegram-bot logs every Bot API call's parameters and result at DEBUG: message
    # texts, names, phone numbers, the contents of /mydata. Its INFO lines carry none of that.
    logging.getLogger("telegram").setLevel(max(logging.INFO, root.level))
