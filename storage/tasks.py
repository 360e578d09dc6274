"""Data access for tasks."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from storage.models import Supervisor, Task, TaskStatus

# The answers a task draft keeps, and the Task columns they fill (same names).
TASK_FIELDS = (
    "exchange_type", "field", "title", "description", "department", "city", "activities",
    "activities_other", "daily_hours", "products", "learning_goals", "weeks", "season", "months",
    "capacity", "english_ok", "skills", "ethics_status", "confidentiality", "backup_contact",
    "title_en", "description_en",
)  # fmt: skip


async def tasks_of(session: AsyncSession, supervisor_id: int) -> list[Task]:
    result = await session.execute(
        select(Task)
        .where(col(Task.supervisor_id) == supervisor_id)
        .order_by(col(Task.season).desc(), col(Task.id))
    )
    return list(result.scalars())


async def get_task(session: AsyncSession, task_id: int, supervisor_id: int) -> Task | None:
    """The task, only if it belongs to this supervisor (buttons are re-checked on every press)."""
    task = await session.get(Task, task_id)
    return task if task is not None and task.supervisor_id == supervisor_id else None


def draft_values(task: Task) -> dict[str, Any]:
    return {name: getattr(task, name) for name in TASK_FIELDS}


async def save_submitted(
    session: AsyncSession, supervisor: Supervisor, data: dict[str, Any], now: datetime
) -> Task:
    """Create the task (or update the one being edited) as submitted: it needs (re)approval."""
    task_id = data.get("task_id")
    task = await get_task(session, int(task_id), supervisor.id or 0) if task_id else None
    if task is None:
        task = Task(
            supervisor_id=supervisor.id or 0,
            created_at=now,
            site=supervisor.workplace,
            **_values(data),
        )
    else:
        for key, value in _values(data).items():
            setattr(task, key, value)
    if task.exchange_type == "clinical":
        task.title = task.department or task.title
    task.patient_data = bool({"chart_review", "data_collection"} & set(task.activities))
    task.status = TaskStatus.SUBMITTED
    task.return_reason = task.return_part = None
    task.updated_at = task.submitted_at = now
    session.add(task)
    await session.flush()
    return task


def _values(data: dict[str, Any]) -> dict[str, Any]:
    values = {name: data.get(name) for name in TASK_FIELDS}
    for key in ("activities", "products", "learning_goals", "months"):
        values[key] = list(values[key] or [])
    values["title"] = values["title"] or values["department"] or ""
    values["backup_contact"] = values["backup_contact"] or ""  # optional: a line on the summary
    values["english_ok"] = bool(values["english_ok"]) if values["english_ok"] is not None else True
    return values


async def set_status(session: AsyncSession, task: Task, status: TaskStatus, now: datetime) -> None:
    task.status = status
    task.updated_at = now
    session.add(task)


async def add_english(
    session: AsyncSession,
    task_id: int,
    *,
    title_en: str | None,
    description_en: str | None,
    seen: datetime,
    now: datetime,
) -> bool:
    """A coordinator's English title and description for a task still waiting for review and
    unchanged since they saw it (`seen`, its `updated_at`): a conditional update, so an edit
    by the supervisor in between is never overwritten. False when it no longer is."""
    result = await session.execute(
        update(Task)
        .where(
            col(Task.id) == task_id,
            col(Task.status) == TaskStatus.SUBMITTED,
            col(Task.updated_at) == seen,
        )
        .values(title_en=title_en, description_en=description_en, updated_at=now)
    )
    return bool(getattr(result, "rowcount", 0))
