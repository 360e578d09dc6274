"""The tables.

Personal data about supervisors lives in `supervisor` (a finished registration), `conversation`
(the answers of a flow in progress), `task` and `offer` (what they offered and answered),
`email_verification` / `outbox_email` (addresses mail was sent to), `question` (the yes/no
questions they were asked) and `inbox_update` (their updates as received, kept for minutes).
`/delete` erases all of it by Telegram user id (tasks and offers by cascade); see
`storage.repository.erase_person`; each erasure leaves a `deletion_audit` row of counts only.
Coordinators are data too (`coordinator`): they change every year.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    ForeignKey,
    Index,
    Integer,
    Text,
    UniqueConstraint,
    false,
    func,
    literal_column,
)
from sqlmodel import Field, SQLModel

from storage.types import UTCDateTime


class SupervisorStatus(StrEnum):
    ACTIVE = "active"
    PAUSED = "paused"
    LEFT = "left"


class OutboxStatus(StrEnum):
    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    HELD = "held"  # the server refused it for a reason the operator must fix (bot.mail.sender)


def _utc(nullable: bool = False) -> Any:
    if nullable:
        return Field(default=None, sa_type=UTCDateTime, nullable=True)
    return Field(sa_type=UTCDateTime, nullable=False)


class Supervisor(SQLModel, table=True):
    """A clinician or researcher who finished registration."""

    # The digest's "new supervisors" reads a window of registrations (migration 0016).
    __table_args__ = (Index("ix_supervisor_created_at", "created_at"),)

    id: int | None = Field(default=None, primary_key=True)
    telegram_user_id: int = Field(sa_type=BigInteger, unique=True, index=True)
    chat_id: int = Field(sa_type=BigInteger)
    language: str = Field(max_length=2)
    name: str = Field(max_length=200)
    title: str = Field(max_length=200)
    workplace: str = Field(max_length=200)
    city: str = Field(max_length=100)
    fields: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    fields_other: str | None = Field(default=None, max_length=200)
    exchange_types: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    email: str = Field(max_length=254, index=True)
    email_verified_at: datetime | None = _utc(nullable=True)
    phone: str | None = Field(default=None, max_length=32)
    consent_version: str = Field(max_length=20)
    consent_at: datetime = _utc()
    status: SupervisorStatus = Field(default=SupervisorStatus.ACTIVE, max_length=10)
    paused_until: datetime | None = _utc(nullable=True)
    unsubscribed_at: datetime | None = _utc(nullable=True)  # no more emails but verification
    chat_unreachable_at: datetime | None = _utc(nullable=True)  # Telegram said 403: blocked
    # Registered from a colleague's referral link: `referred` stays true, `referred_by` names
    # the colleague while they are registered (their /delete sets it NULL, never this row).
    referred: bool = Field(default=False, sa_column_kwargs={"server_default": false()})
    referred_by: int | None = Field(
        default=None,
        sa_column=Column(
            Integer, ForeignKey("supervisor.id", ondelete="SET NULL"), nullable=True, index=True
        ),
    )
    # Privacy: the last day they wrote or pressed a button (at most one write a day), when the
    # retention sweep asked whether to stay, and the message held while they re-consent.
    last_active_at: datetime | None = _utc(nullable=True)
    retention_asked_at: datetime | None = _utc(nullable=True)
    held_update: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    created_at: datetime = _utc()
    updated_at: datetime = _utc()


class Conversation(SQLModel, table=True):
    """Where a person is in a flow, and every answer given so far.

    The step and the answers are written in the same transaction that accepts an answer, so a
    crash at any moment resumes exactly where the person was. `last_update_id` makes a
    re-delivered Telegram update (the process died before confirming it) a no-op.
    """

    telegram_user_id: int = Field(sa_type=BigInteger, primary_key=True)
    chat_id: int = Field(sa_type=BigInteger)
    flow: str = Field(max_length=30)
    step: str = Field(max_length=40)
    language: str = Field(max_length=2)
    data: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    active: bool = True
    last_update_id: int = Field(default=0, sa_type=BigInteger)
    created_at: datetime = _utc()
    updated_at: datetime = _utc()


class EmailVerification(SQLModel, table=True):
    """One code (and one-tap link) sent to one address. Only hashes are stored."""

    __tablename__ = "email_verification"

    __table_args__ = (
        Index("ix_email_verification_person_created", "telegram_user_id", "created_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    telegram_user_id: int = Field(sa_type=BigInteger)
    email: str = Field(max_length=254, index=True)
    code_hash: str = Field(max_length=64)
    link_hash: str = Field(max_length=64, unique=True)
    attempts: int = 0
    created_at: datetime = _utc()
    expires_at: datetime = _utc()
    verified_at: datetime | None = _utc(nullable=True)


class OutboxEmail(SQLModel, table=True):
    """An email, stored before it is sent.

    The handler that causes an email writes this row in its own transaction and never talks to
    SMTP; `bot.mail.sender.OutboxSender` delivers it. The idempotency key makes queueing the same
    logical email twice impossible.
    """

    __tablename__ = "outbox_email"

    __table_args__ = (
        UniqueConstraint("idempotency_key", name="uq_outbox_email_idempotency_key"),
        Index("ix_outbox_email_due", "status", "next_attempt_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    idempotency_key: str = Field(max_length=200)
    kind: str = Field(max_length=40)
    telegram_user_id: int | None = Field(default=None, sa_type=BigInteger, index=True)
    recipient: str = Field(max_length=254, index=True)
    subject: str = Field(max_length=300)
    message: str = Field(sa_column=Column(Text, nullable=False))
    status: OutboxStatus = Field(default=OutboxStatus.PENDING, max_length=10)
    attempts: int = 0
    next_attempt_at: datetime = _utc()
    lease_until: datetime | None = _utc(nullable=True)
    last_error: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    created_at: datetime = _utc()
    sent_at: datetime | None = _utc(nullable=True)
    stored_as: str | None = Field(default=None, max_length=300)
    # Claims used before the row was last released from `held`: giving up counts only the rest.
    attempts_before_hold: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    message_id: str | None = Field(default=None, max_length=300)  # stays when the body goes
    # When the responsible coordinators were told in chat that it failed or is held.
    reported_at: datetime | None = _utc(nullable=True)


class TaskStatus(StrEnum):
    SUBMITTED = "submitted"
    APPROVED = "approved"
    RETURNED = "returned"
    WITHDRAWN = "withdrawn"
    ARCHIVED = "archived"


class Task(SQLModel, table=True):
    """A bounded piece of work a student could do, for one exchange season (April-March).

    A task being defined lives in `conversation`; this row exists from "submit" on.
    """

    # Propose reads the approved tasks of one type and city (`storage.candidates`).
    __table_args__ = (Index("ix_task_pool", "exchange_type", "city", "status"),)

    id: int | None = Field(default=None, primary_key=True)
    supervisor_id: int = Field(
        sa_column=Column(
            Integer, ForeignKey("supervisor.id", ondelete="CASCADE"), nullable=False, index=True
        )
    )
    season: int  # the year the season starts in April
    exchange_type: str = Field(max_length=10)
    title: str = Field(max_length=200)
    description: str | None = Field(default=None, max_length=600)
    # For the IFMSA portal, which lists projects in English: the supervisor's or a coordinator's.
    title_en: str | None = Field(default=None, max_length=200)
    description_en: str | None = Field(default=None, max_length=600)
    field: str = Field(max_length=200)
    city: str = Field(max_length=100)
    site: str = Field(max_length=200)
    department: str | None = Field(default=None, max_length=200)
    activities: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    activities_other: str | None = Field(default=None, max_length=200)
    daily_hours: str | None = Field(default=None, max_length=50)
    learning_goals: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    products: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    weeks: int
    months: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    capacity: int = 1
    english_ok: bool = True
    skills: str | None = Field(default=None, max_length=300)
    patient_data: bool = False
    ethics_status: str | None = Field(default=None, max_length=20)
    confidentiality: bool | None = None
    backup_contact: str = Field(max_length=200)
    status: TaskStatus = Field(default=TaskStatus.SUBMITTED, max_length=10, index=True)
    return_reason: str | None = Field(default=None, max_length=500)
    return_part: str | None = Field(default=None, max_length=20)  # the step the return names
    reviewed_by: int | None = Field(default=None)
    created_at: datetime = _utc()
    updated_at: datetime = _utc()
    submitted_at: datetime | None = _utc(nullable=True)
    reviewed_at: datetime | None = _utc(nullable=True)


class Coordinator(SQLModel, table=True):
    """A student exchange officer for one exchange type and a city (or the whole country)."""

    __table_args__ = (
        UniqueConstraint("email", "role", "exchange_type", "city", name="uq_coordinator_scope"),
    )

    id: int | None = Field(default=None, primary_key=True)
    email: str = Field(max_length=254, index=True)
    role: str = Field(max_length=4)  # NEO, LEO, NORE, LORE
    exchange_type: str = Field(max_length=10)
    city: str = Field(max_length=100)  # a city code, or "national"
    language: str = Field(default="nb", max_length=2)
    telegram_user_id: int | None = Field(default=None, sa_type=BigInteger, index=True)
    chat_id: int | None = Field(default=None, sa_type=BigInteger)
    invite_hash: str | None = Field(default=None, max_length=64, unique=True)
    invited_at: datetime = _utc()
    bound_at: datetime | None = _utc(nullable=True)
    digest_frequency: str = Field(default="weekly", max_length=10)  # daily | weekly


class SlotStatus(StrEnum):
    OPEN = "open"
    CANCELLED = "cancelled"


class Slot(SQLModel, table=True):
    """An incoming student's place that needs a supervisor. `filled` counts accepted offers."""

    # /slots and the digest read the slots from a date on.
    __table_args__ = (Index("ix_slot_start_date", "start_date"),)

    id: int | None = Field(default=None, primary_key=True)
    reference: str = Field(max_length=60, unique=True)
    exchange_type: str = Field(max_length=10)
    city: str = Field(max_length=100)
    start_date: date
    weeks: int
    places: int
    filled: int = 0
    field_preference: str | None = Field(default=None, max_length=60)
    partner_country: str | None = Field(default=None, max_length=80)
    status: SlotStatus = Field(default=SlotStatus.OPEN, max_length=10)
    created_at: datetime = _utc()
    updated_at: datetime = _utc()


