"""Data access for coordinators' digests; every function takes the caller's session.

`claim` inserts the person's `DigestRun` rows for a period: the unique (coordinator, period)
constraint is what makes a digest happen once per period, so a concurrent or repeated claim
raises `IntegrityError` (the caller's transaction then rolls back). See `bot.services.digests`.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, String, and_, case, cast, false, func, or_, true, update
from sqlalchemy import select as sa_select  # sqlmodel's select takes at most four columns
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from storage import placements
from storage.coordinators import NATIONAL, covers, in_scopes, pending_tasks
from storage.models import (
    Coordinator,
    DigestRun,
    Offer,
    OfferStatus,
    OutboxEmail,
    OutboxStatus,
    Slot,
    SlotStatus,
    Supervisor,
    SupervisorStatus,
    Suppression,
    Task,
)
from storage.streams import scalars_in_parts

# ---- who gets a digest, and which periods are done ---------------------------------------------


def _person_key(row: Coordinator) -> str:
    return row.email.strip().lower()


async def people(session: AsyncSession) -> list[list[Coordinator]]:
    """Every coordinator, bound or not, grouped by person (email), each group oldest row first."""
    result = await session.execute(select(Coordinator).order_by(col(Coordinator.id)))
    groups: dict[str, list[Coordinator]] = {}
    for row in result.scalars():
        groups.setdefault(_person_key(row), []).append(row)
    return list(groups.values())


async def person(session: AsyncSession, email: str) -> list[Coordinator]:
    """The scopes held by the person with this email (any case), oldest first."""
    result = await session.execute(
        select(Coordinator)
        .where(func.lower(col(Coordinator.email)) == email.strip().lower())
        .order_by(col(Coordinator.id))
    )
    return list(result.scalars())


async def suppressed(session: AsyncSession, emails: Collection[str]) -> set[str]:
    """Which of these addresses (lower case) are on the suppression list (bounced, said no)."""
    if not emails:
        return set()
    result = await session.execute(
        select(func.lower(col(Suppression.email))).where(
            func.lower(col(Suppression.email)).in_([e.lower() for e in emails])
        )
    )
    return set(result.scalars())


async def runs(session: AsyncSession, periods: Collection[str]) -> dict[int, set[str]]:
    """Coordinator id -> which of these periods have a run."""
    if not periods:
        return {}
    result = await session.execute(
        select(col(DigestRun.coordinator_id), col(DigestRun.period)).where(
            col(DigestRun.period).in_(list(periods))
        )
    )
    done: dict[int, set[str]] = {}
    for coordinator_id, period in result.all():
        done.setdefault(coordinator_id, set()).add(period)
    return done


async def last_run_before(
    session: AsyncSession, coordinator_ids: Sequence[int], period: str
) -> datetime | None:
    """When the latest digest of another period was made for any of these rows."""
    if not coordinator_ids:
        return None
    latest = await session.scalar(
        select(func.max(col(DigestRun.created_at))).where(
            col(DigestRun.coordinator_id).in_(list(coordinator_ids)),
            col(DigestRun.period) != period,
        )
    )
    return latest if isinstance(latest, datetime) else None


async def claim(
    session: AsyncSession, coordinator_ids: Sequence[int], period: str, now: datetime
) -> None:
    """Record the period's run for each of these rows (in id order); raises `IntegrityError`
    when one exists already."""
    for coordinator_id in sorted(coordinator_ids):
        session.add(DigestRun(coordinator_id=coordinator_id, period=period, created_at=now))
        await session.flush()


async def mark_empty(session: AsyncSession, coordinator_ids: Sequence[int], period: str) -> None:
    await session.execute(
        update(DigestRun)
        .where(
            col(DigestRun.coordinator_id).in_(list(coordinator_ids)),
            col(DigestRun.period) == period,
        )
        .values(empty=True)
        .execution_options(synchronize_session=False)
    )


# ---- what a digest reports -----------------------------------------------------------------------


@dataclass
class DigestRows:
    """What `bot.services.digests.build` turns into a digest: rows in scope, in display order."""

    new_supervisors: list[Supervisor] = field(default_factory=list)
    awaiting: list[tuple[Task, Supervisor]] = field(default_factory=list)
    slots: list[Slot] = field(default_factory=list)
    offers: dict[str, int] = field(default_factory=dict)  # sent/accepted/declined/expired
    failures: list[OutboxEmail] = field(default_factory=list)
    taken: dict[int, list[tuple[str, str]]] = field(default_factory=dict)  # slot: (name, task)
    referrers: dict[int, str] = field(default_factory=dict)  # supervisor id: name


def supervisor_in_scopes(scopes: Sequence[Coordinator], supervisor: Supervisor) -> bool:
    """A supervisor is in a scope when one of the types they offer is, in their city."""
    return any(
        covers(scope, kind, supervisor.city)
        for scope in scopes
        for kind in supervisor.exchange_types
    )


async def new_supervisors(
    session: AsyncSession, scopes: Sequence[Coordinator], since: datetime, until: datetime
) -> list[Supervisor]:
    """Supervisors (not gone) who registered in [since, until), in scope, by registration.

    The window uses the index on `created_at`, and SQL keeps only those whose city and
    exchange types could be in scope (a type is looked for in the JSON list's text), so a
    national digest at 100,000 supervisors reads a week's registrations, not the register;
    `supervisor_in_scopes` then decides exactly.
    """
    if not scopes:
        return []
    could = or_(
        false(),
        *(
            and_(
                cast(col(Supervisor.exchange_types), String).like(f'%"{scope.exchange_type}"%'),
                true() if scope.city == NATIONAL else col(Supervisor.city) == scope.city,
            )
            for scope in scopes
        ),
    )
    found = await scalars_in_parts(
        session,
        select(Supervisor)
        .where(
            col(Supervisor.created_at) >= since,
            col(Supervisor.created_at) < until,
            col(Supervisor.status) != SupervisorStatus.LEFT,
            could,
        )
        .order_by(col(Supervisor.created_at), col(Supervisor.id)),
    )
    return [s for s in found if supervisor_in_scopes(scopes, s)]


async def referrer_names(session: AsyncSession, found: Sequence[Supervisor]) -> dict[int, str]:
    """The names of the colleagues who referred these supervisors (those still registered)."""
    ids = {s.referred_by for s in found if s.referred_by is not None}
    if not ids:
        return {}
    result = await session.execute(
        select(col(Supervisor.id), col(Supervisor.name)).where(col(Supervisor.id).in_(ids))
    )
    return {supervisor_id or 0: name for supervisor_id, name in result.all()}


async def places_to_fill(
    session: AsyncSession, scopes: Sequence[Coordinator], today: date
) -> list[Slot]:
    """Open (not cancelled) slots in scope starting today or later, full ones included."""
    if not scopes:
        return []
    return await scalars_in_parts(
        session,
        select(Slot)
        .where(
            in_scopes(scopes, col(Slot.exchange_type), col(Slot.city)),
            col(Slot.status) == SlotStatus.OPEN,
            col(Slot.start_date) >= today,
        )
        .order_by(col(Slot.start_date), col(Slot.reference))
        .execution_options(populate_existing=True),
    )


async def offer_counts(
    session: AsyncSession,
    scopes: Sequence[Coordinator],
    since: datetime,
    until: datetime,
    since_day: date,
    until_day: date,
) -> dict[str, int]:
    """Offers of slots in scope: made, accepted and declined in [since, until); expired with a
    reply-by date in [since_day, until_day) (they expire the day after it). Counted in SQL (one
    row), never loaded: a national scope may have tens of thousands of offers."""
    counts = {"sent": 0, "accepted": 0, "declined": 0, "expired": 0}
    if not scopes:
        return counts

    def answered(status: OfferStatus) -> ColumnElement[bool]:
        return and_(
            col(Offer.status) == status,
            col(Offer.answered_at).is_not(None),
            col(Offer.answered_at) >= since,
            col(Offer.answered_at) < until,
        )

    when = {
        "sent": and_(col(Offer.created_at) >= since, col(Offer.created_at) < until),
        "accepted": answered(OfferStatus.ACCEPTED),
        "declined": answered(OfferStatus.DECLINED),
        "expired": and_(
            col(Offer.status) == OfferStatus.EXPIRED,
            col(Offer.reply_by) >= since_day,
            col(Offer.reply_by) < until_day,
        ),
    }
    found = (
        await session.execute(
            sa_select(*(func.coalesce(func.sum(case((w, 1), else_=0)), 0) for w in when.values()))
            .select_from(Offer)
            .join(Slot, col(Slot.id) == col(Offer.slot_id))
            .where(
                in_scopes(scopes, col(Slot.exchange_type), col(Slot.city)),
                (col(Offer.created_at) >= since)
                | (col(Offer.answered_at) >= since)
                | (col(Offer.reply_by) >= since_day),
            )
        )
    ).one()
    return {name: int(value or 0) for name, value in zip(when, found, strict=True)}


async def failures(
    session: AsyncSession, scopes: Sequence[Coordinator], since: datetime, until: datetime
) -> list[OutboxEmail]:
    """Emails that failed for good in [since, until) (by their last attempt), for this scope:
    those to a supervisor in scope; those to anyone else (coordinators, invitations) go to
    national coordinators."""
    result = await session.execute(
        select(OutboxEmail)
        .where(
            col(OutboxEmail.status) == OutboxStatus.FAILED,
            col(OutboxEmail.next_attempt_at) >= since,
            col(OutboxEmail.next_attempt_at) < until,
        )
        .order_by(col(OutboxEmail.next_attempt_at), col(OutboxEmail.id))
    )
    failed = list(result.scalars())
    if not failed:
        return []
    user_ids = {e.telegram_user_id for e in failed if e.telegram_user_id is not None}
    addresses = {e.recipient.lower() for e in failed}
    found = await session.execute(
        select(Supervisor).where(
            col(Supervisor.telegram_user_id).in_(list(user_ids))
            | func.lower(col(Supervisor.email)).in_(list(addresses))
        )
    )
    by_user: dict[int, Supervisor] = {}
    by_address: dict[str, Supervisor] = {}
    for row in found.scalars():
        by_user[row.telegram_user_id] = row
        by_address[row.email.lower()] = row
    national = any(scope.city == NATIONAL for scope in scopes)
    mine = []
    for email in failed:
        supervisor = by_user.get(email.telegram_user_id or 0) or by_address.get(
            email.recipient.lower()
        )
        if (supervisor is None and national) or (
            supervisor is not None and supervisor_in_scopes(scopes, supervisor)
        ):
            mine.append(email)
    return mine


async def rows(
    session: AsyncSession,
    scopes: Sequence[Coordinator],
    *,
    since: datetime,
    until: datetime,
    tz: ZoneInfo,
) -> DigestRows:
    """Everything a digest for these scopes reports, for the window [since, until)."""
    today = until.astimezone(tz).date()
    slots = await places_to_fill(session, scopes, today)
    placed = await placements.of_slots(session, [s.id or 0 for s in slots])
    new = await new_supervisors(session, scopes, since, until)
    return DigestRows(
        new_supervisors=new,
        referrers=await referrer_names(session, new),
        awaiting=await pending_tasks(session, scopes),
        slots=slots,
        taken={
            slot_id: [(p.supervisor.name, p.task.title) for p in found]
            for slot_id, found in placed.items()
        },
        offers=await offer_counts(
            session,
            scopes,
            since,
            until,
            since.astimezone(tz).date(),
            today,
        ),
        failures=await failures(session, scopes, since, until),
    )


async def set_frequency(
    session: AsyncSession, scopes: Sequence[Coordinator], frequency: str
) -> int:
    """Daily or weekly for every scope of the people holding `scopes` (also those not bound to
    this Telegram account yet); returns how many rows changed."""
    emails = {_person_key(row) for row in scopes}
    if not emails:
        return 0
    result = await session.execute(
        update(Coordinator)
        .where(func.lower(col(Coordinator.email)).in_(list(emails)))
        .values(digest_frequency=frequency)
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)
