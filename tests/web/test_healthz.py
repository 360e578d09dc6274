"""`GET /healthz`: what an orchestrator or an operator's curl sees. 503 only when the database does
not answer, nobody holds the scheduler lease, or polling has stalled; an email backlog is
reported with how long the oldest has waited, and is never a failure. (A database that is down:
`test_webhook.py`.)"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from bot.app import App, services_of
from bot.core.context import Services
from bot.core.health import LEASE_GRACE, POLL_STALLED, SCHEDULER_LEASE
from bot.jobs.scheduler import LEASE, LEASE_NAME
from bot.web.app import create_app
from storage import leases, outbox
from storage.models import OutboxEmail


@pytest.fixture
async def client(app: App) -> AsyncIterator[httpx.AsyncClient]:
    web = create_app(services_of(app))
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=web), base_url="http://veileder.test"
    ) as http:
        yield http


async def lead(services: Services, *, at: datetime | None = None) -> None:
    """Some process holds the scheduler lease, taken at `at` (wall clock; now by default)."""
    async with services.db.session() as session:
        assert await leases.hold(session, LEASE_NAME, "elsewhere:1", at or datetime.now(UTC), LEASE)


def test_health_reads_the_lease_the_scheduler_writes():
    assert SCHEDULER_LEASE == LEASE_NAME


async def test_healthy_when_a_scheduler_leads_and_says_when_telegram_last_answered(
    services, client, clock
):
    await lead(services)
    response = await client.get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok" and body["problems"] == []
    assert body["database"] is True and body["scheduler_leader"] is True
    assert body["outbox_due"] == 0 and body["oldest_due_seconds"] is None
    # Start-up registered the command menu through the gate: that was the last answered call.
    assert body["last_bot_api_call"] == clock.now().isoformat(timespec="seconds")
    assert body["polling"] is False and body["polling_stalled"] is False
    assert response.headers["Cache-Control"] == "no-store"


async def test_no_scheduler_leader_is_a_503(services, client):
    response = await client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["problems"] == ["scheduler_leader"]
    assert response.json()["scheduler_leader"] is False


async def test_a_lease_expired_longer_than_a_handover_is_a_503(services, client):
    taken = datetime.now(UTC) - LEASE - LEASE_GRACE - timedelta(seconds=5)
    await lead(services, at=taken)
    assert (await client.get("/healthz")).status_code == 503
    await lead(services, at=datetime.now(UTC) - LEASE - LEASE_GRACE / 2)  # a standby is due
    assert (await client.get("/healthz")).status_code == 200


async def test_an_email_backlog_is_reported_never_a_503(services, client, clock):
    await lead(services)
    async with services.db.session() as session:
        for n, waited in enumerate((timedelta(hours=3), timedelta(minutes=5))):
            await outbox.queue_email(
                session,
                OutboxEmail(
                    idempotency_key=f"backlog:{n}",
                    kind="offer",
                    recipient=f"p{n}@example.no",
                    subject="s",
                    message="Subject: s\n\nbody\n",
                    next_attempt_at=clock.now() - waited,
                    created_at=clock.now() - waited,
                ),
            )
    response = await client.get("/healthz")
    assert response.status_code == 200
    assert response.json()["outbox_due"] == 2
    assert response.json()["oldest_due_seconds"] == 3 * 3600


async def test_polling_that_has_stalled_is_a_503_until_a_poll_returns(services, client, clock):
    await lead(services)
    services.health.polling()  # what the inbox says when it starts to poll
    clock.advance(POLL_STALLED - timedelta(seconds=1))
    assert (await client.get("/healthz")).status_code == 200
    clock.advance(timedelta(seconds=2))
    stalled = await client.get("/healthz")
    assert stalled.status_code == 503 and stalled.json()["problems"] == ["polling"]
    services.health.polled()
    recovered = await client.get("/healthz")
    assert recovered.status_code == 200
    assert recovered.json()["last_poll"] == clock.now().isoformat(timespec="seconds")