class OfferStatus(StrEnum):
    SENT = "sent"
    ACCEPTED = "accepted"
    DECLINED = "declined"
    EXPIRED = "expired"
    WITHDRAWN = "withdrawn"
    CANCELLED = "cancelled"


class Offer(SQLModel, table=True):
    """A slot proposed to one supervisor's task: sent -> accepted / declined / expired."""

    __table_args__ = (UniqueConstraint("slot_id", "task_id", name="uq_offer_slot_task"),)

    id: int | None = Field(default=None, primary_key=True)
    slot_id: int = Field(
        sa_column=Column(
            Integer, ForeignKey("slot.id", ondelete="CASCADE"), nullable=False, index=True
        )
    )
    task_id: int = Field(
        sa_column=Column(
            Integer, ForeignKey("task.id", ondelete="CASCADE"), nullable=False, index=True
        )
    )
    supervisor_id: int = Field(
        sa_column=Column(
            Integer, ForeignKey("supervisor.id", ondelete="CASCADE"), nullable=False, index=True
        )
    )
    status: OfferStatus = Field(default=OfferStatus.SENT, max_length=10, index=True)
    reason: str | None = Field(default=None, max_length=300)
    not_this_month: bool = False
    reply_by: date
    created_at: datetime = _utc()
    delivered_at: datetime | None = _utc(nullable=True)
    answered_at: datetime | None = _utc(nullable=True)
    thanked_at: datetime | None = _utc(nullable=True)  # the after-exchange thank-you is queued


