"""The long-lived parts a handler needs, opened in `post_init` and reachable from `bot_data`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from telegram.ext import CallbackContext

from bot.core.loop import Periodic
from bot.core.settings import Settings
from bot.domain.clock import Clock
from bot.mail.sender import OutboxSender
from storage.db import Database

SERVICES_KEY = "services"


@dataclass
class Services:
    settings: Settings
    db: Database
    clock: Clock
    secret: bytes
    sender: OutboxSender
    bot_username: str = "veileder_bot"
    offer_sweeper: Periodic | None = None
    scheduler: Any = None  # bot.jobs.scheduler.Scheduler when this process runs the sweeps
    web: Any = None  # bot.web.server.WebServer when WEB_PORT is set

    def wake_offers(self) -> None:
        """New offers exist (proposed, or replacing a declined one): deliver them now."""
        if self.offer_sweeper is not None:
            self.offer_sweeper.wake()

    def deep_link(self, payload: str) -> str:
        return f"https://t.me/{self.bot_username}?start={payload}"


def services(context: CallbackContext[Any, Any, Any, Any]) -> Services:
    return context.bot_data[SERVICES_KEY]
