"""Bringing supervisors back: one invitation to people who supervised before the bot existed, and
before each season one "same as last season?" to registered supervisors.

**Invitations.** `python -m bot supervisors invite FILE.csv` (`bot.cli.supervisors`) reads
`name,email[,field,city]` with `parse_invitations` (pure, line-numbered problems like the slot
importer) and `invite` stores one `Invitation` per address and queues its email in the same
transaction. An address is invited once, ever; addresses on the suppression list (said no,
unsubscribed, bounced) and addresses of registered supervisors are skipped. The email (bokmål,
the association's language, with a paragraph in English) carries two signed deep links:
`i_<id>_<signature>` into registration and `n_<id>_<signature>` for "no thanks", which puts the
address on the suppression list. The links are signed for the invitation, not for a Telegram
account: the person has none we know of yet.

**The season check.** From `settings.season_check_date` (MM-DD, local time; default 1 February)
until the season starts on 1 April, `season_check_sweep` asks every supervisor who is not left,
unsubscribed or paused beyond the start, who had a task (not withdrawn) in an earlier season and
has none yet in the coming one: one chat message with two buttons, and, if their address is
verified and not unsubscribed or suppressed, one email whose deep link `s_<supervisor>_<season>_
<signature>` shows the same question in chat. The `season_check` row (unique per supervisor and
season) is written with the email, before the chat message goes out, so a restart never asks
twice (a crash between the two loses at most that one chat message; the email stays). A
Telegram 403 marks the supervisor unreachable in chat; email still works. Messages go out in
working hours only (`bot.domain.reminders.Policy`).

"Yes, same as last season" copies the tasks of their latest earlier season into the new one as
`submitted` (months moved by the years in between); "Not this season" pauses them until 1 April
after that season. The first answer counts; a second press or a stale button changes nothing.
"""

from __future__ import annotations

import csv
import io
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from email.utils import parseaddr
from enum import StrEnum
from typing import Any, Final
from zoneinfo import ZoneInfo

from markupsafe import Markup
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from telegram import Bot
from telegram.error import Forbidden, TelegramError

from bot.chat import ui
from bot.core import emails, i18n
from bot.core.context import Services
from bot.core.emails import Unsubscribe
from bot.core.i18n import Translator
from bot.core.settings import Settings
from bot.domain import reference
from bot.domain.season import FIRST_MONTH, season_of
from bot.domain.signing import Callback, Link, Purpose, link_payload, parse_link, verify_link
from bot.domain.slots_csv import RowError
from bot.domain.validation import Valid, validate_email, validate_name
from bot.services import unsubscribe
from storage import campaigns as store
from storage import repository, tasks
from storage.coordinators import NATIONAL, coordinators_for
from storage.models import Invitation, OutboxEmail, Supervisor, SupervisorStatus, Task

log = logging.getLogger(__name__)

INVITE_PREFIX: Final = "i_"
DECLINE_PREFIX: Final = "n_"
SEASON_PREFIX: Final = "s_"
SCOPE: Final = "sc"  # the season check's buttons
COLUMNS: Final = ("name", "email", "field", "city")
REQUIRED: Final = ("name", "email")
DECLINED: Final = "declined"


class Answer(StrEnum):
    SAME = "same"
    NO = "no"


# ---- the invitation file: pure -------------------------------------------------------------------


@dataclass(frozen=True)
class InviteRow:
    line: int
    name: str
    email: str  # lower case
    field: str | None  # a field code
    city: str | None  # a city code


def _codes(named: Sequence[reference.Named]) -> dict[str, str]:
    lookup: dict[str, str] = {}
    for item in named:
        for spelling in (item.en, item.nb, item.code):
            lookup[spelling.casefold()] = item.code
    return lookup


def _short(value: str, limit: int = 60) -> str:
    return value if len(value) <= limit else value[: limit - 1] + "…"


def _row(line: int, values: dict[str, str]) -> tuple[InviteRow | None, list[RowError]]:
    errors: list[RowError] = []
    name = validate_name(values.get("name", ""))
    if not isinstance(name, Valid):
        errors.append(RowError(line, "invite.error.name", _short(values.get("name", ""))))
    address = validate_email(values.get("email", ""))
    if not isinstance(address, Valid):
        errors.append(RowError(line, "invite.error.email", _short(values.get("email", ""))))
    field_text, city_text = values.get("field", ""), values.get("city", "")
    field_code = _codes(reference.fields()).get(field_text.casefold()) if field_text else None
    if field_text and field_code is None:
        errors.append(RowError(line, "slots.error.field", _short(field_text)))
    city_code = _codes(reference.cities()).get(city_text.casefold()) if city_text else None
    if city_text and city_code is None:
        errors.append(RowError(line, "slots.error.city", _short(city_text)))
    if errors or not isinstance(name, Valid) or not isinstance(address, Valid):
        return None, errors
    return InviteRow(line, name.value, address.value.lower(), field_code, city_code), []


