"""Yes/no questions: asked once, answered at most once (see `storage.models.Question`)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, or_, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from storage.models import Question


async def ask(
    session: AsyncSession, user_id: int, subject: str, version: str, now: datetime
) -> int:
    """Record a question about `subject` as it is (`version`); its id goes into the buttons."""
    question = Question(telegram_user_id=user_id, subject=subject, version=version, asked_at=now)
    session.add(question)
    await session.flush()
    assert question.id is not None
    return question.id


async def answer(
    session: AsyncSession, question_id: int, user_id: int, now: datetime
) -> Question | None:
    """Mark the question answered and return it, or None when it was answered before (a second
    press, a stale screen) or is not this person's. A conditional update: two presses racing
    each other cannot both get it."""
    result = await session.execute(
        update(Question)
        .where(
            col(Question.id) == question_id,
            col(Question.telegram_user_id) == user_id,
            col(Question.answered_at).is_(None),
        )
        .values(answered_at=now)
        .execution_options(synchronize_session=False)
    )
    if not getattr(result, "rowcount", 0):
        return None
    return await session.get(Question, question_id, populate_existing=True)


async def expire(session: AsyncSession, asked_before: datetime) -> int:
    """Forget questions asked before `asked_before`, answered or not (their screens are old)."""
    result = await session.execute(
        delete(Question).where(
            or_(col(Question.asked_at) < asked_before, col(Question.answered_at) < asked_before)
        )
    )
    return int(getattr(result, "rowcount", 0) or 0)
