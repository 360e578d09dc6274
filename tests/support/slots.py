"""Builders for supervisors, tasks and slots written straight to the database (no chat), for
the offer, import, export and CLI tests."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bot.chat.flows.registration.steps import CONSENT_VERSION
from storage.models import Slot, Supervisor, SupervisorStatus, Task, TaskStatus

NOW = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)


async def supervisor(session: AsyncSession, n: int, **changes: Any) -> Supervisor:
    values: dict[str, Any] = {
        "telegram_user_id": 7_000_000 + n,
        "chat_id": 7_000_000 + n,
        "language": "en",
        "name": f"Dr Æsa Øvre {n}",
        "title": "researcher",
        "workplace": "Oslo universitetssykehus",
        "city": "oslo",
        "fields": ["cardiology"],
        "exchange_types": ["research", "clinical"],
        "email": f"doctor{n}@example.org",
        "email_verified_at": NOW,
        "consent_version": CONSENT_VERSION,
        "consent_at": NOW,
        "status": SupervisorStatus.ACTIVE,
        "created_at": NOW,
        "updated_at": NOW,
    }
    values.update(changes)
    person = Supervisor(**values)
    session.add(person)
    await session.flush()
    return person


async def task(session: AsyncSession, owner: Supervisor, **changes: Any) -> Task:
    values: dict[str, Any] = {
        "supervisor_id": owner.id,
        "season": 2026,
        "exchange_type": "research",
        "title": "Atrial fibrillation registry",
        "description": "Chart review of patients with new atrial fibrillation in 2024.",
        "field": "epidemiology",
        "city": "oslo",
        "site": "Oslo universitetssykehus",
        "department": "Kardiologisk avdeling",
        "activities": ["chart_review", "analysis"],
        "learning_goals": ["@charts", "Write a short report"],
        "products": ["report"],
        "weeks": 4,
        "months": ["2027-02", "2027-03"],
        "capacity": 1,
        "english_ok": True,
        "skills": "Basic statistics",
        "patient_data": True,
        "ethics_status": "approved",
        "confidentiality": True,
        "backup_contact": "Per Hansen, postdoc",
        "status": TaskStatus.APPROVED,
        "created_at": NOW,
        "updated_at": NOW,
    }
    values.update(changes)
    item = Task(**values)
    session.add(item)
    await session.flush()
    return item


async def slot(session: AsyncSession, reference: str = "SCORE-1", **changes: Any) -> Slot:
    values: dict[str, Any] = {
        "reference": reference,
        "exchange_type": "research",
        "city": "oslo",
        "start_date": date(2027, 3, 1),
        "weeks": 4,
        "places": 1,
        "field_preference": None,
        "partner_country": "Oman",
        "created_at": NOW,
        "updated_at": NOW,
    }
    values.update(changes)
    item = Slot(**values)
    session.add(item)
    await session.flush()
    return item
