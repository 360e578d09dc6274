"""Coordinators as data: who holds which scope, the invitation email, and how a scope is named.

A coordinator is a student volunteer who hands over every year, so nothing about them is
configuration: `python -m bot coordinators add` (see `bot.cli.coordinators`) stores a scope and
queues an invitation email whose one-tap link (`/start c_<token>`) binds their Telegram account
(see `bot.chat.flows.coordinator.access.bind`).

Roles follow Nmf's offices: NEO and LEO (national / local exchange officer) work with the clinical
exchange, NORE and LORE with the research exchange; a local officer always has a city.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Final

from sqlalchemy.ext.asyncio import AsyncSession

from bot.core import emails, i18n
from bot.core.i18n import SUPPORTED
from bot.domain import reference
from bot.domain.validation import Invalid, validate_email
from storage import coordinators as store
from storage import repository
from storage.models import Coordinator, OutboxEmail

INVITE_PREFIX: Final = "c_"
NATIONAL: Final = store.NATIONAL
ROLE_TYPES: Final[dict[str, str]] = {
    "NEO": "clinical",
    "LEO": "clinical",
    "NORE": "research",
    "LORE": "research",
}
ROLES: Final = tuple(ROLE_TYPES)


class ScopeError(ValueError):
    """An invalid scope, phrased for the person at the terminal."""


@dataclass(frozen=True)
class Scope:
    email: str
    role: str
    exchange_type: str
    city: str
    language: str


def check_scope(
    *, email: str, role: str, exchange_type: str, city: str, language: str = "nb"
) -> Scope:
    """Clean and check what the command line was given; raises `ScopeError`."""
    checked = validate_email(email)
    if isinstance(checked, Invalid):
        raise ScopeError(f"{email!r} is not an email address")
    role = role.upper()
    if role not in ROLE_TYPES:
        raise ScopeError(f"role must be one of {', '.join(ROLES)}")
    if exchange_type not in reference.EXCHANGE_TYPES:
        raise ScopeError(f"type must be one of {', '.join(reference.EXCHANGE_TYPES)}")
    if ROLE_TYPES[role] != exchange_type:
        raise ScopeError(
            f"a {role} works with the {ROLE_TYPES[role]} exchange, not {exchange_type}"
        )
    city = city.lower()
    codes = [c.code for c in reference.cities()]
    if city != NATIONAL and city not in codes:
        raise ScopeError(f"city must be {NATIONAL} or one of {', '.join(codes)}")
    if role.startswith("L") and city == NATIONAL:
        raise ScopeError(f"a {role} is a local officer: give the city")
    if language not in SUPPORTED:
        raise ScopeError(f"language must be one of {', '.join(SUPPORTED)}")
    return Scope(checked.value, role, exchange_type, city, language)


def invite_link(bot_username: str, token: str) -> str:
    return f"https://t.me/{bot_username}?start={INVITE_PREFIX}{token}"


def city_name(code: str, language: str) -> str:
    """A city's name, or "all of Norway" (plain text: pass it to a Translator as a value)."""
    if code == NATIONAL:
        return i18n.gettext(language, "coord.national")
    named = reference.city(code)
    return named.name(language) if named else code


def scope_label(coordinator: Coordinator, language: str) -> str:
    """Like "LEO · Clinical · Oslo", in the reader's language (plain text, not escaped)."""
    return i18n.gettext(language, "coord.scope").format(
        role=coordinator.role,
        type=i18n.gettext(language, f"type.{coordinator.exchange_type}"),
        city=city_name(coordinator.city, language),
    )


async def invite(
    session: AsyncSession,
    scope: Scope,
    *,
    secret: bytes,
    mail_from: str,
    bot_username: str,
    now: datetime,
) -> Coordinator:
    """Store the scope and queue its invitation email, in the caller's transaction (outbox rule)."""
    coordinator, token = await store.add_coordinator(
        session,
        email=scope.email,
        role=scope.role,
        exchange_type=scope.exchange_type,
        city=scope.city,
        language=scope.language,
        now=now,
        secret=secret,
    )
    assert coordinator.invite_hash is not None
    key = f"coordinator-invite:{coordinator.id}:{coordinator.invite_hash[:16]}"
    subject, message = emails.render(
        "coordinator_invite",
        language=scope.language,
        recipient=scope.email,
        mail_from=mail_from,
        idempotency_key=key,
        now=now,
        scope=scope_label(coordinator, scope.language),
        link=invite_link(bot_username, token),
        days=store.INVITE_VALIDITY.days,
    )
    await repository.queue_email(
        session,
        OutboxEmail(
            idempotency_key=key,
            kind="coordinator_invite",
            recipient=scope.email,
            subject=subject,
            message=message.as_string(),
            next_attempt_at=now,
            created_at=now,
        ),
    )
    return coordinator
