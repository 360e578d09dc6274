"""What a refusal by a real SMTP server (aiosmtpd) does to an email and its address: only a
refusal of the recipient's address suppresses it; relaying, policy and login refusals are the
operator's to fix and hold the email (kept, retried, reported loudly, never suppressed); 4xx
replies are retried. Message-IDs are unique per email and stable across resends. Runs on SQLite
and PostgreSQL."""

from __future__ import annotations

import logging
import random
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlmodel import col, select

from bot.core.settings import Settings
from bot.mail.backends import SmtpBackend, Verdict, classify
from bot.mail.sender import HOLD_RETRY, OutboxSender
from storage import outbox, repository
from storage.db import Database
from storage.models import Coordinator, OutboxEmail, OutboxStatus, Suppression
from tests.smtp_server import Inbox, smtp_server
from tests.support.databases import copy_sqlite_template
from tests.support.outbox_worker import MAIL_FROM, email_row


def smtp_settings(tmp_path: Path, url: str, port: int) -> Settings:
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        var_dir=tmp_path / "var",
        database_url=url,
        mail_backend="smtp",
        mail_from=MAIL_FROM,
        smtp_host="127.0.0.1",
        smtp_port=port,
        smtp_timeout_seconds=5.0,
    )


@pytest.fixture
async def db(migrated_url: str) -> AsyncIterator[Database]:
    database = Database(migrated_url)
    yield database
    await database.close()


def sender_for(db: Database, settings: Settings, clock) -> OutboxSender:
    return OutboxSender(db, SmtpBackend(settings), clock, rng=random.Random(4))


async def rows(db: Database) -> list[OutboxEmail]:
    async with db.session() as session:
        result = await session.execute(select(OutboxEmail).order_by(col(OutboxEmail.id)))
        return list(result.scalars())


async def suppressions(db: Database) -> list[Suppression]:
    async with db.session() as session:
        return list((await session.execute(select(Suppression))).scalars())


async def queue(db: Database, clock, count: int = 1, kind: str = "coordinator_invite") -> None:
    async with db.session() as session:
        for number in range(count):
            assert await outbox.queue_email(session, email_row(number, clock.now(), kind=kind))


@pytest.mark.parametrize(
    ("reply", "at_recipient", "verdict"),
    [
        ("550 5.1.1 <kari@uio.no>: Recipient address rejected: User unknown", True, "bounced"),
        ("550 5.1.10 Null MX", True, "bounced"),
        ("550 5.2.1 Mailbox disabled", False, "bounced"),
        ("553 5.1.8 Sender address rejected: Domain not found", False, "held"),
        ("554 5.7.1 <kari@uio.no>: Relay access denied", True, "held"),
        ("550 5.7.1 Message rejected as spam", False, "held"),
        ("535 5.7.8 Error: authentication failed", False, "held"),
        ("500 5.5.2 Error: bad syntax", False, "held"),
        ("552 5.3.4 Message size exceeds fixed limit", False, "held"),
        ("550 No such user here", True, "bounced"),
        ("554 Transaction failed", False, "held"),
        ("452 4.2.2 Mailbox full", True, "temporary"),
        ("451 4.3.0 Try again later", False, "temporary"),
    ],
)
def test_only_a_refusal_of_the_recipients_address_counts_as_a_bounce(reply, at_recipient, verdict):
    code, _, text = reply.partition(" ")
    assert classify(int(code), text, at_recipient=at_recipient) == Verdict(verdict)


async def test_an_unknown_user_bounces_once_and_the_address_is_suppressed_with_the_reason(
    db, migrated_url, tmp_path, clock
):
    await queue(db, clock)
    with smtp_server() as (inbox, port):
        inbox.refuse_rcpt = "550 5.1.1 Recipient address rejected: User unknown"
        sender = sender_for(db, smtp_settings(tmp_path, migrated_url, port), clock)
        assert await sender.run_once() == 0
        clock.advance(timedelta(days=1))
        assert await sender.run_once() == 0
    [row] = await rows(db)
    assert row.status == OutboxStatus.FAILED and row.attempts == 1
    assert row.subject == row.message == ""  # the body (a link, a code) is not kept
    [suppressed] = await suppressions(db)
    assert suppressed.email == "person0@example.no" and suppressed.reason == "bounced"
    assert "550 5.1.1 Recipient address rejected: User unknown" in (suppressed.detail or "")


