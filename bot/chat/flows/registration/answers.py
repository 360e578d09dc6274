"""A draft's answers and the profile they become, both ways, derived from the question rows.

A registration draft (`Conversation.data`) holds one key per question; a supervisor's column has
the question's key. A choice with an "other" text stores the text in the column when "other" was
chosen, and a profile edit starts from the profile's values put back into that shape, so both
walk the same rows. A new stored question needs its column, not a line here.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Final

from bot.chat.engine.context import Ctx
from bot.chat.engine.rows import OTHER, Kind, Question
from bot.chat.flows.registration.steps import (
    CONSENT_VERSION,
    FORM,
    GIVEN,
    QUESTIONS,
    Flow,
    name_suggestion,
    prefill,
)
from bot.core.i18n import Translator
from bot.domain.signing import parse_id
from bot.services import referrals
from storage import repository
from storage.models import Conversation, Supervisor

_ANY = Translator("en")  # option codes do not depend on the language
# The draft's key for the colleague whose referral link started it (`bot.services.referrals`).
REFERRED_BY: Final = repository.REFERRED_BY


def _stored() -> list[Question]:
    """The rows with a column: all but the summary and a choice's "other" text (its column is
    the choice's)."""
    merged = {q.other for q in QUESTIONS if q.kind == Kind.CHOICE and q.other}
    return [q for q in QUESTIONS if q.kind != Kind.SUMMARY and q.id not in merged]


def _other_key(q: Question) -> str | None:
    return FORM[q.other].key if q.kind == Kind.CHOICE and q.other else None


def new_draft(
    user_id: int,
    chat_id: int,
    language: str,
    name: str,
    now: datetime,
    invited: dict[str, Any] | None = None,
) -> Conversation:
    """A draft at its first question, given what the bot knows: the Telegram profile's name, or
    everything an invitation holds (`invited`: name, email, city, fields; its link proved the
    address)."""
    data: dict[str, Any] = {"consent_version": CONSENT_VERSION, "consent_at": now.isoformat()}
    if suggestion := name_suggestion(name):
        data["name_suggestion"] = suggestion
    if invited is not None:
        prefill(data, invited, verified_at=now.isoformat())
    if "name" not in data.get(GIVEN, []):
        prefill(data, {"name": suggestion})
    return Conversation(
        telegram_user_id=user_id,
        chat_id=chat_id,
        flow=Flow.REGISTRATION,
        step=FORM.first(data),
        language=language,
        data=data,
        created_at=now,
        updated_at=now,
    )


def draft_values(supervisor: Supervisor) -> dict[str, Any]:
    """The profile's values as a draft's answers."""
    data: dict[str, Any] = {}
    for q in _stored():
        value = getattr(supervisor, q.key)
        other = _other_key(q)
        if other is not None and value not in {o.code for o in FORM.options(q, data, _ANY)}:
            data[q.key], data[other] = OTHER, value
        elif isinstance(value, datetime):
            data[q.key] = value.isoformat()
        elif isinstance(value, list):
            data[q.key] = list(value)
        else:
            data[q.key] = value
    return data


def profile_edit(supervisor: Supervisor, step: str, now: datetime) -> Conversation:
    """A profile edit: the profile's values as answers, `editing` so it returns after one field."""
    return Conversation(
        telegram_user_id=supervisor.telegram_user_id,
        chat_id=supervisor.chat_id,
        flow=Flow.PROFILE,
        step=step,
        language=supervisor.language,
        data={**draft_values(supervisor), "editing": True},
        created_at=now,
        updated_at=now,
    )


def profile_values(data: dict[str, Any]) -> dict[str, Any]:
    """The draft's answers as the supervisor's columns."""
    values: dict[str, Any] = {}
    for q in _stored():
        value = data.get(q.key)
        other = _other_key(q)
        if other is not None and value == OTHER:
            value = data.get(other)
        if q.key.endswith("_at"):
            value = datetime.fromisoformat(value) if value else None
        elif isinstance(value, list):
            value = list(value)
        values[q.key] = value if value not in ("", None) else None
    return values


async def finish(ctx: Ctx) -> bool:
    """ "Confirm": the draft becomes the supervisor; whether the email is verified."""
    conv, now = ctx.conv, ctx.svc.clock.now()
    # Checked again: the colleague may have deleted their data since the link was opened.
    referrer = await referrals.referrer(ctx.session, parse_id(str(conv.data.get(REFERRED_BY, ""))))
    supervisor = Supervisor(
        telegram_user_id=conv.telegram_user_id,
        chat_id=conv.chat_id,
        language=conv.language,
        consent_version=str(conv.data["consent_version"]),
        consent_at=datetime.fromisoformat(conv.data["consent_at"]),
        created_at=now,
        updated_at=now,
        referred=REFERRED_BY in conv.data,
        referred_by=referrer,
        **profile_values(conv.data),
    )
    ctx.session.add(supervisor)
    await repository.delete_conversation(ctx.session, conv.telegram_user_id)
    return supervisor.email_verified_at is not None


async def save_profile(ctx: Ctx) -> None:
    """The end of a profile edit: its answers go to the profile, and the draft is gone."""
    conv = ctx.conv
    supervisor = await repository.get_supervisor(ctx.session, conv.telegram_user_id)
    if supervisor is not None:
        for key, value in profile_values(conv.data).items():
            setattr(supervisor, key, value)
        supervisor.updated_at = ctx.svc.clock.now()
        ctx.session.add(supervisor)
    await repository.delete_conversation(ctx.session, conv.telegram_user_id)