def parse_invitations(data: bytes | str) -> tuple[list[InviteRow], list[RowError]]:
    """Every good row and every problem (line numbers as an editor shows them); never raises.

    The header is required and names the columns, in any order: `name` and `email`, optionally
    `field` and `city` (a code, or the bokmål or English name). `;` (Excel with Norwegian
    settings) and a byte-order mark are accepted.
    """
    if isinstance(data, bytes):
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            return [], [RowError(data[: exc.start].count(b"\n") + 1, "slots.error.encoding")]
    else:
        text = data.removeprefix("\ufeff")
    first = text.splitlines()[0] if text else ""
    delimiter = ";" if first.count(";") > first.count(",") else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    rows: list[InviteRow] = []
    errors: list[RowError] = []
    header: list[str] | None = None
    seen: set[str] = set()
    line = ended = 0
    try:
        for cells in reader:
            line, ended = ended + 1, reader.line_num  # a quoted value may span lines
            if header is None:
                header = [c.strip().lower() for c in cells]
                if (
                    not set(REQUIRED) <= set(header)
                    or not set(header) <= set(COLUMNS)
                    or len(set(header)) != len(header)
                ):
                    return [], [RowError(1, "invite.error.header", _short(",".join(cells)))]
                continue
            if not any(c.strip() for c in cells):
                continue
            missing = header[len(cells) :]
            if len(cells) > len(header) or not set(missing) <= set(COLUMNS) - set(REQUIRED):
                errors.append(RowError(line, "invite.error.columns", str(len(cells))))
                continue
            cells = cells + [""] * len(missing)  # empty optional columns may be left out
            row, problems = _row(line, {k: v.strip() for k, v in zip(header, cells, strict=True)})
            errors += problems
            if row is not None and row.email in seen:
                errors.append(RowError(line, "invite.error.duplicate", row.email))
            elif row is not None:
                seen.add(row.email)
                rows.append(row)
    except csv.Error:
        errors.append(RowError(ended + 1, "slots.error.unreadable"))
    if header is None:
        return [], [RowError(1, "invite.error.header", "")]
    return rows, errors


# ---- deep links ----------------------------------------------------------------------------------


def invite_payload(secret: bytes, invitation_id: int) -> str:
    ids = (invitation_id,)
    return link_payload(secret, Purpose.INVITATION, INVITE_PREFIX, ids, invitation_id, "invite")


def decline_payload(secret: bytes, invitation_id: int) -> str:
    ids = (invitation_id,)
    return link_payload(secret, Purpose.INVITATION, DECLINE_PREFIX, ids, invitation_id, "invite-no")


def season_payload(secret: bytes, supervisor_id: int, season: int) -> str:
    ids = (supervisor_id, season)
    return link_payload(
        secret, Purpose.SEASON, SEASON_PREFIX, ids, supervisor_id, f"season:{season}"
    )


def parse_invite(secret: bytes, payload: str, *, decline: bool = False) -> Link | None:
    """The invitation a valid `i_` (or, with `decline`, `n_`) payload names, else None."""
    prefix, subject = (DECLINE_PREFIX, "invite-no") if decline else (INVITE_PREFIX, "invite")
    parsed = parse_link(payload, prefix, 1)
    if parsed is None:
        return None
    ids, signature = parsed
    return verify_link(secret, Purpose.INVITATION, signature, ids, ids[0], subject)


def parse_season(secret: bytes, payload: str) -> Link | None:
    """(supervisor id, season) as `ids` of a valid `s_` payload, else None."""
    parsed = parse_link(payload, SEASON_PREFIX, 2)
    if parsed is None:
        return None
    (supervisor_id, season), signature = parsed
    subject = f"season:{season}"
    return verify_link(
        secret, Purpose.SEASON, signature, (supervisor_id, season), supervisor_id, subject
    )


def link(bot_username: str, payload: str) -> str:
    return f"https://t.me/{bot_username.lstrip('@')}?start={payload}"


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


# ---- emails --------------------------------------------------------------------------------------


def _other_language(language: str) -> str:
    return "en" if language == "nb" else "nb"


def _translate_in(language: str) -> Any:
    def translate(message_id: str, **values: Any) -> str:
        return i18n.gettext(language, message_id).format(**values)

    return translate


