"""Registration: from /start to a confirmed supervisor profile, and later edits of that profile.

The story: /start greets in the person's language with the commitment in three lines and the
privacy notice; nothing is stored until they tap "I agree". Then one question at a time
(`steps` holds the questions as rows; the flow engine, `bot.chat.engine`, asks them and applies
each answer), every answer written to the `conversation` row in the same transaction that
accepts it, so a crash resumes at the next step. The email step sends a code and a one-tap link
through the outbox; a summary with an edit button per field ends in "confirm", which turns the
draft into a `Supervisor` row.

We keep the step in our own table rather than in PTB's ConversationHandler persistence: PTB
flushes persistence on an interval, so a SIGKILL could lose the last answers, and a draft in the
database can be expired, exported (/mydata) and erased (/delete) like any other data.
"""

from __future__ import annotations

import asyncio
from typing import Any, Final

from telegram import Update
from telegram.ext import ContextTypes

from bot.chat import ui
from bot.chat.engine.context import Ctx
from bot.chat.engine.flow import Flow as EngineFlow
from bot.chat.flows import profile
from bot.chat.flows.registration import answers
from bot.chat.flows.registration.answers import REFERRED_BY, new_draft
from bot.chat.flows.registration.steps import CONSENT_VERSION, FORM, PROFILE_FORM, Flow, Step
from bot.chat.flows.task import handlers as tasks
from bot.chat.turn import Turn
from bot.core.i18n import Translator, language_from_telegram
from bot.domain.signing import Callback, parse_id
from bot.services import referrals, verification
from storage import campaigns as invitations
from storage import repository
from storage.models import Conversation, Invitation

CONSENT_SCOPE = "c"
RESUME_SCOPE = "s"
INVITED = "i"  # a consent button's step: `i<invitation id>`


# ---- screens of this module --------------------------------------------------------------------


def consent_screen(
    language: str, invitation: Invitation | None = None, referrer: int | None = None
) -> ui.Screen:
    """The welcome and the privacy notice. From an invitation's join link, "I agree" carries the
    invitation (`i<id>`, in a button signed for this person only) so the draft starts with what
    it holds, and "This isn't me" (a forwarded invitation) goes on with nothing prefilled.
    `referrer`: the colleague whose link this came from, carried the same way until "I agree"
    (nothing is stored before), then in the draft (`bot.services.referrals`)."""
    tr = Translator(language)
    other = "en" if language == "nb" else "nb"
    if invitation is not None:
        via = f"{INVITED}{invitation.id}"
    else:
        via = str(referrer) if referrer else "-"
    text = tr("welcome.intro")
    if invitation is not None:
        text += "\n\n" + tr("consent.invited", name=invitation.name)
    buttons = [
        [ui.Button(tr("consent.yes"), Callback(CONSENT_SCOPE, via, "yes", language))],
        [ui.Button(tr("consent.no"), Callback(CONSENT_SCOPE, via, "no", language))],
    ]
    if invitation is not None:
        buttons.append(
            [ui.Button(tr("consent.not_me"), Callback(CONSENT_SCOPE, "-", "notme", language))]
        )
    buttons.append([ui.Button(tr("language.switch"), Callback(CONSENT_SCOPE, via, "lang", other))])
    return ui.Screen(
        text
        + "\n\n"
        + tr("privacy.notice", version=CONSENT_VERSION)
        + "\n"
        + tr("privacy.opt_out"),
        buttons,
    )


def _invited(values: Invitation | None) -> dict[str, Any] | None:
    """What a used invitation gives a new draft (each value is checked by `steps.prefill`)."""
    if values is None or values.used_at is None or values.answer != "yes":
        return None
    fields = [values.field] if values.field else []
    return {"name": values.name, "email": values.email, "city": values.city, "fields": fields}


def resume_screen(conversation: Conversation) -> ui.Screen:
    tr = Translator(conversation.language)
    step, total = FORM.progress(conversation.step, conversation.data)
    return ui.Screen(
        tr("resume.ask", step=step, total=total),
        [
            [ui.Button(tr("resume.continue"), Callback(RESUME_SCOPE, "-", "continue"))],
            [ui.Button(tr("resume.over"), Callback(RESUME_SCOPE, "-", "over"))],
        ],
    )


# ---- the flows: registration, and a profile edit walking the same questions -------------------


