"""Offers in chat: the supervisor's one-tap answers to an offer.

The offer courier (`bot.services.offer_courier`) sends each new offer within seconds: dates,
place, the student's field if known, the reply-by date, and buttons accept / decline (then an
optional reason) / not this month (`bot.services.offer_screens`); this module answers them. The
signed deep link `o_<offer>_<signature>` (for emails) opens the same offer for its supervisor
and tells anyone else nothing. Accepting is atomic (`services.offers.accept`): when two
supervisors take the last place at the same moment, one gets it and the other is thanked and
told it was just taken. Coordinators of the slot's scope are told of every acceptance and every
place given back.
"""

from __future__ import annotations

from datetime import datetime
from typing import Final

from markupsafe import Markup
from sqlalchemy.ext.asyncio import AsyncSession
from telegram import Update
from telegram.ext import ContextTypes

from bot.chat import questions, ui
from bot.chat.turn import Turn
from bot.core.context import Services
from bot.core.i18n import Translator
from bot.domain.signing import Callback, parse_id
from bot.services import (
    answer_notices,
    links,
    notify,
    offer_mail,
    offers,
    placements,
    referrals,
)
from bot.services.offer_screens import (
    REASONS,
    SCOPE,
    accepted_screen,
    load,
    offer_screen,
    reason_screen,
)
from storage import notices, repository, slots
from storage import placements as store_placements
from storage import questions as store_questions
from storage.models import Offer, OfferStatus, Question, Slot, Supervisor, Task
from storage.placements import Placement

LINK_PREFIX: Final = links.OFFER_PREFIX


def _share(svc: Services, offer: Offer, tr: Translator) -> ui.Button:
    """Under an accepted offer: forward the referral link to a colleague."""
    return referrals.share_button(svc, offer.supervisor_id, tr)


# ---- answers -----------------------------------------------------------------------------------


async def show_from_link(turn: Turn, payload: str) -> None:
    """`/start o_<offer>_<signature>`: the offer again, for its own supervisor only."""
    now = turn.svc.clock.now()
    link = links.parse_offer(turn.svc.secret, payload, turn.user.id)
    loaded = None
    if link is not None:
        async with turn.svc.db.session() as session:
            loaded = await load(session, link.id)
    usable = link is not None and loaded is not None and link.usable(loaded[0].created_at, now)
    if loaded is None or not usable or loaded[3].telegram_user_id != turn.user.id:
        await turn.say(Translator(await turn.language())("offer.link_invalid"))
        return
    offer, slot, task, supervisor = loaded
    tr = Translator(supervisor.language)
    if offer.status == OfferStatus.SENT:
        await turn.show(offer_screen(offer, slot, task, tr))
    elif offer.status == OfferStatus.ACCEPTED:
        await turn.show(accepted_screen(offer, slot, task, tr, _share(turn.svc, offer, tr)))
    else:
        await turn.say(tr("offer.closed"))


async def on_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    turn = Turn.of(update, context)
    if turn is None or turn.query is None:
        return
    cb = turn.callback
    now = turn.svc.clock.now()
    outcome: str | None = None
    loaded = None
    released: list[Placement] = []
    async with turn.svc.db.session() as session:
        supervisor = await repository.get_supervisor(session, turn.user.id)
        offer_id = parse_id(cb.step) if cb is not None and cb.scope == SCOPE else None
        if supervisor is not None and cb is not None and offer_id is not None:
            held = (
                await store_placements.held(session, offer_id=offer_id)
                if cb.action == "giveback_yes"
                else []
            )
            outcome = await _apply(
                session, turn.svc, supervisor, offer_id, cb.action, cb.value, now
            )
            if outcome == "given_back":
                released = await placements.given_back(session, held)
                await placements.queue_cancellations(session, turn.svc, released, now)
            loaded = await load(session, offer_id)
    language = supervisor.language if supervisor else await turn.language()
    tr = Translator(language)
    if outcome is None or loaded is None:
        await turn.query.answer(tr("btn.stale"))
        return
    if outcome == "answered":
        await questions.already_answered(turn, tr)
        return
    await turn.query.answer()
    offer, slot, task, person = loaded
    await _show_outcome(turn, outcome, Placement(offer, slot, task, person), tr, released)


