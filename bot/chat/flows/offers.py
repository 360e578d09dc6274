"""Offers in chat: a proposed place reaches the supervisor within seconds, with one-tap answers.

`deliver_pending` (run by the bot's sweeper every few seconds, so offers proposed from the CLI
or by a coordinator arrive too) sends each new offer: dates, place, the student's field if
known, the reply-by date, and buttons accept / decline (then an optional reason) / not this
month. The signed deep link `o_<offer>_<signature>` (for emails) opens the same offer for its
supervisor and tells anyone else nothing. Accepting is atomic (`services.offers.accept`): when two
supervisors take the last place at the same moment, one gets it and the other is thanked and
told it was just taken. Coordinators of the slot's scope are told of every acceptance and every
place given back.
"""

from __future__ import annotations

import logging
from datetime import date, datetime, timedelta
from typing import Final

from markupsafe import Markup
from sqlalchemy.ext.asyncio import AsyncSession
from telegram import Bot, Update
from telegram.error import Forbidden, TelegramError
from telegram.ext import ContextTypes

from bot.chat import questions, ui
from bot.chat.turn import Turn
from bot.core.context import Services
from bot.core.i18n import Translator
from bot.domain import reference
from bot.domain.signing import Callback, parse_id
from bot.services import answer_notices, links, notify, offer_mail, offers, placements
from storage import notices, reminders_repo, repository, slots
from storage import placements as store_placements
from storage import questions as store_questions
from storage.models import Offer, OfferStatus, Question, Slot, Supervisor, Task
from storage.placements import Placement

log = logging.getLogger(__name__)

SCOPE: Final = "o"
LINK_PREFIX: Final = links.OFFER_PREFIX
REASONS: Final = ("busy", "away", "fit")


def _date(day: date, language: str) -> str:
    return day.strftime("%d.%m.%Y") if language == "nb" else day.strftime("%d %b %Y")


def offer_text(offer: Offer, slot: Slot, task: Task, tr: Translator) -> str:
    city = reference.city(slot.city)
    field = reference.field(slot.field_preference or "")
    end = slot.start_date + timedelta(weeks=slot.weeks) - timedelta(days=1)
    return tr(
        "offer.text",
        type=tr(f"offer.exchange.{slot.exchange_type}"),
        weeks=slot.weeks,
        start=_date(slot.start_date, tr.language),
        end=_date(end, tr.language),
        city=city.name(tr.language) if city else slot.city,
        field=field.name(tr.language) if field else tr("offer.any_field"),
        country=slot.partner_country or "—",
        task=task.title,
        reply_by=_date(offer.reply_by, tr.language),
    )


def offer_screen(offer: Offer, slot: Slot, task: Task, tr: Translator) -> ui.Screen:
    value = str(offer.id)
    return ui.Screen(
        offer_text(offer, slot, task, tr),
        [
            [ui.Button(tr("offer.accept"), Callback(SCOPE, value, "accept"))],
            [
                ui.Button(tr("offer.decline"), Callback(SCOPE, value, "decline")),
                ui.Button(tr("offer.not_month"), Callback(SCOPE, value, "month")),
            ],
        ],
    )


def accepted_screen(offer: Offer, slot: Slot, task: Task, tr: Translator) -> ui.Screen:
    text = tr("offer.accepted", details=Markup(offer_text(offer, slot, task, tr)))
    give_back = Callback(SCOPE, str(offer.id), "giveback")
    return ui.Screen(text, [[ui.Button(tr("offer.give_back"), give_back)]])


def reason_screen(offer: Offer, tr: Translator) -> ui.Screen:
    value = str(offer.id)
    buttons = [
        ui.Button(tr(f"offer.reason.{r}"), Callback(SCOPE, value, "reason", r)) for r in REASONS
    ]
    return ui.Screen(
        tr("offer.declined"),
        [buttons, [ui.Button(tr("offer.reason.none"), Callback(SCOPE, value, "reason"))]],
    )


async def load(session: AsyncSession, offer_id: int) -> tuple[Offer, Slot, Task, Supervisor] | None:
    offer = await slots.get_offer(session, offer_id)
    if offer is None:
        return None
    slot = await session.get(Slot, offer.slot_id)
    task = await session.get(Task, offer.task_id)
    supervisor = await session.get(Supervisor, offer.supervisor_id)
    if slot is None or task is None or supervisor is None:
        return None
    return offer, slot, task, supervisor


# ---- delivery ----------------------------------------------------------------------------------


async def deliver_pending(bot: Bot, svc: Services) -> int:
    """Send every offer not yet shown in chat, once, whichever process gets to it first: an
    offer is claimed (marked delivered) before it is sent. A supervisor who blocked the bot
    (403) is marked unreachable; any other Telegram error is logged. Either way the offer still
    reaches them by email."""
    async with svc.db.session() as session:
        pending = [o.id for o in await slots.undelivered_offers(session) if o.id is not None]
    sent = 0
    for offer_id in pending:
        async with svc.db.session() as session:
            claimed = await slots.claim_delivery(session, offer_id, svc.clock.now())
            loaded = await load(session, offer_id) if claimed else None
        if loaded is None:
            continue
        offer, slot, task, supervisor = loaded
        if supervisor.chat_unreachable_at is not None:
            continue
        try:
            await ui.send(
                bot,
                supervisor.chat_id,
                offer_screen(offer, slot, task, Translator(supervisor.language)),
                secret=svc.secret,
                user_id=supervisor.telegram_user_id,
            )
            sent += 1
        except Forbidden:
            await mark_unreachable(svc, supervisor.id or 0)
        except TelegramError:
            log.exception("offer %s could not be shown in chat; it goes by email", offer_id)
    return sent


