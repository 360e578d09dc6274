"""Registration: from /start to a confirmed supervisor profile, and later edits of that profile.

The story: /start greets in the person's language with the commitment in three lines and the
privacy notice; nothing is stored until they tap "I agree". Then one question at a time
(`steps` holds the questions as data, `answering` applies each answer), every answer written to
the `conversation` row in the same transaction that accepts it, so a crash resumes at the next
step. The email step sends a code and a one-tap link through the outbox; a summary with an edit
button per field ends in "confirm", which turns the draft into a `Supervisor` row.

We keep the step in our own table rather than in PTB's ConversationHandler persistence: PTB
flushes persistence on an interval, so a SIGKILL could lose the last answers, and a draft in the
database can be expired, exported (/mydata) and erased (/delete) like any other data.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from markupsafe import escape
from sqlalchemy.ext.asyncio import AsyncSession
from telegram import Update
from telegram.ext import ContextTypes

from bot.chat import ui
from bot.chat.flows import profile
from bot.chat.flows.registration import answering
from bot.chat.flows.registration.answering import Kind, Outcome
from bot.chat.flows.registration.answers import new_draft
from bot.chat.flows.registration.steps import (
    CONSENT_VERSION,
    MAIN_STEPS,
    QUESTIONS,
    SCOPE,
    Flow,
    Step,
    advance,
    answer_label,
    screen,
)
from bot.chat.flows.task import handlers as tasks
from bot.chat.turn import Turn
from bot.core.context import Services
from bot.core.i18n import Translator, language_from_telegram
from bot.domain.signing import Callback
from bot.services import verification
from storage import repository
from storage.models import Conversation

CONSENT_SCOPE = "c"
RESUME_SCOPE = "s"

Apply = Callable[[AsyncSession, Services, Conversation], Awaitable[Outcome]]


# ---- screens of this module --------------------------------------------------------------------


def consent_screen(language: str) -> ui.Screen:
    tr = Translator(language)
    other = "en" if language == "nb" else "nb"
    return ui.Screen(
        tr("welcome.intro")
        + "\n\n"
        + tr("privacy.notice", version=CONSENT_VERSION)
        + "\n"
        + tr("privacy.opt_out"),
        [
            [ui.Button(tr("consent.yes"), Callback(CONSENT_SCOPE, "-", "yes", language))],
            [ui.Button(tr("consent.no"), Callback(CONSENT_SCOPE, "-", "no", language))],
            [ui.Button(tr("language.switch"), Callback(CONSENT_SCOPE, "-", "lang", other))],
        ],
    )


def resume_screen(conversation: Conversation) -> ui.Screen:
    tr = Translator(conversation.language)
    progress = QUESTIONS[Step(conversation.step)].progress or MAIN_STEPS
    return ui.Screen(
        tr("resume.ask", step=progress, total=MAIN_STEPS),
        [
            [ui.Button(tr("resume.continue"), Callback(RESUME_SCOPE, "-", "continue"))],
            [ui.Button(tr("resume.over"), Callback(RESUME_SCOPE, "-", "over"))],
        ],
    )


def step_screen(conv: Conversation, notice: str | None = None) -> ui.Screen:
    return screen(Step(conv.step), conv.data, Translator(conv.language), notice=notice)


# ---- answering ---------------------------------------------------------------------------------


async def _answer(update: Update, context: ContextTypes.DEFAULT_TYPE, apply: Apply) -> None:
    """Apply a message to the person's running draft, then show the outcome."""
    turn = Turn.of(update, context)
    if turn is None:
        return
    async with turn.svc.db.session() as session:
        conv = await repository.get_conversation(session, turn.user.id)
        if conv is None or not conv.active:
            conv = None
        elif update.update_id <= conv.last_update_id:
            return  # delivered again after a restart: already answered
        else:
            outcome = await apply(session, turn.svc, conv)
            conv.last_update_id = update.update_id
            await _store(session, turn.svc, conv, outcome)
    if conv is None:
        await profile.idle(turn)
        return
    await respond(turn, conv, outcome)


