"""Registration: from /start to a confirmed supervisor profile, and later edits of that profile.

The story: /start greets in the person's language with the commitment in three lines and the
privacy notice; nothing is stored until they tap "I agree". Then one question at a time
(`bot.conversations.steps` holds the questions as data), each answer written to the
`conversation` row in the same transaction that accepts it, so a crash resumes at the next step.
The email step sends a code and a one-tap link through the outbox; a summary with an edit button
per field ends in "confirm", which turns the draft into a `Supervisor` row.

We keep the step in our own table rather than in PTB's ConversationHandler persistence: PTB
flushes persistence on an interval, so a SIGKILL could lose the last answers, and a draft in the
database can be expired, exported (/mydata) and erased (/delete) like any other data.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum, auto
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from telegram import CallbackQuery, Update
from telegram.ext import ContextTypes

from bot import ui, verification
from bot.conversations.steps import (
    CONSENT_VERSION,
    QUESTIONS,
    SCOPE,
    SUB_STEPS,
    Flow,
    Step,
    advance,
    answer_label,
    previous,
    screen,
)
from bot.i18n import Translator, language_from_telegram
from bot.services import Services, services
from bot.signing import Callback, decode_callback
from bot.validation import Invalid, validate_code, validate_phone
from storage import repository
from storage.models import Conversation, Supervisor

CONSENT_SCOPE = "c"
RESUME_SCOPE = "s"


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


# ---- the consent screen ------------------------------------------------------------------------


def consent_screen(language: str, *, draft_exists: bool = False) -> ui.Screen:
    tr = Translator(language)
    other = "en" if language == "nb" else "nb"
    return ui.Screen(
        tr("welcome.intro") + "\n\n" + tr("privacy.notice", version=CONSENT_VERSION),
        [
            [ui.Button(tr("consent.yes"), Callback(CONSENT_SCOPE, "-", "yes", language))],
            [ui.Button(tr("consent.no"), Callback(CONSENT_SCOPE, "-", "no", language))],
            [ui.Button(tr("language.switch"), Callback(CONSENT_SCOPE, "-", "lang", other))],
        ],
    )


def resume_screen(conversation: Conversation) -> ui.Screen:
    tr = Translator(conversation.language)
    progress = QUESTIONS[Step(conversation.step)].progress or 8
    return ui.Screen(
        tr("resume.ask", step=progress, total=8),
        [
            [ui.Button(tr("resume.continue"), Callback(RESUME_SCOPE, "-", "continue"))],
            [ui.Button(tr("resume.over"), Callback(RESUME_SCOPE, "-", "over"))],
        ],
    )


def new_draft(user_id: int, chat_id: int, language: str, name: str, now: datetime) -> Conversation:
    return Conversation(
        telegram_user_id=user_id,
        chat_id=chat_id,
        flow=Flow.REGISTRATION,
        step=Step.TYPES,
        language=language,
        data={
            "consent_version": CONSENT_VERSION,
            "consent_at": now.isoformat(),
            "name_suggestion": name,
        },
        created_at=now,
        updated_at=now,
    )


def profile_draft(supervisor: Supervisor, step: Step, now: datetime) -> Conversation:
    """A profile edit: the profile's values as answers, `editing` so it returns after one field."""
    from bot.reference import TITLES, city

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


# ---- applying answers (inside the caller's transaction) ----------------------------------------


async def _send_code(session: AsyncSession, svc: Services, conv: Conversation) -> Outcome | None:
    """Queue a code, or explain why not (rate limit). None when a code was queued."""
    data = conv.data
    email = str(data["email"])
    if not await verification.may_send(session, svc, conv.telegram_user_id, email):
        return Outcome(Kind.STAY, notice=Translator(conv.language)("reg.verify.rate_limited"))
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
        refused = await _send_code(session, svc, conv)
        outcome.mail_queued = refused is None
        outcome.notice = refused.notice if refused else None
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
            data["name"] = data.get("name") or data["name_suggestion"]
            return await _accept(session, svc, conv, step)
        case "pick" if step == Step.TITLE and cb.value in (*_titles(), "other"):
            data["title"] = cb.value
            return await _accept(session, svc, conv, step)
        case "pick" if step == Step.CITY and (cb.value == "other" or _is_city(cb.value)):
            data["city"] = cb.value
            return await _accept(session, svc, conv, step)
        case "toggle" if step == Step.FIELDS and _is_field(cb.value):
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
            refused = await _send_code(session, svc, conv)
            if refused:
                return refused
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