@pytest.mark.parametrize(
    "refusal",
    ["554 5.7.1 <person0@example.no>: Relay access denied", "550 5.7.1 Message rejected as spam"],
)
async def test_a_relay_or_policy_refusal_holds_the_email_until_the_operator_fixes_it(
    db, migrated_url, tmp_path, clock, caplog, refusal
):
    await queue(db, clock, 2)
    inbox = Inbox()
    if "Relay" in refusal:
        inbox.refuse_rcpt = refusal
    else:
        inbox.data_script = [refusal] * 4
    with smtp_server(inbox) as (inbox, port), caplog.at_level(logging.ERROR, "bot.mail.sender"):
        sender = sender_for(db, smtp_settings(tmp_path, migrated_url, port), clock)
        assert await sender.run_once() == 0
        held = await rows(db)
        assert [r.status for r in held] == [OutboxStatus.HELD] * 2
        assert all(r.message and refusal in (r.last_error or "") for r in held)
        assert await suppressions(db) == []  # nobody is silenced by our misconfiguration
        errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
        assert errors and all("held" in e and "@" not in e for e in errors)
        assert "5.7.1" in errors[0] and "outbox retry" in errors[0]
        # Still refused: held again at the next hour, not failed.
        clock.advance(HOLD_RETRY + timedelta(seconds=1))
        assert await sender.run_once() == 0
        assert {r.status for r in await rows(db)} == {OutboxStatus.HELD}
        # The operator fixes the relay: the next hourly try delivers both.
        inbox.refuse_rcpt = None
        inbox.data_script = []
        assert await sender.run_once() == 0  # not yet: the hour is not up
        clock.advance(HOLD_RETRY + timedelta(seconds=1))
        assert await sender.run_once() == 2
    assert len(inbox.received) == 2 and inbox.duplicates() == 0
    assert {r.status for r in await rows(db)} == {OutboxStatus.SENT}


async def test_a_refused_login_holds_the_batch_and_a_retry_after_the_fix_sends_it(
    db, migrated_url, tmp_path, clock, caplog
):
    await queue(db, clock, 3)
    inbox = Inbox(password="right")
    with smtp_server(inbox) as (inbox, port), caplog.at_level(logging.ERROR, "bot.mail.sender"):
        base = smtp_settings(tmp_path, migrated_url, port)
        wrong = base.model_copy(update={"smtp_user": "veileder", "smtp_password": "wrong"})
        assert await sender_for(db, wrong, clock).run_once() == 0
        stored = await rows(db)
        assert {r.status for r in stored} == {OutboxStatus.HELD}
        assert all("535" in (r.last_error or "") for r in stored)
        assert await suppressions(db) == []
        assert any("535" in r.getMessage() for r in caplog.records)
        # Many hours of a wrong password give up nothing.
        for _ in range(12):
            clock.advance(HOLD_RETRY + timedelta(seconds=1))
            assert await sender_for(db, wrong, clock).run_once() == 0
        assert {r.status for r in await rows(db)} == {OutboxStatus.HELD}
        # The operator fixes the password and retries now.
        right = base.model_copy(update={"smtp_user": "veileder", "smtp_password": "right"})
        async with db.session() as session:
            assert await outbox.retry_now(session, clock.now()) == (3, 0)
        assert await sender_for(db, right, clock).run_once() == 3
    assert len(inbox.received) == 3


async def test_a_full_mailbox_is_retried_not_suppressed(db, migrated_url, tmp_path, clock):
    await queue(db, clock)
    with smtp_server() as (inbox, port):
        inbox.refuse_rcpt = "452 4.2.2 Mailbox full"
        sender = sender_for(db, smtp_settings(tmp_path, migrated_url, port), clock)
        assert await sender.run_once() == 0
        [row] = await rows(db)
        assert row.status == OutboxStatus.PENDING and row.message
        inbox.refuse_rcpt = None
        clock.advance(timedelta(minutes=1))
        assert await sender.run_once() == 1
    assert await suppressions(db) == []


