"""Retention: supervisors inactive for whole seasons are asked whether to stay, and erased when
they let the question go unanswered (`bot.domain.retention` holds the dates and defines
"activity" and "season").

`retention_sweep` runs hourly in the scheduler. In working hours it asks each supervisor due
(last activity before `inactive_before`): a chat message with "Stay" and "Delete me"
(`question_screen`; the chat adapter answers the buttons), and an email instead when the chat
cannot reach them (they blocked the bot) and their verified address may be emailed. The
question is recorded once it went out (a crash before that asks again, never erases someone who
was not told); a supervisor whom neither chat nor email can reach is recorded as asked at the
attempt. Any activity since the question, "Stay" included, clears it (`storage.privacy.touch`).
At any hour, a question unanswered for `retention_answer_days` erases the supervisor exactly as
`/delete` does (`bot.services.erasure`, audited as `retention`); nothing is sent to them after.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, time, timedelta
from enum import StrEnum
from typing import Final

from sqlalchemy.ext.asyncio import AsyncSession

from bot.core import emails
from bot.core.context import Services
from bot.core.i18n import Translator
from bot.core.ports import Delivery, Notifier
from bot.core.screen import Button, Screen
from bot.domain.retention import inactive_before
from bot.domain.signing import Callback
from bot.services import erasure
from storage import campaigns, privacy, repository
from storage.models import OutboxEmail, Supervisor

log = logging.getLogger(__name__)

SCOPE: Final = "rt"  # the retention question's buttons
STAY_PAYLOAD: Final = "stay"  # the email's deep link: opening the chat is activity


class Answer(StrEnum):
    STAY = "stay"
    DELETE = "delete"


def question_screen(tr: Translator, answer_days: int) -> Screen:
    return Screen(
        tr("retention.ask", days=answer_days),
        [
            [Button(tr("retention.stay"), Callback(SCOPE, "-", Answer.STAY))],
            [Button(tr("retention.delete"), Callback(SCOPE, "-", Answer.DELETE))],
        ],
    )


def _cutoff(svc: Services, now: datetime) -> datetime:
    """`inactive_before` as an instant: local midnight of that day."""
    day = inactive_before(
        now.astimezone(svc.settings.tz).date(), svc.settings.retention_inactive_seasons
    )
    return datetime.combine(day, time(), tzinfo=svc.settings.tz).astimezone(UTC)


async def _may_email(session: AsyncSession, supervisor: Supervisor) -> bool:
    return (
        supervisor.email_verified_at is not None
        and supervisor.unsubscribed_at is None
        and not await campaigns.is_suppressed(session, supervisor.email)
    )


async def _queue_email(session: AsyncSession, svc: Services, supervisor: Supervisor) -> None:
    now = svc.clock.now()
    key = f"retention:{supervisor.id}:{now.date().isoformat()}"
    subject, message = emails.render(
        "retention",
        language=supervisor.language,
        recipient=supervisor.email,
        mail_from=svc.settings.mail_from,
        idempotency_key=key,
        now=now,
        reply_to=svc.settings.privacy_contact or svc.settings.reply_to,
        name=supervisor.name,
        days=svc.settings.retention_answer_days,
        link=svc.deep_link(STAY_PAYLOAD),
    )
    await repository.queue_email(
        session,
        OutboxEmail(
            idempotency_key=key,
            kind="retention",
            telegram_user_id=supervisor.telegram_user_id,
            recipient=supervisor.email,
            subject=subject,
            message=message.as_string(),
            next_attempt_at=now,
            created_at=now,
        ),
    )


async def _ask(svc: Services, notifier: Notifier, supervisor_id: int, before: datetime) -> bool:
    async with svc.db.session() as session:
        supervisor = await session.get(Supervisor, supervisor_id)
    if supervisor is None:
        return False
    delivery = Delivery.BLOCKED
    if supervisor.chat_unreachable_at is None:
        screen = question_screen(
            Translator(supervisor.language), svc.settings.retention_answer_days
        )
        delivery = await notifier.show(
            supervisor.chat_id,
            supervisor.telegram_user_id,
            screen,
            f"retention question for supervisor {supervisor_id}",
        )
    if delivery not in (Delivery.SENT, Delivery.BLOCKED):
        return False  # not now: asked again at the next sweep
    now = svc.clock.now()
    async with svc.db.session() as session:
        if not await privacy.mark_asked(session, supervisor_id, before, now):
            return False
        if delivery == Delivery.BLOCKED:
            await campaigns.set_chat_reachable(session, supervisor_id, False, now)
            if await _may_email(session, supervisor):
                await _queue_email(session, svc, supervisor)
    svc.sender.wake()
    return True


async def retention_sweep(svc: Services) -> tuple[int, int]:
    """Ask those due (in working hours), erase those who did not answer in time; returns how
    many were asked and erased."""
    now = svc.clock.now()
    asked = 0
    notifier = svc.notifier
    if notifier is not None and svc.settings.reminder_policy.working(now):
        before = _cutoff(svc, now)
        async with svc.db.session() as session:
            due = await privacy.inactive_unasked(session, before)
        for supervisor_id in due:
            asked += await _ask(svc, notifier, supervisor_id, before)
    asked_before = now - timedelta(days=svc.settings.retention_answer_days)
    async with svc.db.session() as session:
        lapsed = await privacy.unanswered(session, asked_before)
    erased = 0
    for user_id in lapsed:
        async with svc.db.session() as session:
            if not await privacy.still_unanswered(session, user_id, asked_before):
                continue
        done = await erasure.erase(svc, user_id, erasure.Reason.RETENTION)
        await erasure.reopen(svc, done)
        erased += 1
    if asked or erased:
        log.info("retention: asked %d supervisor(s), erased %d", asked, erased)
    return asked, erased