def _titles() -> tuple[str, ...]:
    from bot.reference import TITLES

    return TITLES


def _is_city(code: str) -> bool:
    from bot.reference import city

    return city(code) is not None


def _is_field(code: str) -> bool:
    from bot.reference import field

    return field(code) is not None


# ---- finishing -----------------------------------------------------------------------------


def _profile_values(data: dict[str, Any]) -> dict[str, Any]:
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
        **_profile_values(conv.data),
    )
    session.add(supervisor)
    await repository.delete_conversation(session, conv.telegram_user_id)
    return Outcome(Kind.FINISHED, extra={"verified": supervisor.email_verified_at is not None})


async def save_profile(session: AsyncSession, svc: Services, conv: Conversation) -> None:
    supervisor = await repository.get_supervisor(session, conv.telegram_user_id)
    if supervisor is not None:
        for key, value in _profile_values(conv.data).items():
            setattr(supervisor, key, value)
        supervisor.updated_at = svc.clock.now()
        session.add(supervisor)
    await repository.delete_conversation(session, conv.telegram_user_id)


# ---- Telegram handlers -----------------------------------------------------------------------


async def show_step(
    update: Update, svc: Services, conv: Conversation, notice: str | None = None
) -> None:
    tr = Translator(conv.language)
    chat_id = update.effective_chat.id  # type: ignore[union-attr]
    await ui.send(
        update.get_bot(),
        chat_id,
        screen(Step(conv.step), conv.data, tr, notice=notice),
        secret=svc.secret,
        user_id=conv.telegram_user_id,
    )


async def respond(
    update: Update,
    context: ContextTypes.DEFAULT_TYPE,
    conv: Conversation,
    outcome: Outcome,
    query: CallbackQuery | None = None,
) -> None:
    """Show the result of an answer. Runs after the transaction has committed."""
    from bot.conversations import profile

    svc = services(context)
    tr = Translator(conv.language)
    bot = update.get_bot()
    chat_id = update.effective_chat.id  # type: ignore[union-attr]
    user_id = conv.telegram_user_id
    if outcome.mail_queued:
        svc.sender.wake()
    match outcome.kind:
        case Kind.IGNORED:
            return
        case Kind.STAY:
            await show_step(update, svc, conv, notice=outcome.notice)
        case Kind.EDIT:
            if query is not None:
                await ui.replace(
                    query,
                    screen(Step(conv.step), conv.data, tr),
                    secret=svc.secret,
                    user_id=user_id,
                )
        case Kind.MOVED:
            if query is not None:
                old = Step(query.data.split(":")[1]) if query.data else None
                label = (
                    answer_label(outcome.closed_step, conv.data, tr) if outcome.closed_step else ""
                )
                closed = screen(old, conv.data, tr).text if old else ""
                await ui.close(query, closed + (f"\n✔️ <b>{_esc(label)}</b>" if label else ""))
            if outcome.closed_step == Step.PHONE:
                await ui.send(
                    bot,
                    chat_id,
                    ui.Screen(tr("reg.phone.saved"), remove_keyboard=True),
                    secret=svc.secret,
                    user_id=user_id,
                )
            await show_step(update, svc, conv, notice=outcome.notice)
        case Kind.CONSENT:
            if query is not None:
                await ui.replace(
                    query, consent_screen(conv.language), secret=svc.secret, user_id=user_id
                )
            else:
                await ui.send(
                    bot, chat_id, consent_screen(conv.language), secret=svc.secret, user_id=user_id
                )
        case Kind.FINISHED:
            if query is not None:
                await ui.close(query, tr("reg.summary.done_title"))
            key = "reg.thanks" if outcome.extra.get("verified") else "reg.thanks_unverified"
            await ui.send(
                bot,
                chat_id,
                ui.Screen(tr(key), remove_keyboard=True),
                secret=svc.secret,
                user_id=user_id,
            )
        case Kind.SAVED | Kind.DISCARDED:
            if query is not None:
                await ui.close(
                    query,
                    tr("profile.saved" if outcome.kind == Kind.SAVED else "profile.unchanged"),
                )
            await profile.show_menu(update, context, user_id)


