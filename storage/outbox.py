"""The outbox: emails written in the transaction that causes them, delivered later.

A row moves `pending` -> `sending` (claimed with a lease) -> `sent` | `failed`, or back to
`pending` with a later `next_attempt_at` after a temporary failure. The claim is one statement,

    UPDATE outbox_email SET status = 'sending', lease_until = ..., attempts = attempts + 1
    WHERE id IN (SELECT id ... due ... ORDER BY ... LIMIT n FOR UPDATE SKIP LOCKED)
    RETURNING id

so on PostgreSQL two senders skip each other's rows instead of queueing behind them, and on
SQLite (which ignores FOR UPDATE) the statement is the transaction's first and therefore takes
the single write lock before it reads anything. A sender that dies leaves its rows `sending`
until the lease runs out; the next claim takes them again.

`attempts` doubles as the claim's fencing token: every claim increments it, and renewing,
recording and releasing are conditional on `status = 'sending' AND attempts = <the claim's>`, so a
sender whose lease was taken over can never overwrite the newer claim's outcome.

For a `failed` row, `next_attempt_at` holds the time it failed (it is never attempted again).

A `held` row (the server refused it for a reason the operator must fix, see `bot.mail.sender`) keeps
its message and is not claimed; `release_held` makes it `pending` again (automatically once its
`next_attempt_at` has passed, or all at once with `python -m bot outbox retry`), and
`attempts_before_hold` then remembers the claims spent so far, so that giving up after a number
of temporary failures counts only the claims since (`attempts` stays the fencing token).

Bodies are kept only while they may still be sent: recording `sent` or `failed` empties the
subject and the message (they hold verification codes and invitation tokens); the kind,
recipient, times, result and the `Message-ID` (the `message_id` column, filled in when the
row is queued) stay.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from email.parser import HeaderParser
from typing import Any

from sqlalchemy import ColumnElement, and_, bindparam, func, or_, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from storage.models import OutboxEmail, OutboxStatus

# The table itself for the statements the sender runs for every email: a Core UPDATE skips the
# ORM's bulk-update machinery (no objects are loaded or synchronised either way), a third of
# what recording a sent email cost.
_TABLE = OutboxEmail.__table__  # type: ignore[attr-defined]
# Rows per INSERT: under SQLite's 32,766 bound parameters at the table's 19 columns.
_INSERT_CHUNK = 500


async def queue_email(session: AsyncSession, email: OutboxEmail) -> bool:
    """Queue an email unless one with the same idempotency key exists. True when queued (its
    `id` is then set)."""
    return bool(await queue_emails(session, [email]))


async def queue_emails(session: AsyncSession, emails: Sequence[OutboxEmail]) -> list[OutboxEmail]:
    """Queue the emails whose idempotency key is new. Returns those queued (with their ids).

    One `INSERT ... ON CONFLICT (idempotency_key) DO NOTHING RETURNING` per batch: a key queued
    meanwhile by another transaction (two people's updates processed at once, or a sweep beside
    a handler) is skipped by the database itself, never by a read made before the insert, so two
    transactions can never both queue one logical email, nor fail on the unique key."""
    fresh: dict[str, OutboxEmail] = {}
    for email in emails:
        if email.idempotency_key in fresh:
            continue
        if email.message_id is None:  # kept after the message itself is cleared
            found = HeaderParser().parsestr(email.message, headersonly=True)["Message-ID"]
            email.message_id = str(found)[:300] if found else None
        fresh[email.idempotency_key] = email
    if not fresh:
        return []
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    queued: list[OutboxEmail] = []
    rows = list(fresh.values())
    for start in range(0, len(rows), _INSERT_CHUNK):
        chunk = rows[start : start + _INSERT_CHUNK]
        result = await session.execute(
            insert(_TABLE)
            .values([email.model_dump(exclude={"id"}) for email in chunk])
            .on_conflict_do_nothing(index_elements=["idempotency_key"])
            .returning(_TABLE.c.idempotency_key, _TABLE.c.id)
        )
        new_ids = {key: int(email_id) for key, email_id in result.all()}
        for email in chunk:
            if email.idempotency_key in new_ids:
                email.id = new_ids[email.idempotency_key]
                queued.append(email)
    return queued


def _due(now: datetime) -> ColumnElement[bool]:
    return or_(
        and_(
            col(OutboxEmail.status) == OutboxStatus.PENDING,
            col(OutboxEmail.next_attempt_at) <= now,
        ),
        and_(
            col(OutboxEmail.status) == OutboxStatus.SENDING,
            col(OutboxEmail.lease_until) < now,
        ),
    )


def _claimed(email_id: int, attempts: int) -> ColumnElement[bool]:
    return and_(
        col(OutboxEmail.id) == email_id,
        col(OutboxEmail.status) == OutboxStatus.SENDING,
        col(OutboxEmail.attempts) == attempts,
    )


async def due_email_ids(session: AsyncSession, now: datetime, limit: int) -> list[int]:
    """What a sweep at `now` would claim (pending and due, or leased to a sender that died)."""
    result = await session.execute(
        select(col(OutboxEmail.id))
        .where(_due(now))
        .order_by(col(OutboxEmail.next_attempt_at), col(OutboxEmail.id))
        .limit(limit)
    )
    return [int(i) for i in result.scalars() if i is not None]


async def claim_due(
    session: AsyncSession, now: datetime, *, lease: timedelta, limit: int
) -> list[OutboxEmail]:
    """Claim up to `limit` due emails for this sender until `now + lease`, oldest due first.

    Each claim counts as an attempt. Rows another open transaction has locked are skipped
    (PostgreSQL); call this first in its own transaction and commit before sending anything.
    """
    # A materialised CTE, evaluated exactly once: PostgreSQL may rescan a plain `IN (SELECT ...
    # LIMIT n FOR UPDATE SKIP LOCKED)` subquery, and a rescan skips the rows this statement
    # has just updated and returns the next ones, claiming more than `limit`.
    candidates = (
        select(col(OutboxEmail.id))
        .where(_due(now))
        .order_by(col(OutboxEmail.next_attempt_at), col(OutboxEmail.id))
        .limit(limit)
        .with_for_update(skip_locked=True)
        .cte("candidates")
        .prefix_with("MATERIALIZED")
    )
    result = await session.execute(
        update(OutboxEmail)
        .where(col(OutboxEmail.id).in_(select(candidates.c.id)), _due(now))
        .values(
            status=OutboxStatus.SENDING,
            lease_until=now + lease,
            attempts=col(OutboxEmail.attempts) + 1,
        )
        .returning(col(OutboxEmail.id))
        .execution_options(synchronize_session=False)
    )
    ids = [int(i) for i in result.scalars() if i is not None]
    if not ids:
        return []
    rows = await session.execute(
        select(OutboxEmail)
        .where(col(OutboxEmail.id).in_(ids))
        .order_by(col(OutboxEmail.next_attempt_at), col(OutboxEmail.id))
        .execution_options(populate_existing=True)
    )
    return list(rows.scalars())


async def claim_email(
    session: AsyncSession, email_id: int, now: datetime, lease: timedelta
) -> OutboxEmail | None:
    """Claim one particular email if it is due, or None if it is not (or another sender has it)."""
    result = await session.execute(
        update(OutboxEmail)
        .where(col(OutboxEmail.id) == email_id, _due(now))
        .values(
            status=OutboxStatus.SENDING,
            lease_until=now + lease,
            attempts=col(OutboxEmail.attempts) + 1,
        )
        .execution_options(synchronize_session=False)
    )
    if not getattr(result, "rowcount", 0):  # a CursorResult for DML
        return None
    return await session.get(OutboxEmail, email_id, populate_existing=True)


async def renew_lease(
    session: AsyncSession, email_id: int, attempts: int, *, until: datetime
) -> bool:
    """Extend this claim's lease just before sending. False when the claim is no longer ours
    (the lease ran out and another sender took the row): then it must not be sent."""
    result = await session.execute(
        update(_TABLE).where(_claimed(email_id, attempts)).values(lease_until=until)
    )
    return bool(getattr(result, "rowcount", 0))


async def renew_leases(
    session: AsyncSession, claims: Sequence[tuple[int, int]], *, until: datetime
) -> set[int]:
    """Extend these claims' leases (`claims`: (id, attempts) pairs) just before they are sent,
    in one statement; the ids still ours. A claim missing from the answer was taken by another
    sender after its lease ran out: it must not be sent."""
    if not claims:
        return set()
    ours = or_(
        *(
            and_(col(OutboxEmail.id) == email_id, col(OutboxEmail.attempts) == attempts)
            for email_id, attempts in claims
        )
    )
    result = await session.execute(
        update(_TABLE)
        .where(col(OutboxEmail.status) == OutboxStatus.SENDING, ours)
        .values(lease_until=until)
        .returning(_TABLE.c.id)
    )
    return {int(i) for i in result.scalars()}


async def record_sent(
    session: AsyncSession, sent: Sequence[tuple[int, int, str | None]], now: datetime
) -> None:
    """Record several accepted emails as `sent` in one statement (executed for each row):
    `sent` holds (id, attempts, stored_as); each only while its claim is still ours."""
    if not sent:
        return
    statement = (
        update(_TABLE)
        .where(
            _TABLE.c.id == bindparam("b_id"),
            _TABLE.c.status == OutboxStatus.SENDING,
            _TABLE.c.attempts == bindparam("b_attempts"),
        )
        .values(
            status=OutboxStatus.SENT,
            last_error=None,
            lease_until=None,
            sent_at=now,
            stored_as=bindparam("b_stored"),
            **CLEARED,
        )
    )
    rows = [{"b_id": i, "b_attempts": a, "b_stored": stored} for i, a, stored in sent]
    await session.execute(statement, rows)


async def record_email_result(
    session: AsyncSession,
    email_id: int,
    *,
    status: OutboxStatus,
    now: datetime,
    attempts: int | None = None,
    error: str | None = None,
    next_attempt_at: datetime | None = None,
    stored_as: str | None = None,
) -> bool:
    """Record how a send went. With `attempts` (the claim's token) only while the claim is
    still ours; returns whether a row was updated."""
    values: dict[str, Any] = {"status": status, "last_error": error, "lease_until": None}
    if status == OutboxStatus.SENT:
        values["sent_at"] = now
        values["stored_as"] = stored_as
    elif status == OutboxStatus.FAILED:
        values["next_attempt_at"] = now  # when it failed: see failed_since
    if status in FINAL:
        values.update(CLEARED)
    if next_attempt_at is not None:
        values["next_attempt_at"] = next_attempt_at
    condition = (
        col(OutboxEmail.id) == email_id if attempts is None else _claimed(email_id, attempts)
    )
    result = await session.execute(update(_TABLE).where(condition).values(**values))
    return bool(getattr(result, "rowcount", 0))


async def release_claims(session: AsyncSession, claims: list[tuple[int, int]]) -> int:
    """Hand claimed but unsent emails back, due at once and with the attempt not counted
    (the connection broke before their turn). `claims` holds (id, attempts) pairs."""
    released = 0
    for email_id, attempts in claims:
        result = await session.execute(
            update(OutboxEmail)
            .where(_claimed(email_id, attempts))
            .values(
                status=OutboxStatus.PENDING,
                lease_until=None,
                attempts=col(OutboxEmail.attempts) - 1,
            )
            .execution_options(synchronize_session=False)
        )
        released += int(getattr(result, "rowcount", 0) or 0)
    return released


FINAL = (OutboxStatus.SENT, OutboxStatus.FAILED)
CLEARED: dict[str, Any] = {"subject": "", "message": ""}


async def release_held(session: AsyncSession, now: datetime, *, everything: bool = False) -> int:
    """Make held emails pending and due now: those whose hold ran out, or `everything` (after
    the operator fixed the mail settings). Returns how many."""
    condition = col(OutboxEmail.status) == OutboxStatus.HELD
    if not everything:
        condition = and_(condition, col(OutboxEmail.next_attempt_at) <= now)
    result = await session.execute(
        update(OutboxEmail)
        .where(condition)
        .values(
            status=OutboxStatus.PENDING,
            next_attempt_at=now,
            attempts_before_hold=col(OutboxEmail.attempts),
        )
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)


async def retry_now(session: AsyncSession, now: datetime) -> tuple[int, int]:
    """`outbox retry`: every held email, and every pending one waiting out a backoff, due now.
    Returns (released from held, brought forward)."""
    held = await release_held(session, now, everything=True)
    result = await session.execute(
        update(OutboxEmail)
        .where(
            col(OutboxEmail.status) == OutboxStatus.PENDING,
            col(OutboxEmail.next_attempt_at) > now,
        )
        .values(next_attempt_at=now)
        .execution_options(synchronize_session=False)
    )
    return held, int(getattr(result, "rowcount", 0) or 0)


async def undelivered(session: AsyncSession, limit: int = 200) -> list[OutboxEmail]:
    """Held and failed emails, held first, then the latest failures (`outbox failed`)."""
    result = await session.execute(
        select(OutboxEmail)
        .where(col(OutboxEmail.status).in_([OutboxStatus.HELD, OutboxStatus.FAILED]))
        .order_by(
            (col(OutboxEmail.status) == OutboxStatus.HELD).desc(),
            col(OutboxEmail.next_attempt_at).desc(),
            col(OutboxEmail.id).desc(),
        )
        .limit(limit)
    )
    return list(result.scalars())


async def unreported(session: AsyncSession, limit: int = 500) -> list[OutboxEmail]:
    """Failed and held emails the coordinators have not been told about yet, oldest first."""
    result = await session.execute(
        select(OutboxEmail)
        .where(
            col(OutboxEmail.status).in_([OutboxStatus.HELD, OutboxStatus.FAILED]),
            col(OutboxEmail.reported_at).is_(None),
        )
        .order_by(col(OutboxEmail.id))
        .limit(limit)
    )
    return list(result.scalars())


async def mark_reported(session: AsyncSession, email_ids: list[int], now: datetime) -> int:
    """Record that these were reported; only the first caller gets the count (two processes)."""
    if not email_ids:
        return 0
    result = await session.execute(
        update(OutboxEmail)
        .where(col(OutboxEmail.id).in_(email_ids), col(OutboxEmail.reported_at).is_(None))
        .values(reported_at=now)
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)


async def failed_since(session: AsyncSession, since: datetime) -> list[OutboxEmail]:
    """Emails that failed for good at or after `since`, oldest first: the delivery failures
    a coordinators' digest reports (each with the server's reason in `last_error`)."""
    result = await session.execute(
        select(OutboxEmail)
        .where(
            col(OutboxEmail.status) == OutboxStatus.FAILED,
            col(OutboxEmail.next_attempt_at) >= since,
        )
        .order_by(col(OutboxEmail.next_attempt_at), col(OutboxEmail.id))
    )
    return list(result.scalars())


async def count_by_status(session: AsyncSession) -> dict[OutboxStatus, int]:
    """How many emails are in each state (for the worker's log and the tests)."""
    result = await session.execute(
        select(col(OutboxEmail.status), func.count()).group_by(col(OutboxEmail.status))
    )
    counts = {status: 0 for status in OutboxStatus}
    for status, count in result.all():
        counts[OutboxStatus(status)] = int(count)
    return counts


async def due_backlog(session: AsyncSession, now: datetime) -> tuple[int, datetime | None]:
    """How many emails a sender could claim at `now`, and since when the oldest has been due
    (for /healthz: a backlog is reported, never an error)."""
    count, oldest = (
        await session.execute(
            select(func.count(), func.min(col(OutboxEmail.next_attempt_at))).where(_due(now))
        )
    ).one()
    return int(count or 0), oldest
