"""What the scheduler tells supervisors about offers after they arrived: reminders while an
offer waits for an answer, and thanks once an accepted exchange has ended.

Each goes by email (`bot.services.offer_mail`, idempotent by key) and, while the person can be
reached in chat, as a chat message too: a follow-up shows the offer again with its buttons. A
supervisor who blocked the bot is marked unreachable (`offer_courier.mark_unreachable`).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from bot.core.context import Services
from bot.core.i18n import Translator
from bot.core.ports import Delivery
from bot.core.screen import Screen
from bot.services import offer_mail
from bot.services.offer_courier import mark_unreachable
from bot.services.offer_screens import load, offer_screen
from storage import reminders_repo
from storage.models import Offer, Slot, Supervisor, Task

BATCH = 500  # supervisors per transaction of the reminder sweep


@dataclass
class Cursor:
    """Where the scheduler's reminder sweep goes on: the last supervisor id it handled.

    Kept in the scheduler's process, not the database: after a restart the sweep starts from
    the beginning again, which repeats nothing (each email is once a day by its key)."""

    after: int = 0


async def reminder_sweep(svc: Services, cursor: Cursor | None = None) -> int:
    """Supervisors with waiting offers: today's email if due, and a chat nudge for follow-ups.

    Outside working hours nothing may go out, so nothing is read. Otherwise supervisors go in
    batches, each read and queued in one session with a fixed number of queries (no query per
    supervisor), and their follow-ups are nudged in chat after the batch's commit.

    With a `cursor` (the scheduler's, every minute) a run handles one batch, the next `BATCH`
    supervisors after the cursor, and starts again from the first once it reached the last: a
    run costs the same at 1,000 supervisors as at 100,000 (a few seconds, the loop never held
    for long), and a whole pass over 30,000 supervisors with waiting offers takes an hour of
    working time (emails due that day go out within that hour). Without one (the demo, tests)
    a run handles everyone.
    """
    now = svc.clock.now()
    if not svc.settings.reminder_policy.working(now):
        svc.sender.wake()
        return 0
    async with svc.db.session() as session:
        supervisor_ids = await reminders_repo.supervisors_with_waiting_offers(
            session, after=cursor.after if cursor else 0, limit=BATCH if cursor else None
        )
    if cursor is not None:
        cursor.after = supervisor_ids[-1] if len(supervisor_ids) == BATCH else 0
    queued = 0
    for start in range(0, len(supervisor_ids), BATCH):
        batch = supervisor_ids[start : start + BATCH]
        async with svc.db.session() as session:
            done = await offer_mail.queue_reminders_batch(session, svc, batch, now)
        queued += len(done)
        await nudge_all(svc, [d for d in done if d.plan.followups])
    svc.sender.wake()
    return queued


async def nudge_all(svc: Services, reminded: list[offer_mail.Reminded]) -> None:
    """Follow-ups in chat too, for a batch: the offers read again in one query."""
    wanted = [r for r in reminded if r.supervisor.chat_unreachable_at is None]
    if svc.notifier is None or not wanted:
        return
    async with svc.db.session() as session:
        shown = await reminders_repo.offers_shown(
            session, [i for r in wanted for i in r.plan.followups]
        )
    for r in wanted:
        await _nudge(svc, r.supervisor, [shown.get(i) for i in r.plan.followups])
        await asyncio.sleep(0)  # building the screens is CPU work: let chats in between


async def _nudge(
    svc: Services, supervisor: Supervisor, offers: list[tuple[Offer, Slot, Task] | None]
) -> None:
    if svc.notifier is None:
        return
    tr = Translator(supervisor.language)
    for loaded in offers:
        if loaded is None:
            continue
        offer, slot, task = loaded
        screen = offer_screen(offer, slot, task, tr)
        screen.text = tr("offer.reminder") + "\n\n" + screen.text
        delivery = await svc.notifier.show(
            supervisor.chat_id, supervisor.telegram_user_id, screen, f"reminder of offer {offer.id}"
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
            if loaded is None or not await reminders_repo.mark_thanked(session, offer_id, now):
                continue  # thanked meanwhile (by another sweep): once only, chat included
            offer, slot, task, supervisor = loaded
            await offer_mail.queue_thanks(session, svc, offer, slot, task, supervisor, now)
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
