"""Applying a person's answer to their draft, inside the caller's transaction. No Telegram I/O.

Each function takes the draft (`Conversation`) and returns an `Outcome` saying what the handler
should show once the transaction has committed. The answer and the next step are written by the
same transaction that accepted them, which is what makes a crash at any moment harmless.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum, auto
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bot.chat.flows.registration.answers import missing_step, name_suggestion, profile_values
from bot.chat.flows.registration.steps import QUESTIONS, SUB_STEPS, Flow, Step, advance, previous
from bot.core.context import Services
from bot.core.i18n import Translator
from bot.domain import reference
from bot.domain.signing import Callback
from bot.domain.validation import Invalid, validate_code, validate_phone
from bot.services import verification
from storage import repository
from storage.models import Conversation, Supervisor


class Kind(Enum):
    STAY = auto()  # answer refused: re-ask the same step with a notice
    EDIT = auto()  # same step, shown again in place (a toggle)
    MOVED = auto()  # accepted: close the old prompt, ask the next step
    CONSENT = auto()  # back from the first question: show the consent screen again
    FINISHED = auto()  # registration confirmed
    SAVED = auto()  # profile edit saved
    DISCARDED = auto()  # profile edit abandoned
    IGNORED = auto()  # a re-delivered update or a stale button


@dataclass
class Outcome:
    kind: Kind
    notice: str | None = None
    toast: str | None = None
    closed_step: Step | None = None
    mail_queued: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


# ---- applying answers (inside the caller's transaction) ----------------------------------------


async def queue_code(session: AsyncSession, svc: Services, conv: Conversation) -> str | None:
    """Queue a code for the draft's address; the notice to show instead when over the limit."""
    data = conv.data
    email = str(data["email"])
    if not await verification.may_send(session, svc, conv.telegram_user_id, email):
        return Translator(conv.language)("reg.verify.rate_limited")
    await verification.send_code(
        session,
        svc,
        user_id=conv.telegram_user_id,
        email=email,
        language=conv.language,
        name=str(data.get("name") or data.get("name_suggestion") or ""),
    )
    return None


async def _accept(session: AsyncSession, svc: Services, conv: Conversation, step: Step) -> Outcome:
    """The current step's answer is in `conv.data`: move on, doing what the step entails."""
    conv.step = advance(step, conv.data)
    outcome = Outcome(Kind.MOVED, closed_step=step)
    if step == Step.EMAIL and conv.step == Step.VERIFY:
        outcome.notice = await queue_code(session, svc, conv)
        outcome.mail_queued = outcome.notice is None
    if conv.step == Step.SUMMARY and conv.flow == Flow.PROFILE:
        await save_profile(session, svc, conv)
        return Outcome(Kind.SAVED, mail_queued=outcome.mail_queued)
    return outcome


async def apply_text(
    session: AsyncSession, svc: Services, conv: Conversation, text: str
) -> Outcome:
    tr = Translator(conv.language)
    step = Step(conv.step)
    question = QUESTIONS[step]
    if step == Step.VERIFY:
        return await _apply_code(session, svc, conv, text)
    if step == Step.PHONE:
        if text.strip() == tr("reg.phone.skip"):
            conv.data["phone"] = None
            return await _accept(session, svc, conv, step)
        if text.strip() == tr("btn.back"):
            return _back(conv, step)
        return await _apply_phone(session, svc, conv, text)
    if question.parse is None:
        return Outcome(Kind.STAY, notice=tr(question.reprompt))
    result = question.parse(text)
    if isinstance(result, Invalid):
        return Outcome(Kind.STAY, notice=tr(result.message_id))
    if step == Step.EMAIL and result.value != conv.data.get("email"):
        conv.data["email_verified_at"] = None
    conv.data[question.key] = result.value
    if step in (Step.TITLE_OTHER, Step.CITY_OTHER):
        conv.data[question.key.removesuffix("_other")] = "other"
    return await _accept(session, svc, conv, step)


async def _apply_phone(
    session: AsyncSession, svc: Services, conv: Conversation, raw: str
) -> Outcome:
    result = validate_phone(raw)
    if isinstance(result, Invalid):
        return Outcome(Kind.STAY, notice=Translator(conv.language)(result.message_id))
    conv.data["phone"] = result.value
    return await _accept(session, svc, conv, Step.PHONE)


async def apply_contact(
    session: AsyncSession,
    svc: Services,
    conv: Conversation,
    phone: str,
    contact_user_id: int | None,
) -> Outcome:
    tr = Translator(conv.language)
    if conv.step != Step.PHONE:
        return Outcome(Kind.STAY, notice=tr(QUESTIONS[Step(conv.step)].reprompt))
    if contact_user_id != conv.telegram_user_id:
        return Outcome(Kind.STAY, notice=tr("reg.phone.not_yours"))
    return await _apply_phone(session, svc, conv, phone if phone.startswith("+") else "+" + phone)


async def _apply_code(
    session: AsyncSession, svc: Services, conv: Conversation, text: str
) -> Outcome:
    tr = Translator(conv.language)
    result = validate_code(text)
    if isinstance(result, Invalid):
        return Outcome(Kind.STAY, notice=tr(result.message_id))
    check = await verification.check_code(
        session,
        svc,
        user_id=conv.telegram_user_id,
        email=str(conv.data.get("email")),
        code=result.value,
    )
    match check.outcome:
        case verification.CodeCheck.OK:
            conv.data["email_verified_at"] = svc.clock.now().isoformat()
            return await _accept(session, svc, conv, Step.VERIFY)
        case verification.CodeCheck.WRONG:
            return Outcome(Kind.STAY, notice=tr("reg.verify.wrong", left=check.tries_left))
        case verification.CodeCheck.EXPIRED:
            return Outcome(Kind.STAY, notice=tr("reg.verify.expired"))
        case verification.CodeCheck.TOO_MANY:
            return Outcome(Kind.STAY, notice=tr("reg.verify.too_many"))
        case _:
            return Outcome(Kind.STAY, notice=tr("reg.verify.none_sent"))