class OfferEmail(SQLModel, table=True):
    """Which offer an email spoke about: the reminder policy counts these."""

    __tablename__ = "offer_email"

    id: int | None = Field(default=None, primary_key=True)
    offer_id: int = Field(
        sa_column=Column(
            Integer, ForeignKey("offer.id", ondelete="CASCADE"), nullable=False, index=True
        )
    )
    outbox_email_id: int = Field(
        sa_column=Column(Integer, ForeignKey("outbox_email.id", ondelete="CASCADE"), nullable=False)
    )
    kind: str = Field(max_length=20)  # offer | followup
    created_at: datetime = _utc()


class DigestRun(SQLModel, table=True):
    """One coordinator's digest for one period: made once, sent or found empty."""

    __tablename__ = "digest_run"
    __table_args__ = (UniqueConstraint("coordinator_id", "period", name="uq_digest_run_period"),)

    id: int | None = Field(default=None, primary_key=True)
    coordinator_id: int = Field(
        sa_column=Column(Integer, ForeignKey("coordinator.id", ondelete="CASCADE"), nullable=False)
    )
    period: str = Field(max_length=20)  # 2026-11-24 (daily) or 2026-W48 (weekly)
    empty: bool = False
    created_at: datetime = _utc()


class Suppression(SQLModel, table=True):
    """An address that said no, unsubscribed or bounced: never invited or reminded again.

    Looked up by `lower(email)` (addresses are stored as given): the expression index lets that
    lookup use an index instead of scanning the table."""

    __table_args__ = (
        # Unique: one entry per address in any letter case, even when two are written at once.
        Index("ix_suppression_email_lower", func.lower(literal_column("email")), unique=True),
    )

    id: int | None = Field(default=None, primary_key=True)
    email: str = Field(max_length=254, unique=True)
    reason: str = Field(max_length=20)  # declined | unsubscribed | bounced
    detail: str | None = Field(default=None, sa_column=Column(Text, nullable=True))  # the bounce
    created_at: datetime = _utc()