async def _store(
    session: AsyncSession, svc: Services, conv: Conversation, outcome: Outcome
) -> None:
    """Write the answer and the new step, in the transaction that accepted them."""
    if outcome.kind in (Kind.FINISHED, Kind.SAVED):
        return  # the draft became (part of) the profile and is gone
    if outcome.kind == Kind.DISCARDED:
        await repository.delete_conversation(session, conv.telegram_user_id)
        return
    await repository.save_conversation(session, conv, svc.clock.now())


def _esc(text: str) -> str:
    from markupsafe import escape

    return str(escape(text))


async def on_text(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    from bot.conversations import profile

    svc = services(context)
    user = update.effective_user
    message = update.effective_message
    if user is None or message is None or message.text is None:
        return
    async with svc.db.session() as session:
        conv = await repository.get_conversation(session, user.id)
        if conv is None or not conv.active or update.update_id <= conv.last_update_id:
            conv = None if conv is None or not conv.active else conv
            stale = conv is not None
        else:
            stale = False
            outcome = await apply_text(session, svc, conv, message.text)
            conv.last_update_id = update.update_id
            await _store(session, svc, conv, outcome)
    if stale:
        return
    if conv is None:
        await profile.idle(update, context)
        return
    await respond(update, context, conv, outcome)


async def on_contact(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    from bot.conversations import profile

    svc = services(context)
    user = update.effective_user
    message = update.effective_message
    if user is None or message is None or message.contact is None:
        return
    async with svc.db.session() as session:
        conv = await repository.get_conversation(session, user.id)
        if conv is None or not conv.active:
            conv = None
        elif update.update_id <= conv.last_update_id:
            return
        else:
            outcome = await apply_contact(
                session, svc, conv, message.contact.phone_number, message.contact.user_id
            )
            conv.last_update_id = update.update_id
            await _store(session, svc, conv, outcome)
    if conv is None:
        await profile.idle(update, context)
        return
    await respond(update, context, conv, outcome)


async def on_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    svc = services(context)
    query = update.callback_query
    user = update.effective_user
    if query is None or user is None:
        return
    cb = decode_callback(query.data or "", secret=svc.secret, user_id=user.id)
    async with svc.db.session() as session:
        conv = await repository.get_conversation(session, user.id)
        fresh = (
            cb is not None
            and cb.scope == SCOPE
            and conv is not None
            and conv.step == cb.step
            and update.update_id > conv.last_update_id
        )
        if fresh and conv is not None and cb is not None:
            conv.active = True
            outcome = await apply_button(session, svc, conv, cb)
            conv.last_update_id = update.update_id
            await _store(session, svc, conv, outcome)
    if not fresh or conv is None:
        language = conv.language if conv else language_from_telegram(user.language_code)
        await query.answer(Translator(language)("btn.stale"))
        return
    await query.answer(outcome.toast)
    await respond(update, context, conv, outcome, query)


async def on_consent(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """The consent screen's buttons. Stateless until "I agree": the language rides in the button."""
    from bot.conversations import profile

    svc = services(context)
    query = update.callback_query
    user = update.effective_user
    chat = update.effective_chat
    if query is None or user is None or chat is None:
        return
    cb = decode_callback(query.data or "", secret=svc.secret, user_id=user.id)
    language = (
        cb.value if cb and cb.value in ("nb", "en") else language_from_telegram(user.language_code)
    )
    tr = Translator(language)
    if cb is None or cb.scope != CONSENT_SCOPE:
        await query.answer(tr("btn.stale"))
        return
    if cb.action == "lang":
        await query.answer()
        await ui.replace(query, consent_screen(language), secret=svc.secret, user_id=user.id)
        return
    now = svc.clock.now()
    async with svc.db.session() as session:
        registered = await repository.get_supervisor(session, user.id) is not None
        conv = await repository.get_conversation(session, user.id)
        if cb.action == "no":
            if conv is not None and conv.flow == Flow.REGISTRATION:
                await repository.delete_conversation(session, user.id)
            conv = None
        elif not registered and (conv is None or conv.flow != Flow.REGISTRATION):
            conv = new_draft(user.id, chat.id, language, user.full_name, now)
            conv.last_update_id = update.update_id
            await repository.save_conversation(session, conv, now)
        elif conv is not None:
            conv.active = True
            conv.language = language
            conv.step = Step.TYPES if conv.step == Step.TYPES else conv.step
            await repository.save_conversation(session, conv, now)
    await query.answer()
    if registered:
        await profile.show_menu(update, context, user.id)
        return
    if cb.action == "no":
        await ui.close(query, tr("consent.declined"))
        return
    assert conv is not None
    await ui.close(query, tr("welcome.intro") + "\n\n" + tr("consent.given"))
    await show_step(update, svc, conv)


async def on_resume(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    svc = services(context)
    query = update.callback_query
    user = update.effective_user
    if query is None or user is None:
        return
    cb = decode_callback(query.data or "", secret=svc.secret, user_id=user.id)
    async with svc.db.session() as session:
        conv = await repository.get_conversation(session, user.id)
        if cb is not None and conv is not None and conv.flow == Flow.REGISTRATION:
            if cb.action == "over":
                await repository.delete_conversation(session, user.id)
            else:
                conv.active = True
                await repository.save_conversation(session, conv, svc.clock.now())
    language = conv.language if conv else language_from_telegram(user.language_code)
    if cb is None or conv is None or conv.flow != Flow.REGISTRATION:
        await query.answer(Translator(language)("btn.stale"))
        return
    await query.answer()
    tr = Translator(language)
    if cb.action == "over":
        await ui.close(query, tr("resume.cleared"))
        await ui.send(
            update.get_bot(),
            conv.chat_id,
            consent_screen(language),
            secret=svc.secret,
            user_id=user.id,
        )
        return
    await ui.close(query, tr("resume.continuing"))
    await show_step(update, svc, conv)


async def start_registration(
    update: Update, context: ContextTypes.DEFAULT_TYPE, conv: Conversation | None
) -> None:
    """/start for someone not registered: the resume question or the consent screen."""
    svc = services(context)
    user = update.effective_user
    chat = update.effective_chat
    if user is None or chat is None:
        return
    if conv is not None and conv.flow == Flow.REGISTRATION:
        await ui.send(
            update.get_bot(), chat.id, resume_screen(conv), secret=svc.secret, user_id=user.id
        )
        return
    language = language_from_telegram(user.language_code)
    await ui.send(
        update.get_bot(), chat.id, consent_screen(language), secret=svc.secret, user_id=user.id
    )


async def verify_link(update: Update, context: ContextTypes.DEFAULT_TYPE, token: str) -> None:
    """`/start v_<token>` from the email: verify the address if the link is this person's."""
    from bot.conversations import profile

    svc = services(context)
    user = update.effective_user
    chat = update.effective_chat
    if user is None or chat is None:
        return
    now = svc.clock.now()
    async with svc.db.session() as session:
        checked = await verification.check_link(session, svc, user_id=user.id, token=token)
        conv = await repository.get_conversation(session, user.id)
        supervisor = await repository.get_supervisor(session, user.id)
        moved = False
        if checked is not None and conv is not None and conv.data.get("email") == checked.email:
            conv.data["email_verified_at"] = now.isoformat()
            conv.active = True
            if conv.step == Step.VERIFY:
                conv.step = advance(Step.VERIFY, conv.data)
                moved = True
            if conv.step == Step.SUMMARY and conv.flow == Flow.PROFILE:
                await save_profile(session, svc, conv)
                conv = None
            else:
                await repository.save_conversation(session, conv, now)
        if checked is not None and supervisor is not None and supervisor.email == checked.email:
            supervisor.email_verified_at = supervisor.email_verified_at or now
            session.add(supervisor)
    language = (
        conv.language
        if conv
        else supervisor.language
        if supervisor
        else language_from_telegram(user.language_code)
    )
    tr = Translator(language)
    if checked is None:
        await ui.send(
            update.get_bot(),
            chat.id,
            ui.Screen(tr("verify.link_invalid")),
            secret=svc.secret,
            user_id=user.id,
        )
        return
    await ui.send(
        update.get_bot(),
        chat.id,
        ui.Screen(tr("verify.link_ok")),
        secret=svc.secret,
        user_id=user.id,
    )
    if conv is not None and (moved or conv.active):
        await show_step(update, svc, conv)
    elif supervisor is not None:
        await profile.show_menu(update, context, user.id)
