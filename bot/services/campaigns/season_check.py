"""The season check: before each season one "same as last season?" to registered supervisors.

From `settings.season_check_date` (MM-DD, local time; default 1 February) until the season starts
on 1 April, `season_check_sweep` asks every supervisor who is not left, unsubscribed or paused
beyond the start, who had a task (not withdrawn) in an earlier season and has none yet in the
coming one: one chat message with two buttons (through the `Notifier`), and, if their address is
verified and not unsubscribed or suppressed, one email whose deep link `s_<supervisor>_<season>_
<signature>` shows the same question in chat. The `season_check` row (unique per supervisor and
season) is written with the email, before the chat message goes out, so a restart never asks
twice (a crash between the two loses the chat messages of that run's batch, at most `BATCH`; their
emails stay, and their deep links ask the same question in chat). A person
who blocked the bot is marked unreachable in chat; email still works. Messages go out in working
hours only (`bot.domain.reminders.Policy`).

"Yes, same as last season" copies the tasks of their latest earlier season into the new one as
`submitted` (months moved by the years in between); "Not this season" pauses them until 1 April
after that season. The first answer counts; a second press or a stale button changes nothing.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from enum import StrEnum
from typing import Any, Final
from zoneinfo import ZoneInfo

from markupsafe import Markup
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core import emails
from bot.core.context import Services
from bot.core.i18n import Translator
from bot.core.ports import Delivery, Notifier
from bot.core.screen import Button, Screen
from bot.domain.season import FIRST_MONTH, season_of
from bot.domain.signing import Callback
from bot.services import unsubscribe
from bot.services.campaigns.invitations import reply_to_among
from bot.services.campaigns.links import season_payload
from storage import campaigns as store
from storage import outbox, reminders_repo, tasks
from storage.models import Coordinator, OutboxEmail, Supervisor, SupervisorStatus, Task

log = logging.getLogger(__name__)

SCOPE: Final = "sc"  # the season check's buttons
BATCH: Final = 500  # supervisors asked per run: 500 chat messages a minute, a sixth of the pace


class Answer(StrEnum):
    SAME = "same"
    NO = "no"


# ---- the season calendar: pure -------------------------------------------------------------------


def coming_season(today: date) -> int:
    """The season the next 1 April starts (today, if it is 1 April)."""
    return today.year if today.month < FIRST_MONTH else today.year + 1


def check_opens(season: int, check_date: str) -> date:
    """The day the question for `season` is first asked: MM-DD before that season's April."""
    month_text, _, day_text = check_date.strip().partition("-")
    month, day = int(month_text), int(day_text)
    return date(season if month < FIRST_MONTH else season - 1, month, day)


def season_to_ask(today: date, check_date: str) -> int | None:
    """The season to ask about today, or None outside [check date, 1 April)."""
    season = coming_season(today)
    return season if check_opens(season, check_date) <= today else None


def season_start(season: int, tz: ZoneInfo) -> datetime:
    """1 April of the season, local midnight, in UTC."""
    return datetime.combine(date(season, FIRST_MONTH, 1), time(), tzinfo=tz).astimezone(UTC)


def season_label(season: int) -> str:
    return f"{season}/{(season + 1) % 100:02d}"


def shifted(values: dict[str, Any], season: int) -> dict[str, Any]:
    """A task's answers moved to `season`: every month moves by the same number of years."""
    years = season - int(values["season"])
    months = [f"{int(m[:4]) + years}{m[4:]}" for m in values.get("months") or []]
    return {**values, "season": season, "months": months}


# ---- the season check ----------------------------------------------------------------------------


def _task_line(task: Task, season: int, tr: Translator) -> Markup:
    """What "same" copies of one task: its months as they will be in `season`, weeks, places."""
    months = shifted({"season": task.season, "months": task.months}, season)["months"]
    named = ", ".join(f"{tr(f'month.{int(m[5:7])}')} {m[2:4]}" for m in sorted(months))
    return Markup(
        tr(
            "campaign.season.task",
            title=task.title,
            months=named or "—",
            weeks=task.weeks,
            capacity=task.capacity,
        )
    )


