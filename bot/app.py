"""The one factory that builds the bot: production, the terminal demo and the tests all use it.

What differs between them is passed in, never patched: the HTTP request class (the tests record
Bot API calls, the demo prints them), the clock and the mail backend.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from telegram.ext import Application, ApplicationBuilder
from telegram.request import BaseRequest, HTTPXRequest

from bot.chat.handlers import register_handlers, set_commands
from bot.chat.inbox import AnswerGate, Inbox
from bot.chat.notifier import ChatNotifier
from bot.chat.pacing import ChatLimiter
from bot.core.context import SERVICES_KEY, Services
from bot.core.loop import Periodic
from bot.core.settings import Settings
from bot.domain.clock import Clock, SystemClock
from bot.jobs.scheduler import Scheduler
from bot.mail.backends import MailBackend, backend_for
from bot.mail.sender import OutboxSender
from bot.services import offer_courier
from bot.web.server import WebServer
from storage.db import Database

PLACEHOLDER_TOKEN = "1:local-demo-token-not-a-real-token"

App = Application[Any, Any, Any, Any, Any, Any]


def build_application(
    settings: Settings,
    *,
    request: BaseRequest | None = None,
    get_updates_request: BaseRequest | None = None,
    clock: Clock | None = None,
    mail_backend: MailBackend | None = None,
    start_sender: bool = True,
    poll_seconds: float = 5.0,
    offer_seconds: float = 3.0,
    start_scheduler: bool = False,
    rate_limiter: ChatLimiter | None = None,
) -> App:
    """The application. `start_sender` runs the outbox sender and the offer courier in this
    process; `start_scheduler` also runs the periodic sweeps (`bot.jobs.scheduler`). Every chat
    message goes through `rate_limiter` (`bot.chat.pacing`; tests pass one on virtual time)."""
    clock = clock or SystemClock()

    async def post_init(application: App) -> None:
        db = Database(settings.database)
        sender = OutboxSender(
            db, mail_backend or backend_for(settings), clock, poll_seconds=poll_seconds
        )
        secret = settings.resolved_secret_key().encode()
        services = Services(
            settings=settings,
            db=db,
            clock=clock,
            secret=secret,
            sender=sender,
            bot_username=application.bot.username,
            notifier=ChatNotifier(application.bot, secret),
        )
        application.bot_data[SERVICES_KEY] = services
        offer_sweeper = Periodic(
            "offers", lambda: offer_courier.expire_and_deliver(services), offer_seconds
        )
        services.offer_sweeper = offer_sweeper
        await set_commands(application)
        if start_sender:
            sender.start()
            offer_sweeper.start()
        if start_scheduler:
            scheduler = Scheduler(services)
            services.scheduler = scheduler
            scheduler.start()
        if settings.web_port is not None and start_sender:
            web = WebServer(services, settings.web_host, settings.web_port)
            services.web = web
            await web.start()

    async def post_shutdown(application: App) -> None:
        services: Services | None = application.bot_data.get(SERVICES_KEY)
        if services is not None:
            if services.web is not None:
                await services.web.stop()
            if services.scheduler is not None:
                await services.scheduler.stop()
            await services.sender.stop()
            if services.offer_sweeper is not None:
                await services.offer_sweeper.stop()
            await services.db.close()

    builder = (
        ApplicationBuilder()
        .token(settings.telegram_bot_token or PLACEHOLDER_TOKEN)
        .base_url(settings.telegram_api_base_url)
        .base_file_url(_file_url(settings.telegram_api_base_url))
        # Updates come through the durable inbox (`bot.chat.inbox`), see `serve`: it processes
        # different people's updates at once and each person's in order (PTB's own
        # `concurrent_updates` applies only to its Updater's queue, which is not used).
        .updater(None)
        .post_init(post_init)
        .post_shutdown(post_shutdown)
        .rate_limiter(rate_limiter or ChatLimiter())
    )
    # PTB's own default request, behind the gate that marks an update done as it is answered.
    builder = builder.request(AnswerGate(request or HTTPXRequest(connection_pool_size=256)))
    if get_updates_request is not None:
        builder = builder.get_updates_request(get_updates_request)
    application: App = builder.build()
    register_handlers(application)
    return application


def _file_url(base_url: str) -> str:
    """Telegram serves files beside the API: `.../bot` -> `.../file/bot` (same on local servers)."""
    head, sep, _ = base_url.rstrip("/").rpartition("/bot")
    return f"{head}/file/bot" if sep else f"{base_url.rstrip('/')}/file/bot"


@asynccontextmanager
async def running(application: App) -> AsyncIterator[App]:
    """Start the application without polling, for the demo and the tests (they feed updates)."""
    await application.initialize()
    if application.post_init is not None:
        await application.post_init(application)
    await application.start()
    try:
        yield application
    finally:
        await application.stop()
        if application.post_shutdown is not None:
            await application.post_shutdown(application)
        await application.shutdown()


def _stop_on_signals() -> asyncio.Event:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    return stop


async def serve(settings: Settings, *, start_scheduler: bool = True) -> int:
    """`python -m bot run`: the chat, through the inbox (up to `MAX_CONCURRENT_UPDATES` people's
    updates at once, each person's in order), with senders (and sweeps) until SIGTERM or SIGINT;
    the updates being processed then are finished first."""
    stop = _stop_on_signals()
    async with running(build_application(settings, start_scheduler=start_scheduler)) as app:
        await Inbox(app).run(stop)
    return 0


async def work(settings: Settings) -> int:
    """`python -m bot worker`: senders and sweeps until SIGTERM or SIGINT, no chat polling."""
    stop = _stop_on_signals()
    async with running(build_application(settings, start_scheduler=True)):
        await stop.wait()
    return 0


def services_of(application: App) -> Services:
    return application.bot_data[SERVICES_KEY]
