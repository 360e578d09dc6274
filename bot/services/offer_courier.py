"""The offer courier: a proposed place reaches the supervisor in chat within seconds.

`expire_and_deliver` runs in the bot's process every few seconds and whenever new offers exist
(`Services.wake_offers`), so offers proposed from the CLI or by a coordinator arrive too: it
expires unanswered offers past their reply-by date and sends each new offer once, with its
buttons (`bot.services.offer_screens`). A supervisor who blocked the bot is marked unreachable;
the offer still reaches them by email.
"""

from __future__ import annotations

import logging

from bot.core.context import Services
from bot.core.i18n import Translator
from bot.core.ports import Delivery
from bot.services import offers
from bot.services.offer_screens import load, offer_screen
from storage import slots
from storage.models import Supervisor

log = logging.getLogger(__name__)


async def deliver_pending(svc: Services) -> int:
    """Send every offer not yet shown in chat, once, whichever process gets to it first: an
    offer is claimed (marked delivered) before it is sent, and the claim is given back when
    Telegram could not take the send now (`Delivery.LATER`: a 429 past the chat limiter's
    retries, a network error), so the next round tries again: it counts as shown only once
    Telegram took it. A supervisor who blocked the bot (403) is marked unreachable and the
    offer stays claimed: it reaches them by email. Nothing is claimed without a notifier."""
    notifier = svc.notifier
    if notifier is None:
        return 0
    async with svc.db.session() as session:
        pending = [o.id for o in await slots.undelivered_offers(session) if o.id is not None]
    sent = 0
    for offer_id in pending:
        claimed_at = svc.clock.now()
        async with svc.db.session() as session:
            claimed = await slots.claim_delivery(session, offer_id, claimed_at)
            loaded = await load(session, offer_id) if claimed else None
        if loaded is None:
            continue
        offer, slot, task, supervisor = loaded
        if supervisor.chat_unreachable_at is not None:
            continue
        delivery = await notifier.show(
            supervisor.chat_id,
            supervisor.telegram_user_id,
            offer_screen(offer, slot, task, Translator(supervisor.language)),
            f"offer {offer_id}",
        )
        if delivery is Delivery.BLOCKED:
            await mark_unreachable(svc, supervisor.id or 0)
        elif delivery is Delivery.LATER:
            async with svc.db.session() as session:
                await slots.release_delivery(session, offer_id, claimed_at)
        sent += bool(delivery)
    return sent


async def expire_and_deliver(svc: Services) -> None:
    """The courier's round: expire unanswered offers past their reply-by date, deliver what is
    new."""
    async with svc.db.session() as session:
        await offers.expire_due(session, svc.settings, svc.clock.now())
    await deliver_pending(svc)


async def mark_unreachable(svc: Services, supervisor_id: int) -> None:
    """Telegram said 403 (the person blocked the bot): stop chatting, email still works."""
    async with svc.db.session() as session:
        supervisor = await session.get(Supervisor, supervisor_id)
        if supervisor is not None and supervisor.chat_unreachable_at is None:
            supervisor.chat_unreachable_at = svc.clock.now()
            session.add(supervisor)
    log.info("supervisor %s has blocked the bot; chat marked unreachable", supervisor_id)
