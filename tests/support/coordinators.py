"""What the coordinator stories share: the application (with file downloads), a coordinator
bound through the real deep link, and supervisors with tasks put straight into the database."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import date, datetime
from typing import Any

from telegram import Update
from telegram.ext import BaseHandler, CommandHandler, ContextTypes, MessageHandler, filters

from bot.app import App, build_application, running
from bot.chat import handlers
from bot.chat.flows import coordinator
from bot.chat.flows.registration.steps import CONSENT_VERSION
from bot.chat.turn import Turn
from bot.core.context import Services
from bot.core.settings import Settings
from bot.domain.clock import FrozenClock
from bot.mail.backends import FileBackend
from bot.services.coordinators import INVITE_PREFIX
from storage import coordinators as store
from storage.models import Slot, Supervisor, Task, TaskStatus
from tests.support.chat import Chat, TgUser
from tests.support.files import FilesRequest, FilesTelegram
from tests.support.pacing import virtual_limiter

NORA = TgUser(id=5551010, first_name="Nora", last_name="Hansen", language_code="en")


def _wired(application: App) -> bool:
    return any(
        getattr(h.callback, "__module__", "") == coordinator.__name__
        for group in application.handlers.values()
        for h in group
    )


async def _start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """`/start c_<token>` to `coordinator.bind`, anything else to the usual /start."""
    payload = context.args[0] if context.args else ""
    turn = Turn.of(update, context)
    if turn is not None and payload.startswith(INVITE_PREFIX):
        await coordinator.bind(turn, payload.removeprefix(INVITE_PREFIX))
    else:
        await handlers.cmd_start(update, context)


def wire(application: App) -> None:
    """Wire the coordinators' handlers as `chat.handlers.register_handlers` is to do it, unless it
    does already: before the unknown-command catch-all, and /start routing `c_` payloads."""
    if _wired(application):
        return
    group = application.handlers[0]
    at = next(
        i
        for i, h in enumerate(group)
        if isinstance(h, MessageHandler) and h.callback is handlers.on_unknown_command
    )
    added: list[BaseHandler[Any, Any, Any]] = []
    coordinator.register(added.append, filters.UpdateType.MESSAGE & filters.ChatType.PRIVATE)
    group[at:at] = added
    new = filters.UpdateType.MESSAGE & filters.ChatType.PRIVATE
    group.insert(0, CommandHandler("start", _start, filters=new))


@asynccontextmanager
async def application(
    settings: Settings, fake: FilesTelegram, clock: FrozenClock
) -> AsyncIterator[App]:
    built = build_application(
        settings,
        rate_limiter=virtual_limiter(),
        request=FilesRequest(fake),
        get_updates_request=FilesRequest(fake),
        clock=clock,
        mail_backend=FileBackend(settings.mail_dir),
        start_sender=False,
    )
    wire(built)
    async with running(built):
        yield built
    assert fake.violations == [], "the bot broke a Bot API rule"
    assert fake.unanswered_callback_queries() == [], "a button press was never answered"


async def bound_coordinator(
    services: Services,
    chat: Chat,
    *,
    role: str = "LEO",
    exchange_type: str = "clinical",
    city: str = "oslo",
    language: str = "en",
    email: str = "nora@nmf.example",
) -> None:
    """A coordinator added in the database and bound by opening the invitation's deep link."""
    async with services.db.session() as session:
        _, token = await store.add_coordinator(
            session,
            email=email,
            role=role,
            exchange_type=exchange_type,
            city=city,
            language=language,
            now=services.clock.now(),
            secret=services.secret,
        )
    await chat.command("start", INVITE_PREFIX + token)


async def supervisor_with_task(
    services: Services,
    chat: Chat,
    *,
    title: str,
    exchange_type: str = "clinical",
    city: str = "oslo",
    status: TaskStatus = TaskStatus.SUBMITTED,
) -> Task:
    """A registered supervisor (the chat's user, in their Telegram language) with one task."""
    now = services.clock.now()
    language = "nb" if chat.user.language_code == "nb" else "en"
    async with services.db.session() as session:
        supervisor = await _supervisor(session, chat, language, now)
        task = Task(
            supervisor_id=supervisor.id or 0,
            season=2027,
            exchange_type=exchange_type,
            title=title,
            field="cardiology",
            city=city,
            site="Oslo universitetssykehus",
            department="Kardiologisk avdeling",
            activities=["ward_rounds"],
            daily_hours="full",
            learning_goals=["history"],
            weeks=4,
            months=["2027-09", "2027-10"],
            capacity=1,
            backup_contact="Dr. Lise Berg",
            status=status,
            created_at=now,
            updated_at=now,
            submitted_at=now,
        )
        session.add(task)
        await session.flush()
        return task


async def _supervisor(session: Any, chat: Chat, language: str, now: datetime) -> Supervisor:
    from storage import repository

    existing = await repository.get_supervisor(session, chat.user.id)
    if existing is not None:
        return existing
    supervisor = Supervisor(
        telegram_user_id=chat.user.id,
        chat_id=chat.chat_id,
        language=language,
        name=f"{chat.user.first_name} {chat.user.last_name or ''}".strip(),
        title="senior_consultant",
        workplace="Oslo universitetssykehus",
        city="oslo",
        fields=["cardiology"],
        exchange_types=["clinical", "research"],
        email=f"{chat.user.first_name.lower()}@ous-hf.example",
        email_verified_at=now,
        consent_version=CONSENT_VERSION,
        consent_at=now,
        created_at=now,
        updated_at=now,
    )
    session.add(supervisor)
    await session.flush()
    return supervisor


async def add_slot(
    services: Services,
    reference: str,
    *,
    exchange_type: str = "clinical",
    city: str = "oslo",
    start: date = date(2027, 9, 6),
    weeks: int = 4,
    places: int = 2,
    filled: int = 0,
) -> Slot:
    now = services.clock.now()
    async with services.db.session() as session:
        slot = Slot(
            reference=reference,
            exchange_type=exchange_type,
            city=city,
            start_date=start,
            weeks=weeks,
            places=places,
            filled=filled,
            created_at=now,
            updated_at=now,
        )
        session.add(slot)
        await session.flush()
        return slot