async def reply_to(
    session: AsyncSession, settings: Settings, scopes: Sequence[tuple[str, str]]
) -> str | None:
    """The responsible coordinators' addresses for these (type, city) scopes, local ones first;
    else the configured fallback."""
    addresses: list[str] = []
    for exchange_type, city in scopes:
        found = await coordinators_for(session, exchange_type, city)
        for coordinator in sorted(found, key=lambda c: c.city == NATIONAL):
            if coordinator.email.lower() not in {a.lower() for a in addresses}:
                addresses.append(coordinator.email)
    return ", ".join(addresses) if addresses else settings.reply_to


def _invitation_unsubscribe(settings: Settings, bot_username: str, token: str) -> Unsubscribe:
    address = parseaddr(settings.mail_from)[1] or "veileder@localhost"
    https = (
        f"{settings.public_url.rstrip('/')}/unsubscribe/{token}" if settings.public_url else None
    )
    return Unsubscribe(
        deep_link=link(bot_username, token),
        mailto=f"mailto:{address}?subject=unsubscribe%20{token}",
        https=https,  # one click (RFC 8058) declines it: bot.web.server
    )


async def queue_invitation(
    session: AsyncSession,
    invitation: Invitation,
    *,
    settings: Settings,
    secret: bytes,
    bot_username: str,
    now: datetime,
) -> bool:
    """Queue the one invitation email in the caller's transaction. False if it exists."""
    invitation_id = invitation.id or 0
    key = f"invite:{invitation_id}"
    no_thanks = decline_payload(secret, invitation_id)
    scopes = [(t, invitation.city or NATIONAL) for t in reference.EXCHANGE_TYPES]
    language = "nb"  # the association's language; the other one follows in a paragraph
    subject, message = emails.render(
        "invitation",
        language=language,
        recipient=invitation.email,
        mail_from=settings.mail_from,
        idempotency_key=key,
        now=now,
        reply_to=await reply_to(session, settings, scopes),
        unsubscribe=_invitation_unsubscribe(settings, bot_username, no_thanks),
        name=invitation.name,
        join_link=link(bot_username, invite_payload(secret, invitation_id)),
        decline_link=link(bot_username, no_thanks),
        other=_translate_in(_other_language(language)),
    )
    return await repository.queue_email(
        session,
        OutboxEmail(
            idempotency_key=key,
            kind="invitation",
            recipient=invitation.email,
            subject=subject,
            message=message.as_string(),
            next_attempt_at=now,
            created_at=now,
        ),
    )


@dataclass
class InviteReport:
    invited: list[str] = field(default_factory=list)
    already: list[str] = field(default_factory=list)
    suppressed: list[str] = field(default_factory=list)
    registered: list[str] = field(default_factory=list)


async def invite(
    session: AsyncSession,
    rows: Sequence[InviteRow],
    *,
    settings: Settings,
    secret: bytes,
    bot_username: str,
    now: datetime,
) -> InviteReport:
    """Invite every row that may be invited, each with its email, in the caller's transaction."""
    report = InviteReport()
    for row in rows:
        if await store.is_suppressed(session, row.email):
            report.suppressed.append(row.email)
        elif await store.is_registered(session, row.email):
            report.registered.append(row.email)
        elif await store.invitation_for(session, row.email) is not None:
            report.already.append(row.email)
        else:
            invitation = await store.add_invitation(
                session, email=row.email, name=row.name, field=row.field, city=row.city, now=now
            )
            await queue_invitation(
                session,
                invitation,
                settings=settings,
                secret=secret,
                bot_username=bot_username,
                now=now,
            )
            report.invited.append(row.email)
    return report


# ---- the invitation's answers --------------------------------------------------------------------


async def invitation_link_usable(session: AsyncSession, link: Link, now: datetime) -> bool:
    """An invitation link may act: current, or legacy within 90 days of the invitation."""
    invitation = await store.get_invitation(session, link.id)
    return invitation is not None and link.usable(invitation.created_at, now)


async def accept_invitation(session: AsyncSession, invitation_id: int) -> Invitation | None:
    """The join link was opened: answer "yes" (a changed mind takes the address off the list)."""
    invitation = await store.get_invitation(session, invitation_id)
    if invitation is None:
        return None
    if invitation.answer == "no":
        await store.unsuppress(session, invitation.email, DECLINED)
    invitation.answer = "yes"
    session.add(invitation)
    return invitation


async def decline_invitation(
    session: AsyncSession, invitation_id: int, now: datetime
) -> Invitation | None:
    """ "No thanks": answer "no" and never invite or remind that address again."""
    invitation = await store.get_invitation(session, invitation_id)
    if invitation is None:
        return None
    invitation.answer = "no"
    session.add(invitation)
    await store.suppress(session, invitation.email, DECLINED, now)
    return invitation


