"""The long-lived parts a handler, a sweep or a command needs, opened at start-up (for the bot in
`bot.app`'s `post_init`) and reachable from the chat adapter's `bot_data`.

The container names what the services use by the ports they need (`bot.core.ports`), so it
imports neither Telegram nor the mail adapter nor the jobs: the composition roots put the real
parts in.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from bot.core.health import Health
from bot.core.ports import Loop, Notifier, Outbox, Worker
from bot.core.settings import Settings
from bot.domain.clock import Clock
from storage.db import Database

SERVICES_KEY = "services"


@dataclass
class Services:
    settings: Settings
    db: Database
    clock: Clock
    secret: bytes
    sender: Outbox
    bot_username: str = "veileder_bot"
    notifier: Notifier | None = None  # None where nothing is said in chat (a bare worker)
    offer_sweeper: Loop | None = None
    scheduler: Worker | None = None  # when this process runs the sweeps (`bot.jobs.scheduler`)
    health: Health = field(default_factory=Health)  # this process's signs of life (/healthz)

    def wake_offers(self) -> None:
        """New offers exist (proposed, or replacing a declined one): deliver them now."""
        if self.offer_sweeper is not None:
            self.offer_sweeper.wake()

    def deep_link(self, payload: str) -> str:
        return f"https://t.me/{self.bot_username}?start={payload}"
