"""The outbox against a real SMTP server (aiosmtpd, started here) with a frozen clock: a batch
goes over one connection as valid MIME with stable Message-IDs; an outage, a dropped connection
and 4xx replies end with every email delivered exactly once; 5xx and refused recipients fail for
good with the server's reason. Runs on SQLite and PostgreSQL."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlmodel import col, select

from bot.core.settings import Settings
from bot.domain.clock import FrozenClock
from bot.mail.backends import SmtpBackend
from bot.mail.sender import OutboxSender
from storage import outbox
from storage.db import Database
from storage.models import OutboxEmail, OutboxStatus
from tests.smtp_server import (
    ACCEPT,
    HANG_UP,
    STORE_AND_HANG_UP,
    Inbox,
    SilentServer,
    check_mime,
    free_port,
    smtp_server,
)
from tests.support.outbox_worker import MAIL_FROM, email_row, queue_emails


def smtp_settings(tmp_path: Path, url: str, port: int, **more: object) -> Settings:
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        var_dir=tmp_path / "var",
        database_url=url,
        mail_backend="smtp",
        mail_from=MAIL_FROM,
        smtp_host="127.0.0.1",
        smtp_port=port,
        smtp_timeout_seconds=more.pop("timeout", 5.0),
        **more,
    )


@pytest.fixture
async def db(migrated_url: str) -> AsyncIterator[Database]:
    database = Database(migrated_url)
    yield database
    await database.close()


def sender_for(
    db: Database, settings: Settings, clock: FrozenClock, **options: object
) -> OutboxSender:
    return OutboxSender(db, SmtpBackend(settings), clock, rng=random.Random(4), **options)  # type: ignore[arg-type]


async def rows(db: Database) -> list[OutboxEmail]:
    async with db.session() as session:
        result = await session.execute(select(OutboxEmail).order_by(col(OutboxEmail.id)))
        return list(result.scalars())


async def test_a_batch_goes_over_one_connection_as_valid_mime_with_stable_ids(
    db, migrated_url, tmp_path, clock
):
    now = clock.now()
    async with db.session() as session:
        for number, kind in enumerate(["verify", "coordinator_invite", "verify"]):
            await outbox.queue_email(session, email_row(number, now, kind=kind))
    with smtp_server() as (inbox, port):
        sender = sender_for(db, smtp_settings(tmp_path, migrated_url, port), clock)
        assert await sender.run_once() == 3
        assert await sender.run_once() == 0
    assert inbox.connections == 1  # one SMTP session for the batch, none for nothing
    messages = [check_mime(raw) for raw in inbox.raw]
    stored = await rows(db)
    assert [str(m["Message-ID"]) for m in messages] == [row.message_id for row in stored]
    assert len(set(inbox.message_ids())) == 3
    assert all(row.status == OutboxStatus.SENT and row.attempts == 1 for row in stored)
    assert inbox.envelopes[0] == ("veileder@nmf.example", ["person0@example.no"])
    verify, invite, _ = messages
    assert verify["List-Unsubscribe"] == (
        "<https://veileder.example/unsubscribe/0>, "
        "<mailto:veileder@nmf.example?subject=unsubscribe>"
    )
    assert verify["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert invite["Reply-To"] == "Koordinator <koordinator@nmf.example>"
    html = verify.get_body(preferencelist=("html",)).get_content()
    assert "Person &lt;0&gt;" in html and "Person <0>" not in html


async def test_a_row_sent_again_after_a_crash_carries_the_same_message_id(
    db, migrated_url, tmp_path, clock
):
    now = clock.now()
    async with db.session() as session:
        await outbox.queue_email(session, email_row(1, now))
    async with db.session() as session:
        [queued] = (await session.execute(select(OutboxEmail))).scalars().all()
        expected = queued.message_id
    assert expected is not None
    with smtp_server() as (inbox, port):
        sender = sender_for(db, smtp_settings(tmp_path, migrated_url, port), clock)
        # A sender claimed the row and died before recording anything: the lease holds it...
        async with db.session() as session:
            assert len(await outbox.claim_due(session, now, lease=timedelta(minutes=2), limit=5))
        assert await sender.run_once() == 0
        # ...until it runs out, and another sweep sends it.
        clock.advance(timedelta(minutes=2, seconds=1))
        # This time the server stores it but the 250 never arrives: it is sent once more.
        inbox.data_script = [STORE_AND_HANG_UP]
        assert await sender.run_once() == 0
        [row] = await rows(db)
        assert row.status == OutboxStatus.PENDING and row.attempts == 2
        clock.advance(timedelta(minutes=2))
        assert await sender.run_once() == 1
    assert inbox.message_ids() == [expected, expected]
    [row] = await rows(db)
    assert row.status == OutboxStatus.SENT and row.attempts == 3 and row.last_error is None


async def test_an_outage_ends_with_every_email_delivered_exactly_once(
    db, migrated_url, tmp_path, clock
):
    port = free_port()  # nothing listens there yet: the mail server is down
    settings = smtp_settings(tmp_path, migrated_url, port)
    sender = sender_for(db, settings, clock)
    expected = await queue_emails(db, 12, clock.now())

    assert await sender.run_once() == 0
    first = await rows(db)
    assert all(r.status == OutboxStatus.PENDING and r.attempts == 1 for r in first)
    assert all("SMTPConnect" in (r.last_error or "") for r in first)
    delays = {r.next_attempt_at - clock.now() for r in first}
    assert all(timedelta(seconds=24) <= d <= timedelta(seconds=36) for d in delays)
    assert len(delays) > 1  # jitter: the retries do not all arrive at once

    assert await sender.run_once() == 0  # backing off: nothing is due, nothing is attempted
    assert {r.attempts for r in await rows(db)} == {1}
    clock.advance(timedelta(seconds=40))
    assert await sender.run_once() == 0
    second = await rows(db)
    assert {r.attempts for r in second} == {2}
    assert all(
        timedelta(seconds=48) <= r.next_attempt_at - clock.now() <= timedelta(seconds=72)
        for r in second
    )

    inbox = Inbox()
    with smtp_server(inbox, port):  # the server is back
        assert await sender.run_once() == 0  # still backing off
        clock.advance(timedelta(minutes=2))
        assert await sender.run_once(batch=5) == 12
        clock.advance(timedelta(days=1))
        assert await sender.run_once() == 0
    assert sorted(inbox.message_ids()) == sorted(expected)  # each exactly once
    assert inbox.connections == 3  # batches of 5, 5 and 2
    assert all(r.status == OutboxStatus.SENT and r.attempts == 3 for r in await rows(db))


async def test_a_connection_lost_mid_batch_hands_the_rest_back_uncounted(
    db, migrated_url, tmp_path, clock
):
    expected = await queue_emails(db, 8, clock.now())
    with smtp_server() as (inbox, port):
        inbox.data_script = [ACCEPT, ACCEPT, ACCEPT, HANG_UP]
        sender = sender_for(db, smtp_settings(tmp_path, migrated_url, port), clock)
        assert await sender.run_once() == 3
        after = await rows(db)
        assert [r.status for r in after] == [OutboxStatus.SENT] * 3 + [OutboxStatus.PENDING] * 5
        in_flight, *rest = after[3:]
        assert in_flight.attempts == 1 and in_flight.next_attempt_at > clock.now()
        assert "SMTPServerDisconnected" in (in_flight.last_error or "")
        assert all(r.attempts == 0 and r.next_attempt_at <= clock.now() for r in rest)
        assert await sender.run_once() == 4  # the next sweep takes the rest at once
        clock.advance(timedelta(minutes=1))
        assert await sender.run_once() == 1
    assert sorted(inbox.message_ids()) == sorted(expected)


@pytest.mark.parametrize(
    "reply", ["421 4.7.0 Too many connections, closing", "451 4.3.0 Mailbox temporarily locked"]
)
async def test_temporary_refusals_are_retried_later_and_then_delivered(
    db, migrated_url, tmp_path, clock, reply
):
    await queue_emails(db, 2, clock.now())
    with smtp_server() as (inbox, port):
        inbox.data_script = [reply]
        sender = sender_for(db, smtp_settings(tmp_path, migrated_url, port), clock)
        delivered = await sender.run_once()
        first, second = await rows(db)
        assert first.status == OutboxStatus.PENDING and first.attempts == 1
        assert first.last_error == reply
        if reply.startswith("421"):  # the server closes the session: the second waits for a new one
            assert delivered == 0 and second.attempts == 0
            assert await sender.run_once() == 1
        else:  # the same session carries on with the next message
            assert delivered == 1 and inbox.connections == 1
        assert await sender.run_once() == 0  # the first is backing off
        clock.advance(timedelta(minutes=1))
        assert await sender.run_once() == 1
    assert len(inbox.received) == 2 and inbox.duplicates() == 0
    first, second = await rows(db)
    assert first.status == OutboxStatus.SENT and first.attempts == 2


async def test_a_550_fails_for_good_with_the_reason_kept_and_is_never_retried(
    db, migrated_url, tmp_path, clock
):
    start = clock.now()
    await queue_emails(db, 2, start)
    with smtp_server() as (inbox, port):
        inbox.data_script = ["550 5.1.1 Recipient address rejected: User unknown"]
        sender = sender_for(db, smtp_settings(tmp_path, migrated_url, port), clock)
        assert await sender.run_once() == 1  # the next message goes over the same session
        assert inbox.connections == 1
        for _ in range(3):
            clock.advance(timedelta(days=1))
            assert await sender.run_once() == 0
    assert inbox.data_commands == 2
    rejected, delivered = await rows(db)
    assert rejected.status == OutboxStatus.FAILED and rejected.attempts == 1
    assert rejected.last_error == "550 5.1.1 Recipient address rejected: User unknown"
    assert rejected.message == rejected.subject == "" and rejected.message_id  # no body kept
    assert delivered.status == OutboxStatus.SENT
    async with db.session() as session:
        assert [e.id for e in await outbox.failed_since(session, start)] == [rejected.id]
        assert await outbox.failed_since(session, start + timedelta(minutes=1)) == []


@pytest.mark.parametrize(
    ("refusal", "status"),
    [
        ("550 5.1.1 No such user here", OutboxStatus.FAILED),
        ("450 4.2.1 Mailbox busy", OutboxStatus.PENDING),
    ],
)
async def test_a_refused_recipient_fails_for_good_but_a_busy_one_is_retried(
    db, migrated_url, tmp_path, clock, refusal, status
):
    await queue_emails(db, 1, clock.now())
    with smtp_server() as (inbox, port):
        inbox.refuse_rcpt = refusal
        sender = sender_for(db, smtp_settings(tmp_path, migrated_url, port), clock)
        assert await sender.run_once() == 0
        clock.advance(timedelta(minutes=1))
        assert await sender.run_once() == 0
    [row] = await rows(db)
    assert row.status == status and refusal in (row.last_error or "")
    assert row.attempts == (1 if status == OutboxStatus.FAILED else 2)
    assert inbox.received == []


async def test_after_the_last_attempt_a_temporary_failure_becomes_permanent(
    db, migrated_url, tmp_path, clock
):
    start = clock.now()
    await queue_emails(db, 1, start)
    sender = sender_for(db, smtp_settings(tmp_path, migrated_url, free_port()), clock)
    sender.max_attempts = 3
    for _ in range(3):
        assert await sender.run_once() == 0
        clock.advance(timedelta(hours=1))
    [row] = await rows(db)
    assert row.status == OutboxStatus.FAILED and row.attempts == 3
    assert (row.last_error or "").startswith("gave up after 3 attempts: SMTPConnectError")
    async with db.session() as session:
        assert [e.id for e in await outbox.failed_since(session, start)] == [row.id]


async def test_a_server_that_stops_answering_times_out_and_is_retried(
    db, migrated_url, tmp_path, clock
):
    await queue_emails(db, 2, clock.now())
    async with SilentServer() as silent:
        settings = smtp_settings(tmp_path, migrated_url, silent.port, timeout=0.3)
        assert await sender_for(db, settings, clock).run_once() == 0
    first, second = await rows(db)
    assert first.status == second.status == OutboxStatus.PENDING
    assert "Timeout" in (first.last_error or "") and first.attempts == 1


async def test_starttls_required_but_not_offered_sends_nothing_in_the_clear(
    db, migrated_url, tmp_path, clock
):
    await queue_emails(db, 1, clock.now())
    with smtp_server() as (inbox, port):  # aiosmtpd here offers no STARTTLS
        settings = smtp_settings(tmp_path, migrated_url, port, smtp_security="starttls")
        assert await sender_for(db, settings, clock).run_once() == 0
    [row] = await rows(db)
    assert row.status == OutboxStatus.PENDING and "STARTTLS" in (row.last_error or "").upper()
    assert inbox.received == []
