"""A draft's answers and the profile they become: pure conversions, no I/O.

A registration draft (`Conversation.data`) holds one key per question; a profile edit starts from
the profile's values put back into that shape, so both walk the same steps.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from bot.chat.flows.registration.steps import CONSENT_VERSION, Flow, Step
from bot.domain.reference import TITLES, city
from bot.domain.validation import Valid, validate_name
from storage.models import Conversation, Supervisor


def name_suggestion(profile_name: str) -> str | None:
    """The Telegram profile's name as a suggestion, if it would pass as a typed name: a profile
    name is typed by anyone, and tapping "yes" must not store what typing it would refuse."""
    checked = validate_name(profile_name)
    return checked.value if isinstance(checked, Valid) else None


def new_draft(user_id: int, chat_id: int, language: str, name: str, now: datetime) -> Conversation:
    data: dict[str, Any] = {"consent_version": CONSENT_VERSION, "consent_at": now.isoformat()}
    if suggestion := name_suggestion(name):
        data["name_suggestion"] = suggestion
    return Conversation(
        telegram_user_id=user_id,
        chat_id=chat_id,
        flow=Flow.REGISTRATION,
        step=Step.TYPES,
        language=language,
        data=data,
        created_at=now,
        updated_at=now,
    )


def profile_edit(supervisor: Supervisor, step: Step, now: datetime) -> Conversation:
    """A profile edit: the profile's values as answers, `editing` so it returns after one field."""
    data: dict[str, Any] = {
        "exchange_types": list(supervisor.exchange_types),
        "name": supervisor.name,
        "workplace": supervisor.workplace,
        "fields": list(supervisor.fields),
        "fields_other": supervisor.fields_other,
        "email": supervisor.email,
        "email_verified_at": supervisor.email_verified_at.isoformat()
        if supervisor.email_verified_at
        else None,
        "phone": supervisor.phone,
        "editing": True,
    }
    data.update(
        {"title": supervisor.title}
        if supervisor.title in TITLES
        else {"title": "other", "title_other": supervisor.title}
    )
    data.update(
        {"city": supervisor.city}
        if city(supervisor.city)
        else {"city": "other", "city_other": supervisor.city}
    )
    return Conversation(
        telegram_user_id=supervisor.telegram_user_id,
        chat_id=supervisor.chat_id,
        flow=Flow.PROFILE,
        step=step,
        language=supervisor.language,
        data=data,
        created_at=now,
        updated_at=now,
    )


def profile_values(data: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": data["name"],
        "title": data["title_other"] if data["title"] == "other" else data["title"],
        "workplace": data["workplace"],
        "city": data["city_other"] if data["city"] == "other" else data["city"],
        "fields": list(data.get("fields", [])),
        "fields_other": data.get("fields_other") or None,
        "exchange_types": list(data["exchange_types"]),
        "email": data["email"],
        "email_verified_at": datetime.fromisoformat(data["email_verified_at"])
        if data.get("email_verified_at")
        else None,
        "phone": data.get("phone") or None,
    }


_REQUIRED = (
    (Step.TYPES, "exchange_types"),
    (Step.NAME, "name"),
    (Step.TITLE, "title"),
    (Step.WORKPLACE, "workplace"),
    (Step.CITY, "city"),
    (Step.EMAIL, "email"),
)


def missing_step(data: dict[str, Any]) -> Step | None:
    for step, key in _REQUIRED:
        if not data.get(key):
            return step
    if not data.get("fields") and not data.get("fields_other"):
        return Step.FIELDS
    return None