async def expire_and_deliver(bot: Bot, svc: Services) -> None:
    """The sweep: expire unanswered offers past their reply-by date, deliver what is new."""
    async with svc.db.session() as session:
        await offers.expire_due(session, svc.settings, svc.clock.now())
    await deliver_pending(bot, svc)


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
        await turn.show(accepted_screen(offer, slot, task, tr))
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
    session: object,
    svc: Services,
    supervisor: Supervisor,
    offer_id: int,
    action: str,
    value: str,
    now: object,
) -> str | None:

    from sqlalchemy.ext.asyncio import AsyncSession

    assert isinstance(session, AsyncSession) and isinstance(now, datetime)
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
            await turn.replace(accepted_screen(offer, slot, task, tr))
            await _tell_coordinators(turn, slot, task, placement.supervisor.name)
        case "accepted_again":
            await turn.replace(accepted_screen(offer, slot, task, tr))
        case "taken":
            await turn.close(tr("offer.taken"))
        case "declined":
            await turn.replace(reason_screen(offer, tr))
            turn.svc.wake_offers()
        case "reason":
            await turn.close(tr("offer.thanks_for_reason"))
            # Told after the reason, so it can be in the notice (without one: the next sweep).
            await answer_notices.deliver_due(turn.update.get_bot(), turn.svc)
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
            await placements.announce(turn.update.get_bot(), turn.svc, released)
        case _:
            await turn.close(tr("offer.closed"))


async def _tell_coordinators(turn: Turn, slot: Slot, task: Task, name: str) -> None:
    """Who took a place, for which task: coordinators see it without opening anything."""
    await notify.tell_coordinators(
        turn.update.get_bot(),
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


# ---- sweeps --------------------------------------------------------------------------------------


async def reminder_sweep(bot: Bot, svc: Services) -> int:
    """Every supervisor with waiting offers: today's email if due, and a chat nudge for
    follow-ups."""
    now = svc.clock.now()
    async with svc.db.session() as session:
        supervisor_ids = await reminders_repo.supervisors_with_waiting_offers(session)
    queued = 0
    for supervisor_id in supervisor_ids:
        async with svc.db.session() as session:
            supervisor = await session.get(Supervisor, supervisor_id)
            if supervisor is None:
                continue
            made = await offer_mail.queue_reminders(session, svc, supervisor, now)
        queued += 1 if made else 0
        if made.followups and supervisor.chat_unreachable_at is None:
            await nudge(bot, svc, supervisor, made.followups)
    svc.sender.wake()
    return queued


async def nudge(bot: Bot, svc: Services, supervisor: Supervisor, offer_ids: list[int]) -> None:
    """A follow-up in chat too: the offer again, with its buttons."""
    tr = Translator(supervisor.language)
    for offer_id in offer_ids:
        async with svc.db.session() as session:
            loaded = await load(session, offer_id)
        if loaded is None:
            continue
        offer, slot, task, _ = loaded
        screen = offer_screen(offer, slot, task, tr)
        screen.text = tr("offer.reminder") + "\n\n" + screen.text
        try:
            await ui.send(
                bot,
                supervisor.chat_id,
                screen,
                secret=svc.secret,
                user_id=supervisor.telegram_user_id,
            )
        except Forbidden:
            await mark_unreachable(svc, supervisor.id or 0)
            return


async def mark_unreachable(svc: Services, supervisor_id: int) -> None:
    """Telegram said 403 (the person blocked the bot): stop chatting, email still works."""
    async with svc.db.session() as session:
        supervisor = await session.get(Supervisor, supervisor_id)
        if supervisor is not None and supervisor.chat_unreachable_at is None:
            supervisor.chat_unreachable_at = svc.clock.now()
            session.add(supervisor)
    log.info("supervisor %s has blocked the bot; chat marked unreachable", supervisor_id)


async def thanks_sweep(bot: Bot, svc: Services) -> int:
    """Accepted places whose exchange has ended: thank the supervisor once (email and chat)."""
    now = svc.clock.now()
    today = now.astimezone(svc.settings.tz).date()
    async with svc.db.session() as session:
        ended = await reminders_repo.ended_unthanked(session, today)
    done = 0
    for offer_id in ended:
        async with svc.db.session() as session:
            loaded = await load(session, offer_id)
            if loaded is None or loaded[0].thanked_at is not None:
                continue
            offer, slot, task, supervisor = loaded
            await offer_mail.queue_thanks(session, svc, offer, slot, task, supervisor, now)
            offer.thanked_at = now
            session.add(offer)
        done += 1
        if supervisor.chat_unreachable_at is None:
            tr = Translator(supervisor.language)
            try:
                await ui.send(
                    bot,
                    supervisor.chat_id,
                    ui.Screen(tr("thanks.chat", reference=slot.reference)),
                    secret=svc.secret,
                    user_id=supervisor.telegram_user_id,
                )
            except Forbidden:
                await mark_unreachable(svc, supervisor.id or 0)
    svc.sender.wake()
    return done
