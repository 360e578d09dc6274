"""The one factory that builds the bot: production, the terminal demo and the tests all use it.

What differs between them is passed in, never patched: the HTTP request class (the tests record
Bot API calls, the demo prints them), the clock and the mail backend.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

from telegram import Update
from telegram.ext import Application, ApplicationBuilder
from telegram.request import BaseRequest, HTTPXRequest

from bot.chat.handlers import register_handlers, set_commands
from bot.chat.inbox import AnswerGate, Inbox
from bot.chat.notifier import ChatNotifier
from bot.chat.pacing import ChatLimiter
from bot.core.context import SERVICES_KEY, Services
from bot.core.health import Health
from bot.core.loop import Periodic
from bot.core.settings import Settings
from bot.domain.clock import Clock, SystemClock
from bot.domain.signing import webhook_secret
from bot.jobs.scheduler import Scheduler
from bot.mail.backends import MailBackend, backend_for
from bot.mail.sender import OutboxSender
from bot.services import offer_courier
from bot.startup import CONFIGURATION, StartupError
from bot.web.app import BadUpdate, Webhook, create_app, webhook_path
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
    health = Health(clock)

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
            health=health,
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
            await scheduler.leader()  # lead (or see who does) from the start, for /healthz
            scheduler.start()

    async def post_shutdown(application: App) -> None:
        services: Services | None = application.bot_data.get(SERVICES_KEY)
        if services is not None:
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
    builder = builder.request(AnswerGate(request or HTTPXRequest(connection_pool_size=256), health))
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


async def serve(settings: Settings, *, start_scheduler: bool = True, webhook: bool = False) -> int:
    """`python -m bot run`: the chat, through the inbox (up to `MAX_CONCURRENT_UPDATES` people's
    updates at once, each person's in order), with senders (and sweeps) until SIGTERM or SIGINT;
    the updates being processed then are finished first."""
    stop = _stop_on_signals()
    async with running(build_application(settings, start_scheduler=start_scheduler)) as app:
        await run_bot(app, stop, webhook=webhook)
    return 0


def webhook_url(settings: Settings) -> str:
    """`<WEBHOOK_URL>/telegram/<bot id>` (`WEBHOOK_URL` defaults to `PUBLIC_URL`)."""
    base = settings.webhook_url or settings.public_url
    if not base or not settings.telegram_bot_token:
        raise StartupError(
            "configuration error: WEBHOOK_URL: a webhook needs WEBHOOK_URL (or PUBLIC_URL)",
            CONFIGURATION,
        )
    return f"{base.rstrip('/')}/telegram/{webhook_path(settings.telegram_bot_token)}"


def webhook_for(app: App, inbox: Inbox) -> Webhook:
    """The web app's webhook for this bot: its path, its secret, and the inbox it stores into."""
    services = services_of(app)
    settings = services.settings

    async def receive(data: Mapping[str, Any]) -> None:
        try:
            update = Update.de_json(dict(data), app.bot)
        except (KeyError, TypeError, ValueError) as exc:
            raise BadUpdate(type(exc).__name__) from exc
        await inbox.receive([update])

    return Webhook(
        path=webhook_path(settings.telegram_bot_token or PLACEHOLDER_TOKEN),
        secret=settings.webhook_secret or webhook_secret(services.secret),
        receive=receive,
    )


async def run_bot(app: App, stop: asyncio.Event, *, webhook: bool = False) -> None:
    """The inbox and, with `WEB_PORT`, the web app (`bot.web`), in this one event loop until
    `stop` is set, as python-telegram-bot's custom webhook example runs them.

    Polling by default; with `webhook` Telegram is told to post updates to the web app
    (`set_webhook` with the secret token and the inbox's update types), which stores them for
    the inbox. The web app starts first, so it is there when Telegram posts, and stops last: an
    update posted while the inbox finishes is still stored, and processed at the next start.
    Only `run` serves the web app; `worker` binds no port."""
    settings = services_of(app).settings
    inbox = Inbox(app)
    hook = webhook_for(app, inbox) if webhook else None
    if hook is not None and settings.web_port is None:
        raise StartupError("configuration error: WEB_PORT: a webhook needs WEB_PORT", CONFIGURATION)
    web: WebServer | None = None
    if settings.web_port is not None:
        web = WebServer(create_app(services_of(app), hook), settings.web_host, settings.web_port)
        try:
            await web.start()
        except OSError as exc:
            raise StartupError(
                f"configuration error: WEB_PORT: cannot listen on {settings.web_host}:"
                f"{settings.web_port} ({exc.strerror or exc})",
                CONFIGURATION,
            ) from None
    try:
        if hook is not None:
            await app.bot.set_webhook(
                webhook_url(settings),
                secret_token=hook.secret,
                allowed_updates=inbox.allowed_updates,
                # One delivery at a time keeps each person's updates in Telegram's order (with
                # parallel connections two of one person's could be stored the other way
                # round). It costs no throughput worth having: the answer is a 200 as soon as
                # the insert commits, processing happens after.
                max_connections=1,
            )
        await inbox.run(stop, poll=hook is None)
    finally:
        if web is not None:
            await web.stop()


async def work(settings: Settings) -> int:
    """`python -m bot worker`: senders and sweeps until SIGTERM or SIGINT, no chat polling."""
    stop = _stop_on_signals()
    async with running(build_application(settings, start_scheduler=True)):
        await stop.wait()
    return 0


def services_of(application: App) -> Services:
    return application.bot_data[SERVICES_KEY]