def _back(conv: Conversation, step: Step) -> Outcome:
    if conv.flow == Flow.PROFILE and step not in SUB_STEPS:
        return Outcome(Kind.DISCARDED)  # backing out of a profile edit changes nothing
    target = previous(step)
    if target is None:
        return Outcome(Kind.CONSENT)
    conv.step = target
    return Outcome(Kind.MOVED)


async def apply_button(
    session: AsyncSession, svc: Services, conv: Conversation, cb: Callback
) -> Outcome:
    step = Step(conv.step)
    data = conv.data
    tr = Translator(conv.language)
    match cb.action:
        case "back":
            return _back(conv, step)
        case "keep" if QUESTIONS[step].parse is not None and data.get(QUESTIONS[step].key):
            if step == Step.EMAIL and data.get("email_verified_at"):
                conv.step = advance(Step.VERIFY, data)
                if conv.step == Step.SUMMARY and conv.flow == Flow.PROFILE:
                    await save_profile(session, svc, conv)
                    return Outcome(Kind.SAVED)
                return Outcome(Kind.MOVED, closed_step=step)
            return await _accept(session, svc, conv, step)
        case "pick" if step == Step.TYPES and cb.value in ("clinical", "research", "both"):
            data["exchange_types"] = ["clinical", "research"] if cb.value == "both" else [cb.value]
            return await _accept(session, svc, conv, step)
        case "yes" if step == Step.NAME and data.get("name_suggestion"):
            if data.get("name"):
                return await _accept(session, svc, conv, step)
            suggestion = name_suggestion(str(data["name_suggestion"]))
            if suggestion is None:  # a draft begun before suggestions were checked
                del data["name_suggestion"]
                return Outcome(Kind.STAY, notice=tr("reg.name.suggestion_refused"))
            data["name"] = suggestion
            return await _accept(session, svc, conv, step)
        case "pick" if step == Step.TITLE and cb.value in (*reference.TITLES, "other"):
            data["title"] = cb.value
            return await _accept(session, svc, conv, step)
        case "pick" if step == Step.CITY and (cb.value == "other" or reference.city(cb.value)):
            data["city"] = cb.value
            return await _accept(session, svc, conv, step)
        case "toggle" if step == Step.FIELDS and reference.field(cb.value):
            chosen = list(data.get("fields", []))
            data["fields"] = (
                [c for c in chosen if c != cb.value] if cb.value in chosen else [*chosen, cb.value]
            )
            return Outcome(Kind.EDIT)
        case "more" | "less" if step == Step.FIELDS:
            data["fields_all"] = cb.action == "more"
            return Outcome(Kind.EDIT)
        case "other" if step == Step.FIELDS:
            conv.step = Step.FIELDS_OTHER
            return Outcome(Kind.MOVED)
        case "done" if step == Step.FIELDS:
            if not data.get("fields") and not data.get("fields_other"):
                return Outcome(Kind.STAY, toast=tr("reg.fields.none"), notice=tr("reg.fields.none"))
            data.pop("fields_all", None)
            return await _accept(session, svc, conv, step)
        case "resend" if step == Step.VERIFY:
            if refused := await queue_code(session, svc, conv):
                return Outcome(Kind.STAY, notice=refused)
            return Outcome(Kind.STAY, notice=tr("reg.verify.resent"), mail_queued=True)
        case "change" if step == Step.VERIFY:
            conv.step = Step.EMAIL
            return Outcome(Kind.MOVED, closed_step=None)
        case "later" if step == Step.VERIFY:
            data["email_verified_at"] = None
            return await _accept(session, svc, conv, step)
        case "edit" if step == Step.SUMMARY and cb.value in {s.value for s in QUESTIONS}:
            data["editing"] = True
            conv.step = Step(cb.value)
            return Outcome(Kind.MOVED)
        case "confirm" if step == Step.SUMMARY:
            return await _finish(session, svc, conv)
    return Outcome(Kind.IGNORED, toast=tr("btn.stale"))


# ---- finishing -----------------------------------------------------------------------------


async def _finish(session: AsyncSession, svc: Services, conv: Conversation) -> Outcome:
    missing = missing_step(conv.data)
    if missing is not None:
        conv.data["editing"] = True
        conv.step = missing
        return Outcome(Kind.MOVED)
    now = svc.clock.now()
    supervisor = Supervisor(
        telegram_user_id=conv.telegram_user_id,
        chat_id=conv.chat_id,
        language=conv.language,
        consent_version=str(conv.data["consent_version"]),
        consent_at=datetime.fromisoformat(conv.data["consent_at"]),
        created_at=now,
        updated_at=now,
        **profile_values(conv.data),
    )
    session.add(supervisor)
    await repository.delete_conversation(session, conv.telegram_user_id)
    return Outcome(Kind.FINISHED, extra={"verified": supervisor.email_verified_at is not None})


async def save_profile(session: AsyncSession, svc: Services, conv: Conversation) -> None:
    supervisor = await repository.get_supervisor(session, conv.telegram_user_id)
    if supervisor is not None:
        for key, value in profile_values(conv.data).items():
            setattr(supervisor, key, value)
        supervisor.updated_at = svc.clock.now()
        session.add(supervisor)
    await repository.delete_conversation(session, conv.telegram_user_id)
