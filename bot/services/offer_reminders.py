"""What the scheduler tells supervisors about offers after they arrived: reminders while an
offer waits for an answer, and thanks once an accepted exchange has ended.

Each goes by email (`bot.services.offer_mail`, idempotent by key) and, while the person can be
reached in chat, as a chat message too: a follow-up shows the offer again with its buttons. A
supervisor who blocked the bot is marked unreachable (`offer_courier.mark_unreachable`).
"""

from __future__ import annotations

from bot.core.context import Services
from bot.core.i18n import Translator
from bot.core.ports import Delivery
from bot.core.screen import Screen
from bot.services import offer_mail
from bot.services.offer_courier import mark_unreachable
from bot.services.offer_screens import load, offer_screen
from storage import reminders_repo
from storage.models import Supervisor


async def reminder_sweep(svc: Services) -> int:
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
            await nudge(svc, supervisor, made.followups)
    svc.sender.wake()
    return queued


async def nudge(svc: Services, supervisor: Supervisor, offer_ids: list[int]) -> None:
    """A follow-up in chat too: the offer again, with its buttons."""
    if svc.notifier is None:
        return
    tr = Translator(supervisor.language)
    for offer_id in offer_ids:
        async with svc.db.session() as session:
            loaded = await load(session, offer_id)
        if loaded is None:
            continue
        offer, slot, task, _ = loaded
        screen = offer_screen(offer, slot, task, tr)
        screen.text = tr("offer.reminder") + "\n\n" + screen.text
        delivery = await svc.notifier.show(
            supervisor.chat_id, supervisor.telegram_user_id, screen, f"reminder of offer {offer_id}"
        )
        if delivery is Delivery.BLOCKED:
            await mark_unreachable(svc, supervisor.id or 0)
            return


async def thanks_sweep(svc: Services) -> int:
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
        if supervisor.chat_unreachable_at is None and svc.notifier is not None:
            tr = Translator(supervisor.language)
            delivery = await svc.notifier.show(
                supervisor.chat_id,
                supervisor.telegram_user_id,
                Screen(tr("thanks.chat", reference=slot.reference)),
                f"thanks for offer {offer_id}",
            )
            if delivery is Delivery.BLOCKED:
                await mark_unreachable(svc, supervisor.id or 0)
    svc.sender.wake()
    return done