async def test_a_bounce_to_a_coordinator_is_not_suppressed(db, migrated_url, tmp_path, clock):
    async with db.session() as session:
        session.add(
            Coordinator(
                email="Person0@Example.no",
                role="NEO",
                exchange_type="clinical",
                city="national",
                invited_at=clock.now(),
            )
        )
    await queue(db, clock)
    with smtp_server() as (inbox, port):
        inbox.refuse_rcpt = "550 5.1.1 User unknown"
        assert (
            await sender_for(db, smtp_settings(tmp_path, migrated_url, port), clock).run_once() == 0
        )
    [row] = await rows(db)
    assert row.status == OutboxStatus.FAILED
    assert await suppressions(db) == []  # their digests keep coming (and keep being reported)


async def test_message_ids_are_unique_per_email_across_deleted_rows_and_databases(
    db, migrated_url, tmp_path, clock, sqlite_template
):
    """SQLite hands a deleted row's id to the next row, and a second database starts at 1 too:
    the same idempotency key and row id still never give two emails one Message-ID."""
    other_url = copy_sqlite_template(sqlite_template, tmp_path / "other.db")
    other = Database(other_url)
    seen: list[str] = []
    try:
        for database in (db, db, other):
            async with database.session() as session:
                await session.execute(OutboxEmail.__table__.delete())  # /delete erased it
                assert await outbox.queue_email(session, email_row(1, clock.now()))
            with smtp_server() as (inbox, port):
                sender = sender_for(database, smtp_settings(tmp_path, migrated_url, port), clock)
                assert await sender.run_once() == 1
            [row] = await rows(database)
            assert inbox.message_ids() == [row.message_id]
            seen.append(str(row.message_id))
    finally:
        await other.close()
    assert len(set(seen)) == 3


async def test_erasing_a_person_finds_their_mail_whatever_the_case_of_the_address(db, clock):
    """Kari verified kari.nordmann@uio.no; an email queued to Kari.Nordmann@UIO.no is hers too."""
    from storage.models import EmailVerification

    async with db.session() as session:
        row = email_row(7, clock.now(), recipient="Kari.Nordmann@UIO.no")
        await outbox.queue_email(session, row)
        await repository.suppress(session, "kari.nordmann@uio.no", "unsubscribed", clock.now())
        session.add(
            EmailVerification(
                telegram_user_id=77,
                email="kari.nordmann@uio.no",
                code_hash="0" * 64,
                link_hash="1" * 64,
                created_at=clock.now(),
                expires_at=clock.now(),
                verified_at=clock.now(),
            )
        )
    async with db.session() as session:
        await repository.erase_person(session, 77)
    assert await rows(db) == []


async def test_a_database_error_does_not_carry_the_address_into_the_log(db, clock):
    """Bound values (addresses, names, whole emails) are hidden from SQLAlchemy's errors; what
    PostgreSQL itself repeats (a unique key's DETAIL) the log formatter redacts."""
    from sqlalchemy.exc import IntegrityError

    from bot.core.logs import LogfmtFormatter

    for attempt in range(2):
        try:
            async with db.session() as session:
                session.add(
                    Suppression(
                        email="kari.nordmann@uio.no",
                        reason="bounced",
                        detail="Kari Nordmann",
                        created_at=clock.now(),
                    )
                )
        except IntegrityError as exc:
            assert attempt == 1
            assert "hidden due to hide_parameters" in str(exc) and "Kari Nordmann" not in str(exc)
            record = logging.LogRecord(
                "bot", logging.ERROR, __file__, 1, "failed", None, (type(exc), exc, None)
            )
            assert "kari.nordmann" not in LogfmtFormatter().format(record)
            return
    raise AssertionError("the second row should have broken the unique key")
