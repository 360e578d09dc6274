"""Email verification: a 6-digit code and a one-tap deep link, sent through the outbox.

Decisions, written down because the numbers are policy:
- a code is valid for 30 minutes and allows 5 tries (the right code spends one too: a try is
  spent before the code is compared, so tries made at once cannot compare more than 5);
- a person, and an address, get at most 4 codes in any rolling hour (the first plus 3 resends),
  so the bot can never be used to flood someone's inbox;
- an address that is not verified receives nothing but verification emails (callers check
  `Supervisor.email_verified_at` before emailing anything else).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum
from typing import Final

from sqlalchemy.ext.asyncio import AsyncSession

from bot.core import emails
from bot.core.context import Services
from bot.domain.signing import hash_secret, is_token
from storage import outbox, repository
from storage.models import EmailVerification, OutboxEmail

CODE_VALIDITY: Final = timedelta(minutes=30)
MAX_TRIES: Final = 5
SENDS_PER_HOUR: Final = 4
LINK_PREFIX: Final = "v_"


class CodeCheck(StrEnum):
    OK = "ok"
    WRONG = "wrong"
    EXPIRED = "expired"
    TOO_MANY = "too_many"
    NONE_SENT = "none_sent"


@dataclass(frozen=True)
class CheckResult:
    outcome: CodeCheck
    tries_left: int = 0


def _code_hash(services: Services, user_id: int, code: str) -> str:
    return hash_secret(services.secret, f"code:{user_id}:{code}")


def _link_hash(services: Services, token: str) -> str:
    return hash_secret(services.secret, f"link:{token}")


async def may_send(session: AsyncSession, services: Services, user_id: int, email: str) -> bool:
    """Whether the hourly limit allows another code. Holds the person's and the address's count
    until the transaction ends: `send_code` in the same transaction, so two asked for at once
    are counted one after the other."""
    await repository.lock_verification_sends(session, user_id, email)
    since = services.clock.now() - timedelta(hours=1)
    by_person, by_address = await repository.verifications_since(
        session, user_id=user_id, email=email, since=since
    )
    return by_person < SENDS_PER_HOUR and by_address < SENDS_PER_HOUR


async def send_code(
    session: AsyncSession, services: Services, *, user_id: int, email: str, language: str, name: str
) -> None:
    """Create a code and queue its email in the caller's transaction (the outbox rule)."""
    now = services.clock.now()
    code = f"{secrets.randbelow(1_000_000):06d}"
    token = secrets.token_urlsafe(24)
    verification = EmailVerification(
        telegram_user_id=user_id,
        email=email,
        code_hash=_code_hash(services, user_id, code),
        link_hash=_link_hash(services, token),
        created_at=now,
        expires_at=now + CODE_VALIDITY,
    )
    session.add(verification)
    await session.flush()
    key = f"verify:{verification.id}"
    subject, message = emails.render(
        "verify",
        language=language,
        recipient=email,
        mail_from=services.settings.mail_from,
        idempotency_key=key,
        now=now,
        name=name,
        code=code,
        link=services.deep_link(LINK_PREFIX + token),
        minutes=int(CODE_VALIDITY.total_seconds() // 60),
    )
    await outbox.queue_email(
        session,
        OutboxEmail(
            idempotency_key=key,
            kind="verify",
            telegram_user_id=user_id,
            recipient=email,
            subject=subject,
            message=message.as_string(),
            next_attempt_at=now,
            created_at=now,
        ),
    )


async def check_code(
    session: AsyncSession, services: Services, *, user_id: int, email: str, code: str
) -> CheckResult:
    latest = await repository.latest_verification(session, user_id)
    now = services.clock.now()
    if latest is None or latest.email != email:
        return CheckResult(CodeCheck.NONE_SENT)
    if latest.attempts >= MAX_TRIES:
        return CheckResult(CodeCheck.TOO_MANY)
    if latest.expires_at <= now:
        return CheckResult(CodeCheck.EXPIRED)
    # A try is spent before the code is compared, in one conditional statement: tries made at
    # once (two sessions, two processes) can never compare more than MAX_TRIES codes.
    spent = await repository.take_try(session, latest.id or 0, MAX_TRIES)
    if spent is None:
        return CheckResult(CodeCheck.TOO_MANY)
    if secrets.compare_digest(latest.code_hash, _code_hash(services, user_id, code)):
        latest.verified_at = now
        session.add(latest)
        return CheckResult(CodeCheck.OK)
    left = MAX_TRIES - spent
    return CheckResult(CodeCheck.WRONG if left > 0 else CodeCheck.TOO_MANY, left)


async def check_link(
    session: AsyncSession, services: Services, *, user_id: int, token: str
) -> EmailVerification | None:
    """The verification a one-tap link confirms, if it is this person's and still valid."""
    if not is_token(token):
        return None
    verification = await repository.verification_by_link(session, _link_hash(services, token))
    now = services.clock.now()
    if (
        verification is None
        or verification.telegram_user_id != user_id
        or verification.expires_at <= now
    ):
        return None
    verification.verified_at = verification.verified_at or now
    session.add(verification)
    return verification
