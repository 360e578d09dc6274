"""Seeding for the growth benchmark: a migrated database filled in a few bulk inserts.

N verified supervisors (registered over two years, so about 1% in any week: the digest's "new
supervisors"), one approved research task each (season 2026), N/10 open slots starting
1 February 2027, three waiting offers per slot (half already emailed eight days ago, so a
follow-up is due; half never emailed), and six bound coordinators (national research, national
clinical, research in each of the four cities), each getting a weekly digest.

SQLAlchemy Core `executemany` on a synchronous engine (pages of a few thousand rows), never the
ORM row by row: 100k supervisors seed in seconds on SQLite and PostgreSQL alike.

PostgreSQL gets a database of its own, uniquely named, dropped afterwards (`postgres_database`).
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from typing import Any

import psycopg
from sqlalchemy import Table, create_engine

from storage.migrate import upgrade
from storage.models import (
    Coordinator,
    Offer,
    OfferEmail,
    OfferStatus,
    OutboxEmail,
    OutboxStatus,
    Slot,
    SlotStatus,
    Supervisor,
    SupervisorStatus,
    Task,
    TaskStatus,
)

POSTGRES = "postgresql://postgres@127.0.0.1:5432/postgres"
CITIES = ["oslo", "bergen", "trondheim", "tromso"]
DAY = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)  # Tuesday 10:00 in Oslo: working hours
NIGHT = datetime(2026, 11, 24, 22, 0, tzinfo=UTC)  # Tuesday 23:00 in Oslo
SEASON_DAY = datetime(2027, 2, 2, 9, 0, tzinfo=UTC)  # Tuesday 10:00, the season check is open
SLOT_START = date(2027, 2, 1)
OFFERS_PER_SLOT = 3
HISTORY = timedelta(days=730)  # supervisors registered over the last two years
PAGE = 5_000
NATIONAL_EMAIL = "national-research@nmf.example"


def supervisor_row(number: int, size: int) -> dict[str, Any]:
    registered = DAY - timedelta(days=1) - HISTORY * (size - number) / size
    return {
        "telegram_user_id": 10_000_000 + number,
        "chat_id": 10_000_000 + number,
        "language": "nb" if number % 2 else "en",
        "name": f"Person {number}",
        "title": "overlege",
        "workplace": "Sykehuset",
        "city": CITIES[number % len(CITIES)],
        "fields": ["epidemiology"],
        "exchange_types": ["research"],
        "email": f"person{number}@example.no",
        "email_verified_at": registered,
        "consent_version": "2026-11",
        "consent_at": registered,
        "status": SupervisorStatus.ACTIVE,
        "referred": False,
        "created_at": registered,
        "updated_at": registered,
    }


def task_row(number: int) -> dict[str, Any]:
    return {
        "supervisor_id": number + 1,
        "season": 2026,
        "exchange_type": "research",
        "title": f"Registry study {number}",
        "field": "epidemiology",
        "city": CITIES[number % len(CITIES)],
        "site": "Sykehuset",
        "activities": [],
        "learning_goals": [],
        "products": [],
        "weeks": 4,
        "months": ["2027-02", "2027-03"],
        "capacity": 1,
        "english_ok": True,
        "patient_data": False,
        "backup_contact": "backup@example.no",
        "status": TaskStatus.APPROVED,
        "created_at": DAY - timedelta(days=50),
        "updated_at": DAY - timedelta(days=50),
    }


def slot_row(number: int) -> dict[str, Any]:
    return {
        "reference": f"G-{number}",
        "exchange_type": "research",
        "city": CITIES[number % len(CITIES)],
        "start_date": SLOT_START,
        "weeks": 4,
        "places": 1,
        "filled": 0,
        "status": SlotStatus.OPEN,
        "created_at": DAY - timedelta(days=20),
        "updated_at": DAY - timedelta(days=20),
    }


def coordinator_rows() -> list[dict[str, Any]]:
    scopes = [("research", "national"), ("clinical", "national")] + [
        ("research", city) for city in CITIES
    ]
    return [
        {
            "email": NATIONAL_EMAIL if n == 0 else f"coordinator{n}@nmf.example",
            "role": "NORE" if exchange_type == "research" else "NEO",
            "exchange_type": exchange_type,
            "city": city,
            "language": "en",
            "telegram_user_id": 900 + n,
            "chat_id": 900 + n,
            "invited_at": DAY - timedelta(days=90),
            "bound_at": DAY - timedelta(days=89),
            "digest_frequency": "weekly",
        }
        for n, (exchange_type, city) in enumerate(scopes)
    ]


def _offer(i: int, before: datetime) -> dict[str, Any]:
    # Offer i: slot i // 3 to supervisor (task) i, so no supervisor has two.
    return {
        "slot_id": i // OFFERS_PER_SLOT + 1,
        "task_id": i + 1,
        "supervisor_id": i + 1,
        "status": OfferStatus.SENT,
        "not_this_month": False,
        "reply_by": SLOT_START - timedelta(weeks=2),
        "created_at": before,
        "delivered_at": before,
    }


def _outbox(i: int, before: datetime) -> dict[str, Any]:
    return {
        "idempotency_key": f"remind:{i + 1}:{before.date().isoformat()}",
        "kind": "offer",
        "telegram_user_id": 10_000_000 + i,
        "recipient": f"person{i}@example.no",
        "subject": "",
        "message": "",
        "status": OutboxStatus.SENT,
        "attempts": 1,
        "attempts_before_hold": 0,
        "next_attempt_at": before,
        "created_at": before,
    }


def table(model: Any) -> Table:
    return model.__table__  # type: ignore[no-any-return]


def _insert(conn: Any, table: Table, rows: Iterator[dict[str, Any]]) -> None:
    while page := list(itertools.islice(rows, PAGE)):
        conn.execute(table.insert(), page)


def seed(async_url: str, supervisors: int) -> None:
    """Migrate the (empty) database at `async_url` and fill it."""
    upgrade(async_url)
    engine = create_engine(async_url.replace("+aiosqlite", ""))  # psycopg is sync and async
    slots = max(supervisors // 10, 1)
    waiting = min(slots * OFFERS_PER_SLOT, supervisors)
    emailed = range(0, waiting, 2)  # every second offer had its first email 8 days ago
    before = DAY - timedelta(days=8)
    with engine.begin() as conn:
        _insert(conn, table(Coordinator), iter(coordinator_rows()))
        _insert(
            conn, table(Supervisor), (supervisor_row(i, supervisors) for i in range(supervisors))
        )
        _insert(conn, table(Task), (task_row(i) for i in range(supervisors)))
        _insert(conn, table(Slot), (slot_row(i) for i in range(slots)))
        _insert(conn, table(Offer), (_offer(i, before) for i in range(waiting)))
        _insert(conn, table(OutboxEmail), (_outbox(i, before) for i in emailed))
        _insert(
            conn,
            table(OfferEmail),
            (
                {"offer_id": i + 1, "outbox_email_id": n + 1, "kind": "offer", "created_at": before}
                for n, i in enumerate(emailed)
            ),
        )
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("ANALYZE")
    engine.dispose()


def postgres_reason() -> str | None:
    """Why PostgreSQL cannot be used here, or None when it can."""
    try:
        with psycopg.connect(POSTGRES, connect_timeout=3) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as error:
        return f"PostgreSQL at 127.0.0.1:5432 unreachable ({str(error).strip().splitlines()[0]})"
    return None


@contextmanager
def postgres_database() -> Iterator[str]:
    """A new, uniquely named database (its async URL), dropped afterwards."""
    name = f"veileder_growth_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(POSTGRES, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    finally:
        with psycopg.connect(POSTGRES, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