def season_screen(season: int, previous: Sequence[Task], tr: Translator) -> Screen:
    """The question shows what "same as last season" copies before it is tapped: each task with
    its months (moved to the new season), its weeks and how many students at a time."""
    lines = Markup("\n").join(_task_line(t, season, tr) for t in previous)
    value = str(season)
    return Screen(
        tr("campaign.season.ask", season=season_label(season), tasks=lines or Markup("—")),
        [
            [Button(tr("campaign.season.same"), Callback(SCOPE, value, Answer.SAME))],
            [Button(tr("campaign.season.no"), Callback(SCOPE, value, Answer.NO))],
        ],
    )


def _may_email(supervisor: Supervisor, suppressed: bool) -> bool:
    return (
        supervisor.email_verified_at is not None
        and supervisor.unsubscribed_at is None
        and not suppressed
    )


def _season_email(
    svc: Services,
    supervisor: Supervisor,
    season: int,
    previous: list[Task],
    bound: Sequence[Coordinator],
    now: datetime,
) -> OutboxEmail:
    sid = supervisor.id or 0
    key = f"season:{sid}:{season}"
    scopes = sorted({(t.exchange_type, t.city) for t in previous})
    subject, message = emails.render(
        "season_check",
        language=supervisor.language,
        recipient=supervisor.email,
        mail_from=svc.settings.mail_from,
        idempotency_key=key,
        now=now,
        reply_to=reply_to_among(bound, svc.settings, scopes),
        unsubscribe=unsubscribe.for_supervisor(svc, sid),
        name=supervisor.name,
        season=season_label(season),
        titles=[t.title for t in previous],
        link=svc.deep_link(season_payload(svc.secret, sid, season)),
    )
    return OutboxEmail(
        idempotency_key=key,
        kind="season_check",
        telegram_user_id=supervisor.telegram_user_id,
        recipient=supervisor.email,
        subject=subject,
        message=message.as_string(),
        message_id=str(message["Message-ID"])[:300],  # known here: never parsed back out
        next_attempt_at=now,
        created_at=now,
    )


async def _ask_batch(svc: Services, season: int) -> list[tuple[Supervisor, list[Task]]]:
    """Ask the next batch: their rows and emails in one transaction with a fixed number of
    statements (the batch's candidates, their last season's tasks, suppressions, the bound
    coordinators for Reply-To, one insert of the rows, the emails). Returns whom to ask in chat.
    """
    now = svc.clock.now()
    try:
        async with svc.db.session() as session:
            due = await store.season_candidates(
                session, season, season_start(season, svc.settings.tz), BATCH
            )
            ids = [s.id or 0 for s in due]
            previous = await store.last_season_tasks_of(session, ids, season)
            blocked = await reminders_repo.suppressed_among(session, {s.email for s in due})
            bound = await reminders_repo.bound_coordinators(session)
            await store.add_season_checks(session, ids, season, now)
            mail = []
            for supervisor in due:
                if _may_email(supervisor, supervisor.email.lower() in blocked):
                    mail.append(
                        _season_email(
                            svc,
                            supervisor,
                            season,
                            previous.get(supervisor.id or 0, []),
                            bound,
                            now,
                        )
                    )
                    await asyncio.sleep(0)  # rendering is CPU work: let chats in between
            await outbox.queue_emails(session, mail)
    except IntegrityError:
        return []  # another sweep asked one of them at the same moment: the next run retries
    return [(s, previous.get(s.id or 0, [])) for s in due]