# ---- the season check ----------------------------------------------------------------------------


def season_screen(season: int, previous: Sequence[Task], tr: Translator) -> ui.Screen:
    lines = Markup("\n").join(Markup("• {}").format(t.title) for t in previous)
    value = str(season)
    return ui.Screen(
        tr("campaign.season.ask", season=season_label(season), tasks=lines or Markup("—")),
        [
            [ui.Button(tr("campaign.season.same"), Callback(SCOPE, value, Answer.SAME))],
            [ui.Button(tr("campaign.season.no"), Callback(SCOPE, value, Answer.NO))],
        ],
    )


def _may_email(supervisor: Supervisor, suppressed: bool) -> bool:
    return (
        supervisor.email_verified_at is not None
        and supervisor.unsubscribed_at is None
        and not suppressed
    )


async def _queue_season_email(
    session: AsyncSession, svc: Services, supervisor: Supervisor, season: int, previous: list[Task]
) -> bool:
    sid = supervisor.id or 0
    key = f"season:{sid}:{season}"
    now = svc.clock.now()
    scopes = sorted({(t.exchange_type, t.city) for t in previous})
    subject, message = emails.render(
        "season_check",
        language=supervisor.language,
        recipient=supervisor.email,
        mail_from=svc.settings.mail_from,
        idempotency_key=key,
        now=now,
        reply_to=await reply_to(session, svc.settings, scopes),
        unsubscribe=unsubscribe.for_supervisor(svc, sid),
        name=supervisor.name,
        season=season_label(season),
        titles=[t.title for t in previous],
        link=svc.deep_link(season_payload(svc.secret, sid, season)),
    )
    return await repository.queue_email(
        session,
        OutboxEmail(
            idempotency_key=key,
            kind="season_check",
            telegram_user_id=supervisor.telegram_user_id,
            recipient=supervisor.email,
            subject=subject,
            message=message.as_string(),
            next_attempt_at=now,
            created_at=now,
        ),
    )


async def _ask(svc: Services, bot: Bot, supervisor_id: int, season: int) -> bool:
    """Ask one supervisor: the row and the email in one transaction, then the chat message."""
    now = svc.clock.now()
    try:
        async with svc.db.session() as session:
            supervisor = await session.get(Supervisor, supervisor_id)
            if supervisor is None or await store.get_season_check(session, supervisor_id, season):
                return False
            previous = await store.last_season_tasks(session, supervisor_id, season)
            await store.add_season_check(session, supervisor_id, season, now)
            if _may_email(supervisor, await store.is_suppressed(session, supervisor.email)):
                await _queue_season_email(session, svc, supervisor, season, previous)
    except IntegrityError:
        return False  # another sweep asked at the same moment
    svc.sender.wake()
    screen = season_screen(season, previous, Translator(supervisor.language))
    reachable: bool | None = None
    try:
        await ui.send(
            bot, supervisor.chat_id, screen, secret=svc.secret, user_id=supervisor.telegram_user_id
        )
        reachable = True
    except Forbidden:
        log.info("supervisor %s has blocked the bot; season check by email only", supervisor_id)
        reachable = False
    except TelegramError:
        log.exception("season check for supervisor %s not delivered in chat", supervisor_id)
    if reachable is not None and reachable != (supervisor.chat_unreachable_at is None):
        async with svc.db.session() as session:
            await store.set_chat_reachable(session, supervisor_id, reachable, svc.clock.now())
    return True


async def season_check_sweep(svc: Services, bot: Bot | None = None) -> int:
    """Ask everyone due for the coming season's check; returns how many were asked now.

    Idempotent: the state is the `season_check` table, so a repeated, missed or concurrent run
    never asks anyone twice. Does nothing outside the check window and outside working hours,
    and nothing without a `bot` to send the chat messages with (asking without one would record
    questions that never reached the chat).
    """
    if bot is None:
        log.warning("season check skipped: the sweep needs the bot (season_check_sweep(svc, bot))")
        return 0
    now = svc.clock.now()
    season = season_to_ask(now.astimezone(svc.settings.tz).date(), svc.settings.season_check_date)
    if season is None or not svc.settings.reminder_policy.working(now):
        return 0
    async with svc.db.session() as session:
        due = [
            s.id
            for s in await store.season_candidates(
                session, season, season_start(season, svc.settings.tz)
            )
            if s.id is not None
        ]
    asked = 0
    for supervisor_id in due:
        asked += await _ask(svc, bot, supervisor_id, season)
    if asked:
        log.info("season check %s: asked %d supervisor(s)", season, asked)
    return asked


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