async def _registered(turn: Turn, conv: Conversation, verified: Any) -> None:
    tr = Translator(conv.language)
    thanks = tr("reg.thanks" if verified else "reg.thanks_unverified")
    await asyncio.gather(
        turn.close(tr("reg.summary.done_title")), turn.say(thanks, remove_keyboard=True)
    )
    async with turn.svc.db.session() as session:
        supervisor = await repository.get_supervisor(session, turn.user.id)
    share = None
    if supervisor is not None and supervisor.id is not None:
        share = referrals.share_button(turn.svc, supervisor.id, tr)
    await turn.show(tasks.offer_screen(tr, share))


async def _registered_again(turn: Turn) -> bool:
    """Confirm pressed when no draft is left: for a registered person, the thanks again (a crash
    may have cut them off after the registration was committed)."""
    async with turn.svc.db.session(write=False) as session:
        supervisor = await repository.get_supervisor(session, turn.user.id)
    if supervisor is None or supervisor.id is None:
        return False
    tr = Translator(supervisor.language)
    if turn.query is not None:
        await turn.query.answer()
    verified = supervisor.email_verified_at is not None
    await turn.say(tr("reg.thanks" if verified else "reg.thanks_unverified"), remove_keyboard=True)
    share = referrals.share_button(turn.svc, supervisor.id, tr)
    await turn.show(tasks.offer_screen(tr, share))
    return True


async def _back_to_consent(turn: Turn, conv: Conversation) -> None:
    """Back from the first question: the consent screen again (the draft stays)."""
    if turn.query is not None:
        await turn.replace(consent_screen(conv.language))
    else:
        await turn.show(consent_screen(conv.language))


async def _saved(turn: Turn, conv: Conversation, result: Any) -> None:
    await asyncio.gather(
        turn.close(Translator(conv.language)("profile.saved")), profile.show_menu(turn)
    )


async def _unchanged(turn: Turn, conv: Conversation) -> None:
    """Backing out of a profile edit changes nothing."""
    await turn.close(Translator(conv.language)("profile.unchanged"))
    await profile.show_menu(turn)


async def _save(ctx: Ctx) -> None:
    await answers.save_profile(ctx)


FLOW: Final = EngineFlow(
    name=Flow.REGISTRATION,
    form=FORM,
    finish=answers.finish,
    done=_registered,
    cancelled="cancel.kept",
    left=_back_to_consent,
    outcome=_registered_again,
)
PROFILE: Final = EngineFlow(
    name=Flow.PROFILE,
    form=PROFILE_FORM,
    finish=_save,
    done=_saved,
    cancelled="cancel.profile",
    keep_on_cancel=False,
    left=_unchanged,
    drop_on_leave=True,
)


# ---- consent, resume, start ----------------------------------------------------------------------


def _repeated(conv: Conversation | None, update: Update) -> bool:
    """The update was handled already (Telegram delivers it again when the process stopped
    before confirming it): the draft's stored update id is this one. Equal, never "at most":
    Telegram may restart update ids at a random value after a week without updates."""
    return conv is not None and update.update_id == conv.last_update_id


async def _show_again(turn: Turn, conv: Conversation) -> None:
    """A press whose change was committed before a crash, processed again (the inbox marks an
    update done only once its handler returned): the person sees where they are now, so the
    reply the crash cut off is never missing. The press is answered again only if the crash
    came before its answer (`bot.chat.inbox.AnswerGate`)."""
    if turn.query is not None:
        await turn.query.answer()
    await turn.show(FLOW.screen(conv))


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
    if cb.action not in ("lang", "notme"):
        draft = await _registration_draft(turn)
        if draft is not None and _repeated(draft, update):
            await _show_again(turn, draft)
            return
    invited = cb.step.startswith(INVITED)
    invitation_id = parse_id(cb.step.removeprefix(INVITED)) if invited else None
    referrer = None if invited else parse_id(cb.step)
    invitation: Invitation | None = None
    if invitation_id is not None:
        async with turn.svc.db.session() as session:
            invitation = await invitations.get_invitation(session, invitation_id)
    if cb.action in ("lang", "notme"):  # stores nothing; "notme": a forwarded invitation
        await turn.query.answer()
        await turn.replace(
            consent_screen(language, invitation, referrer)
            if cb.action == "lang"
            else consent_screen(language)
        )
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
                turn.user.id,
                turn.chat_id,
                language,
                turn.user.full_name,
                now,
                invited=_invited(invitation),
            )
            if referrer and not conv.data.get(REFERRED_BY):
                conv.data[REFERRED_BY] = referrer
            conv.active, conv.language = True, language
            conv.last_update_id = update.update_id
            await repository.save_conversation(session, conv, now)
    # Answered only once the draft is committed: a crash right after finds the consent stored
    # and shows the first question again (`_show_again`).
    await turn.query.answer()
    if registered:
        await profile.show_menu(turn)
    elif cb.action == "no" and conv is not None:
        await turn.close(Translator(conv.language)("consent.kept"))
        if conv.active:
            await turn.show(FLOW.screen(conv))
    elif conv is None:
        await turn.close(tr("consent.declined"))
    else:
        await _agreed(turn, tr("welcome.intro") + "\n\n" + tr("consent.given"), FLOW.screen(conv))