class Invitation(SQLModel, table=True):
    """A person who supervised before the bot existed, invited once by email."""

    id: int | None = Field(default=None, primary_key=True)
    email: str = Field(max_length=254, unique=True)
    name: str = Field(max_length=200)
    field: str | None = Field(default=None, max_length=60)
    city: str | None = Field(default=None, max_length=100)
    created_at: datetime = _utc()
    sent_at: datetime | None = _utc(nullable=True)
    answer: str | None = Field(default=None, max_length=10)  # yes | no
    # The join link works once: a forwarded link opens nothing prefilled (issue 9).
    used_at: datetime | None = _utc(nullable=True)


class SeasonCheck(SQLModel, table=True):
    """Before a season: "still available, same as last season?" asked once per supervisor."""

    __tablename__ = "season_check"
    __table_args__ = (UniqueConstraint("supervisor_id", "season", name="uq_season_check"),)

    id: int | None = Field(default=None, primary_key=True)
    supervisor_id: int = Field(
        sa_column=Column(Integer, ForeignKey("supervisor.id", ondelete="CASCADE"), nullable=False)
    )
    season: int
    asked_at: datetime = _utc()
    answer: str | None = Field(default=None, max_length=10)  # same | no
    answered_at: datetime | None = _utc(nullable=True)


class CoordinatorNotice(SQLModel, table=True):
    """A supervisor's "no" a coordinator hears about in chat, bundled: pending until sent, so
    a coordinator gets at most one such message an hour (`bot.services.answer_notices`)."""

    __tablename__ = "coordinator_notice"

    id: int | None = Field(default=None, primary_key=True)
    coordinator_id: int = Field(
        sa_column=Column(
            Integer, ForeignKey("coordinator.id", ondelete="CASCADE"), nullable=False, index=True
        )
    )
    offer_id: int = Field(
        sa_column=Column(Integer, ForeignKey("offer.id", ondelete="CASCADE"), nullable=False)
    )
    kind: str = Field(max_length=20)  # declined | not_this_month
    created_at: datetime = _utc()
    sent_at: datetime | None = _utc(nullable=True)


class SchedulerLease(SQLModel, table=True):
    """Which process runs the scheduler's sweeps, and until when, unless it renews.

    One row per name. The leader renews `expires_at` well before it passes; another process
    takes the row over only after it has passed, so a killed leader is replaced within one lease.
    """

    __tablename__ = "scheduler_lease"

    name: str = Field(max_length=40, primary_key=True)
    holder: str = Field(max_length=120)
    expires_at: datetime = _utc()


class Question(SQLModel, table=True):
    """A yes/no confirmation shown to one person, answered at most once.

    Its buttons carry its id; `version` fingerprints what it asks about as it was when asked,
    so a press acts only on an unanswered question about an unchanged thing.
    """

    id: int | None = Field(default=None, primary_key=True)
    telegram_user_id: int = Field(sa_type=BigInteger, index=True)
    subject: str = Field(max_length=40)  # e.g. slot:12, task:5, offer:3, person
    version: str = Field(max_length=16)
    asked_at: datetime = _utc()
    answered_at: datetime | None = _utc(nullable=True)


class InboxUpdate(SQLModel, table=True):
    """A Telegram update as it arrived, stored before its offset is confirmed to Telegram; its
    id is the key, so a copy Telegram delivers again after a crash is dropped on insert. Set once
    its handler returned: `done_at` (done rows are purged soon, `storage.inbox`); before its
    press is answered: `answered_at` (processed again, it is not answered twice)."""

    __tablename__ = "inbox_update"

    update_id: int = Field(
        sa_type=BigInteger, primary_key=True, sa_column_kwargs={"autoincrement": False}
    )
    telegram_user_id: int | None = Field(
        default=None, sa_type=BigInteger, index=True, nullable=True
    )
    payload: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    received_at: datetime = _utc()
    done_at: datetime | None = _utc(nullable=True)
    answered_at: datetime | None = _utc(nullable=True)


class SeasonTarget(SQLModel, table=True):
    """How many incoming students Norway must host in a season, per exchange type: what lets it
    send its own students abroad (the reciprocity meter, `bot.domain.reciprocity`). National:
    one row per (season, type), whoever set it."""

    __tablename__ = "season_target"
    __table_args__ = (UniqueConstraint("season", "exchange_type", name="uq_season_target"),)

    id: int | None = Field(default=None, primary_key=True)
    season: int  # the year the season starts in April
    exchange_type: str = Field(max_length=10)
    needed: int
    set_by: str = Field(max_length=254)  # the office that set it (NEO, NORE), or "cli"
    updated_at: datetime = _utc()


class DeletionAudit(SQLModel, table=True):
    """One erasure: why (`kind`: request, retention, operator), when, and how many rows of each
    kind went (`counts`). Never what they held or whose they were: the audit proves that data
    was erased without keeping any of it."""

    __tablename__ = "deletion_audit"

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=20)
    counts: dict[str, int] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    created_at: datetime = _utc()