async def on_text(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    text = update.effective_message.text if update.effective_message else None
    if text is not None:
        await _answer(update, context, lambda s, svc, c: answering.apply_text(s, svc, c, text))


async def on_contact(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    contact = update.effective_message.contact if update.effective_message else None
    if contact is not None:
        await _answer(
            update,
            context,
            lambda s, svc, c: answering.apply_contact(
                s, svc, c, contact.phone_number, contact.user_id
            ),
        )


async def on_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    turn = Turn.of(update, context)
    if turn is None or turn.query is None:
        return
    cb = turn.callback
    async with turn.svc.db.session() as session:
        conv = await repository.get_conversation(session, turn.user.id)
        fresh = (
            cb is not None
            and conv is not None
            and cb.scope == SCOPE
            and conv.flow in (Flow.REGISTRATION, Flow.PROFILE)  # step names repeat across flows
            and conv.step == cb.step
            and update.update_id > conv.last_update_id
        )
        if fresh and conv is not None and cb is not None:
            conv.active = True
            outcome = await answering.apply_button(session, turn.svc, conv, cb)
            conv.last_update_id = update.update_id
            await _store(session, turn.svc, conv, outcome)
    if not fresh or conv is None:
        language = conv.language if conv else await turn.language()
        await turn.query.answer(Translator(language)("btn.stale"))
        return
    await turn.query.answer(outcome.toast)
    await respond(turn, conv, outcome)


async def _store(
    session: AsyncSession, svc: Services, conv: Conversation, outcome: Outcome
) -> None:
    """Write the answer and the new step, in the transaction that accepted them."""
    if outcome.kind in (Kind.FINISHED, Kind.SAVED, Kind.CONSENT):
        return  # the draft became (part of) the profile and is gone, or nothing changed
    if outcome.kind == Kind.DISCARDED:
        await repository.delete_conversation(session, conv.telegram_user_id)
        return
    await repository.save_conversation(session, conv, svc.clock.now())


async def respond(turn: Turn, conv: Conversation, outcome: Outcome) -> None:
    """Show the result of an answer. Runs after the transaction has committed."""
    tr = Translator(conv.language)
    if outcome.mail_queued:
        turn.svc.sender.wake()
    match outcome.kind:
        case Kind.IGNORED:
            return
        case Kind.STAY:
            await turn.show(step_screen(conv, outcome.notice))
        case Kind.EDIT:
            await turn.replace(step_screen(conv))
        case Kind.MOVED:
            await _close_question(turn, conv, outcome)
            if outcome.closed_step == Step.PHONE:
                await turn.say(tr("reg.phone.saved"), remove_keyboard=True)
            await turn.show(step_screen(conv, outcome.notice))
        case Kind.CONSENT:
            if turn.query is not None:
                await turn.replace(consent_screen(conv.language))
            else:
                await turn.show(consent_screen(conv.language))
        case Kind.FINISHED:
            await turn.close(tr("reg.summary.done_title"))
            verified = outcome.extra.get("verified")
            await turn.say(
                tr("reg.thanks" if verified else "reg.thanks_unverified"), remove_keyboard=True
            )
            await turn.show(tasks.offer_screen(tr))
        case Kind.SAVED | Kind.DISCARDED:
            await turn.close(
                tr("profile.saved" if outcome.kind == Kind.SAVED else "profile.unchanged")
            )
            await profile.show_menu(turn)


async def _close_question(turn: Turn, conv: Conversation, outcome: Outcome) -> None:
    """Keep the answered question in the chat, with the answer under it and no buttons."""
    if turn.query is None or not turn.query.data:
        return
    tr = Translator(conv.language)
    asked = Step(turn.query.data.split(":")[1])
    text = screen(asked, conv.data, tr).text
    if outcome.closed_step is not None and (
        label := answer_label(outcome.closed_step, conv.data, tr)
    ):
        text += f"\n✔️ <b>{escape(label)}</b>"
    await turn.close(text)


# ---- consent, resume, start ----------------------------------------------------------------------


def _repeated(conv: Conversation | None, update: Update) -> bool:
    """The update was handled already (Telegram delivers it again when the process stopped
    before confirming it): the draft's stored update id is at least this one."""
    return conv is not None and update.update_id <= conv.last_update_id


async def _registration_draft(turn: Turn) -> Conversation | None:
    async with turn.svc.db.session() as session:
        existing = await repository.get_conversation(session, turn.user.id)
    return existing if existing is not None and existing.flow == Flow.REGISTRATION else None


async def on_consent(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """The consent screen's buttons. Stateless until "I agree": the language rides in the button.

    A draft exists only once someone agreed, so with a draft this is an older consent message:
    "I agree" goes on with the draft, "No thanks" changes nothing (it says so, and how to erase).
    """
    turn = Turn.of(update, context)
    if turn is None or turn.query is None:
        return
    cb = turn.callback
    fallback = language_from_telegram(turn.user.language_code)
    language = cb.value if cb and cb.value in ("nb", "en") else fallback
    tr = Translator(language)
    if cb is None or cb.scope != CONSENT_SCOPE:
        await turn.query.answer(Translator(await turn.language())("btn.stale"))
        return
    if cb.action != "lang" and _repeated(await _registration_draft(turn), update):
        return  # answered before this was stored, the first time round
    await turn.query.answer()
    if cb.action == "lang":
        await turn.replace(consent_screen(language))
        return
    now = turn.svc.clock.now()
    conv: Conversation | None = None
    async with turn.svc.db.session() as session:
        registered = await repository.get_supervisor(session, turn.user.id) is not None
        existing = await repository.get_conversation(session, turn.user.id)
        draft = existing if existing is not None and existing.flow == Flow.REGISTRATION else None
        if cb.action == "no":
            conv = draft
            if draft is not None:
                await repository.mark_handled(session, turn.user.id, update.update_id)
        elif not registered:
            if existing is not None and draft is None:  # e.g. a coordinator's unfinished flow
                await repository.delete_conversation(session, turn.user.id)
                await session.flush()
            conv = draft or new_draft(
                turn.user.id, turn.chat_id, language, turn.user.full_name, now
            )
            conv.active, conv.language = True, language
            conv.last_update_id = update.update_id
            await repository.save_conversation(session, conv, now)
    if registered:
        await profile.show_menu(turn)
    elif cb.action == "no" and conv is not None:
        await turn.close(Translator(conv.language)("consent.kept"))
        if conv.active:
            await turn.show(step_screen(conv))
    elif conv is None:
        await turn.close(tr("consent.declined"))
    else:
        await turn.close(tr("welcome.intro") + "\n\n" + tr("consent.given"))
        await turn.show(step_screen(conv))


async def on_resume(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    turn = Turn.of(update, context)
    if turn is None or turn.query is None:
        return
    cb = turn.callback
    async with turn.svc.db.session() as session:
        conv = await repository.get_conversation(session, turn.user.id)
        if _repeated(conv, update):
            return  # delivered again after a restart: answered the first time
        valid = cb is not None and conv is not None and conv.flow == Flow.REGISTRATION
        if valid and conv is not None and cb is not None:
            if cb.action == "over":
                await repository.delete_conversation(session, turn.user.id)
            else:
                conv.active = True
                conv.last_update_id = update.update_id
                await repository.save_conversation(session, conv, turn.svc.clock.now())
    language = conv.language if conv else language_from_telegram(turn.user.language_code)
    tr = Translator(language)
    if not valid or conv is None or cb is None:
        await turn.query.answer(Translator(await turn.language())("btn.stale"))
        return
    await turn.query.answer()
    if cb.action == "over":
        await turn.close(tr("resume.cleared"))
        await turn.show(consent_screen(language))
    else:
        await turn.close(tr("resume.continuing"))
        await turn.show(step_screen(conv))


async def start(turn: Turn, conv: Conversation | None) -> None:
    """/start for someone not registered: the resume question or the consent screen."""
    if conv is not None and conv.flow == Flow.REGISTRATION:
        await turn.show(resume_screen(conv))
    else:
        await turn.show(consent_screen(language_from_telegram(turn.user.language_code)))


async def verify_link(turn: Turn, token: str) -> None:
    """`/start v_<token>` from the email: verify the address if the link is this person's."""
    now = turn.svc.clock.now()
    async with turn.svc.db.session() as session:
        checked = await verification.check_link(
            session, turn.svc, user_id=turn.user.id, token=token
        )
        conv = await repository.get_conversation(session, turn.user.id)
        supervisor = await repository.get_supervisor(session, turn.user.id)
        if checked is not None and conv is not None and conv.data.get("email") == checked.email:
            conv.data["email_verified_at"] = now.isoformat()
            conv.active = True
            if conv.step == Step.VERIFY:
                conv.step = advance(Step.VERIFY, conv.data)
            if conv.step == Step.SUMMARY and conv.flow == Flow.PROFILE:
                await answering.save_profile(session, turn.svc, conv)
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
        else language_from_telegram(turn.user.language_code)
    )
    tr = Translator(language)
    if checked is None:
        await turn.say(tr("verify.link_invalid"))
        return
    await turn.say(tr("verify.link_ok"))
    if conv is not None and conv.active:
        await turn.show(step_screen(conv))
    elif supervisor is not None:
        await profile.show_menu(turn)
