"""The tables.

Personal data lives in three places only: `supervisor` (a finished registration),
`conversation` (the answers of a flow in progress) and `email_verification` / `outbox_email`
(addresses mail was sent to). `/delete` erases all four by Telegram user id; see
`storage.repository.erase_person`.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, BigInteger, Column, Index, Text, UniqueConstraint
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


def _utc(nullable: bool = False) -> Any:
    if nullable:
        return Field(default=None, sa_type=UTCDateTime, nullable=True)
    return Field(sa_type=UTCDateTime, nullable=False)


class Supervisor(SQLModel, table=True):
    """A clinician or researcher who finished registration."""

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
    SMTP; `bot.mailer.OutboxSender` delivers it. The idempotency key makes queueing the same
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