async def _agreed(turn: Turn, given: str, first: ui.Screen) -> None:
    """The consent message keeps the introduction and says consent was given; the first
    question follows in the same message, as every question answered with a button is followed
    by the next (`bot.chat.engine.flow`): one edit instead of an edit and a send."""
    together = ui.Screen(f"{given}\n\n{first.text}", first.buttons)
    if ui.in_place(together) and ui.in_place(first):
        await turn.replace(together)
    else:
        await asyncio.gather(turn.close(given), turn.show(first))


async def on_resume(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    turn = Turn.of(update, context)
    if turn is None or turn.query is None:
        return
    cb = turn.callback
    async with turn.svc.db.session() as session:
        conv = await repository.get_conversation(session, turn.user.id)
        if conv is not None and _repeated(conv, update):
            await _show_again(turn, conv)
            return
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
    if cb.action == "over":  # the colleague's link, if any, is still what brought them
        await turn.close(tr("resume.cleared"))
        await turn.show(
            consent_screen(language, referrer=parse_id(str(conv.data.get(REFERRED_BY, ""))))
        )
    else:
        await turn.close(tr("resume.continuing"))
        await turn.show(FLOW.screen(conv))


async def start(turn: Turn, conv: Conversation | None, referrer: int | None = None) -> None:
    """/start for someone not registered: the resume question or the consent screen."""
    if conv is not None and conv.flow == Flow.REGISTRATION:
        await turn.show(resume_screen(conv))
    else:
        language = language_from_telegram(turn.user.language_code)
        await turn.show(consent_screen(language, referrer=referrer))


async def open_referral(turn: Turn, payload: str) -> None:
    """`/start j_...`: a colleague's link. Registration as `/start` begins it, remembering the
    colleague; a registered supervisor sees their menu. A forged link says so, then the same."""
    claimed = referrals.parse(turn.svc.secret, payload)
    now = turn.svc.clock.now()
    async with turn.svc.db.session() as session:
        referrer = await referrals.referrer(session, claimed)
        supervisor = await repository.get_supervisor(session, turn.user.id)
        conv = await repository.get_conversation(session, turn.user.id)
        repeated = _repeated(conv, turn.update)  # processed again after a crash: shown again
        draft = conv if conv is not None and conv.flow == Flow.REGISTRATION else None
        if repeated:
            pass
        elif (
            supervisor is None
            and draft is not None
            and referrer
            and not draft.data.get(REFERRED_BY)
        ):
            draft.data[REFERRED_BY] = referrer  # consent was given: the draft may hold it
            draft.last_update_id = turn.update.update_id
            await repository.save_conversation(session, draft, now)
        elif conv is not None:
            await repository.mark_handled(session, turn.user.id, turn.update.update_id)
    if supervisor is not None:
        await profile.show_menu(turn)
        return
    tr = Translator(draft.language if draft else language_from_telegram(turn.user.language_code))
    if claimed is None:
        await turn.say(tr("referral.link_invalid"))
    elif referrer is not None:
        await turn.say(tr("referral.welcome"))
    await start(turn, conv, referrer)


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
                conv.step = FORM.advance(Step.VERIFY, conv.data)
            if conv.step == Step.SUMMARY and conv.flow == Flow.PROFILE:
                await answers.save_profile(Ctx(session, turn.svc, conv))
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
        await turn.show(FLOW.screen(conv))
    elif supervisor is not None:
        await profile.show_menu(turn)
