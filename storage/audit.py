"""The deletion audit: one row per erasure, with counts and never contents (`DeletionAudit`)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from storage.models import DeletionAudit


async def record(session: AsyncSession, kind: str, counts: dict[str, int], now: datetime) -> None:
    session.add(DeletionAudit(kind=kind, counts=dict(counts), created_at=now))


async def entries(session: AsyncSession) -> list[DeletionAudit]:
    result = await session.execute(select(DeletionAudit).order_by(col(DeletionAudit.id)))
    return list(result.scalars())