async def _ask_in_chat(
    svc: Services, notifier: Notifier, supervisor: Supervisor, season: int, previous: list[Task]
) -> None:
    screen = season_screen(season, previous, Translator(supervisor.language))
    delivery = await notifier.show(
        supervisor.chat_id,
        supervisor.telegram_user_id,
        screen,
        f"season check for supervisor {supervisor.id}",
    )
    # A failure other than a block says nothing about whether they can be reached.
    reachable = {Delivery.SENT: True, Delivery.BLOCKED: False}.get(delivery)
    if reachable is not None and reachable != (supervisor.chat_unreachable_at is None):
        async with svc.db.session() as session:
            await store.set_chat_reachable(session, supervisor.id or 0, reachable, svc.clock.now())


async def season_check_sweep(svc: Services) -> int:
    """Ask the next batch of those due for the coming season's check; returns how many were
    asked now.

    A run asks at most `BATCH` supervisors (the scheduler runs it every minute, so a whole
    country of 100,000 takes a few hours of working time): their rows and emails are written in
    one transaction with a fixed number of statements, then the chat messages go out, which the
    pacer spreads at well under its 30 a second. Whoever the run did not reach, the next one
    does. Idempotent: the state is the `season_check` table, so a repeated, missed or concurrent
    run never asks anyone twice. Does nothing outside the check window and outside working
    hours, and nothing without a notifier to send the chat messages with (asking without one
    would record questions that never reached the chat).
    """
    notifier = svc.notifier
    if notifier is None:
        log.warning("season check skipped: this process has no chat notifier")
        return 0
    now = svc.clock.now()
    season = season_to_ask(now.astimezone(svc.settings.tz).date(), svc.settings.season_check_date)
    if season is None or not svc.settings.reminder_policy.working(now):
        return 0
    asked = await _ask_batch(svc, season)
    if asked:
        svc.sender.wake()
    for supervisor, previous in asked:
        await _ask_in_chat(svc, notifier, supervisor, season, previous)
        await asyncio.sleep(0)
    if asked:
        log.info("season check %s: asked %d supervisor(s)", season, len(asked))
    return len(asked)


class Outcome(StrEnum):
    COPIED = "copied"
    HAD_TASKS = "had_tasks"
    PAUSED = "paused"
    ANSWERED_SAME = "answered_same"
    ANSWERED_NO = "answered_no"
    CLOSED = "closed"


@dataclass
class SeasonAnswer:
    outcome: Outcome
    copied: list[Task] = field(default_factory=list)
    paused_until: datetime | None = None


def still_open(season: int, today: date) -> bool:
    """A season's question can be answered until the season is over."""
    return season >= season_of(today)


async def answer_season(
    session: AsyncSession, svc: Services, supervisor: Supervisor, season: int, answer: Answer
) -> SeasonAnswer:
    """Apply the first answer to the season check, in the caller's transaction."""
    now = svc.clock.now()
    sid = supervisor.id or 0
    check = await store.get_season_check(session, sid, season)
    if check is None or not still_open(season, now.astimezone(svc.settings.tz).date()):
        return SeasonAnswer(Outcome.CLOSED)
    if check.answer is not None or not await store.answer_season_check(
        session, check.id or 0, answer, now
    ):
        await session.refresh(check)
        return SeasonAnswer(
            Outcome.ANSWERED_SAME if check.answer == Answer.SAME else Outcome.ANSWERED_NO
        )
    if answer == Answer.NO:
        until = season_start(season + 1, svc.settings.tz)
        if supervisor.status != SupervisorStatus.LEFT:
            supervisor.status = SupervisorStatus.PAUSED
            supervisor.paused_until = until
            supervisor.updated_at = now
            session.add(supervisor)
        return SeasonAnswer(Outcome.PAUSED, paused_until=until)
    if await store.has_tasks_in(session, sid, season):
        return SeasonAnswer(Outcome.HAD_TASKS)
    copied = []
    for task in await store.last_season_tasks(session, sid, season):
        values = shifted(tasks.draft_values(task), season)
        copied.append(await tasks.save_submitted(session, supervisor, values, now))
    return SeasonAnswer(Outcome.COPIED, copied=copied)