async def _apply(
    session: AsyncSession,
    svc: Services,
    supervisor: Supervisor,
    offer_id: int,
    action: str,
    value: str,
    now: datetime,
) -> str | None:
    sid = supervisor.id or 0
    try:
        match action:
            case "accept":
                result = await offers.accept(session, offer_id, sid, now)
                if result == offers.AcceptResult.CLOSED and await _just_taken(session, offer_id):
                    return offers.AcceptResult.TAKEN.value
                again = await slots.get_offer(session, offer_id)
                if (
                    result == offers.AcceptResult.CLOSED
                    and again is not None
                    and again.supervisor_id == sid
                    and again.status == OfferStatus.ACCEPTED
                ):
                    return "accepted_again"  # a double tap: it is already theirs
                if result == offers.AcceptResult.ACCEPTED and (
                    loaded := await load(session, offer_id)
                ):
                    offer, slot, task, _ = loaded
                    if await offer_mail.queue_accepted(
                        session, svc, offer, slot, task, supervisor, now
                    ):
                        svc.sender.wake()  # after commit is fine: the sender reads committed rows
                return result.value
            case "decline" | "month":
                await offers.decline(
                    session, svc.settings, offer_id, sid, now, not_this_month=action == "month"
                )
                await _record_no(session, offer_id, action == "month", now)
                return "declined"
            case "reason" if value in (*REASONS, ""):
                declined = await slots.get_offer(session, offer_id)
                if (
                    declined is None
                    or declined.supervisor_id != sid
                    or declined.status != OfferStatus.DECLINED
                ):
                    return None
                declined.reason = value or None
                session.add(declined)
                return "reason"
            case "giveback" | "accepted":
                if action == "accepted" and value:  # "back" from the give-back question
                    await _answer(session, value, supervisor, now)
                placed = await slots.get_offer(session, offer_id)
                if (
                    placed is None
                    or placed.supervisor_id != sid
                    or placed.status != OfferStatus.ACCEPTED
                ):
                    return "closed"
                return "confirm_giveback" if action == "giveback" else "accepted_again"
            case "giveback_yes":
                placed = await slots.get_offer(session, offer_id)
                if placed is None or not await _answered_yes(
                    session, value, supervisor, placed, now
                ):
                    return "answered"
                await offers.withdraw(session, svc.settings, offer_id, sid, now)
                return "given_back"
    except offers.OfferClosed:
        return "closed"
    return None


async def _record_no(
    session: AsyncSession, offer_id: int, not_this_month: bool, now: datetime
) -> None:
    """The coordinators hear of it, bundled (`bot.services.answer_notices`)."""
    offer = await slots.get_offer(session, offer_id)
    slot = await session.get(Slot, offer.slot_id) if offer else None
    if slot is not None:
        kind = answer_notices.NOT_THIS_MONTH if not_this_month else answer_notices.DECLINED
        await notices.record(session, offer_id, slot, kind, now)


async def _answer(
    session: AsyncSession, tag: str, supervisor: Supervisor, now: datetime
) -> Question | None:
    question_id = questions.question_id(tag)
    if question_id is None:
        return None
    return await store_questions.answer(session, question_id, supervisor.telegram_user_id, now)


async def _answered_yes(
    session: AsyncSession, tag: str, supervisor: Supervisor, offer: Offer, now: datetime
) -> bool:
    """The give-back question, answered now for the first time, about the offer as it was."""
    question = await _answer(session, tag, supervisor, now)
    return (
        question is not None
        and question.subject == f"offer:{offer.id}"
        and question.version == questions.fingerprint(offer)
    )


async def _just_taken(session: AsyncSession, offer_id: int) -> bool:
    """An offer cancelled because its slot filled up: the person was a moment too late."""
    offer = await slots.get_offer(session, offer_id)
    slot = await session.get(Slot, offer.slot_id) if offer else None
    return (
        offer is not None
        and slot is not None
        and offer.status == OfferStatus.CANCELLED
        and slot.status == "open"
        and slot.filled >= slot.places
    )


async def _show_outcome(
    turn: Turn,
    outcome: str,
    placement: Placement,
    tr: Translator,
    released: list[Placement],
) -> None:
    offer, slot, task = placement.offer, placement.slot, placement.task
    match outcome:
        case "accepted":
            await turn.replace(accepted_screen(offer, slot, task, tr, _share(turn.svc, offer, tr)))
            await _tell_coordinators(turn, slot, task, placement.supervisor.name)
        case "accepted_again":
            await turn.replace(accepted_screen(offer, slot, task, tr, _share(turn.svc, offer, tr)))
        case "taken":
            await turn.close(tr("offer.taken"))
        case "declined":
            await turn.replace(reason_screen(offer, tr))
            turn.svc.wake_offers()
        case "reason":
            await turn.close(tr("offer.thanks_for_reason"))
            # Told after the reason, so it can be in the notice (without one: the next sweep).
            await answer_notices.deliver_due(turn.svc)
        case "confirm_giveback":
            value = str(offer.id)
            async with turn.svc.db.session() as session:
                question_id = str(
                    await store_questions.ask(
                        session,
                        turn.user.id,
                        f"offer:{offer.id}",
                        questions.fingerprint(offer),
                        turn.svc.clock.now(),
                    )
                )
            await turn.replace(
                ui.Screen(
                    tr(
                        "offer.give_back_confirm",
                        places=Markup(placements.place_lines([placement], tr)),
                    ),
                    [
                        [
                            ui.Button(
                                tr("offer.give_back_yes"),
                                Callback(SCOPE, value, "giveback_yes", question_id),
                            )
                        ],
                        [
                            ui.Button(
                                tr("btn.back"), Callback(SCOPE, value, "accepted", question_id)
                            )
                        ],
                    ],
                )
            )
        case "given_back":
            await turn.close(tr("offer.given_back"))
            turn.svc.wake_offers()
            await placements.announce(turn.svc, released)
        case _:
            await turn.close(tr("offer.closed"))


async def _tell_coordinators(turn: Turn, slot: Slot, task: Task, name: str) -> None:
    """Who took a place, for which task: coordinators see it without opening anything."""
    await notify.tell_coordinators(
        turn.svc,
        exchange_type=slot.exchange_type,
        city=slot.city,
        message_id="coord.offer_accepted",
        name=name,
        reference=slot.reference,
        title=task.title,
        filled=slot.filled,
        places=slot.places,
    )
