"""An offer as the supervisor sees it in chat: the screens the offer courier, the reminders and
the chat's buttons all show, so an offer reads the same wherever it comes from.

The buttons carry the scope `SCOPE`; the chat adapter's offer handlers (`bot.chat.flows.offers`)
answer them.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Final

from markupsafe import Markup
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.i18n import Translator
from bot.core.screen import Button, Screen
from bot.domain import reference
from bot.domain.signing import Callback
from storage import slots
from storage.models import Offer, Slot, Supervisor, Task

SCOPE: Final = "o"
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


def offer_screen(offer: Offer, slot: Slot, task: Task, tr: Translator) -> Screen:
    value = str(offer.id)
    return Screen(
        offer_text(offer, slot, task, tr),
        [
            [Button(tr("offer.accept"), Callback(SCOPE, value, "accept"))],
            [
                Button(tr("offer.decline"), Callback(SCOPE, value, "decline")),
                Button(tr("offer.not_month"), Callback(SCOPE, value, "month")),
            ],
        ],
    )


def accepted_screen(
    offer: Offer, slot: Slot, task: Task, tr: Translator, share: Button | None = None
) -> Screen:
    """`share`: a URL button forwarding the supervisor's referral link to a colleague."""
    text = tr("offer.accepted", details=Markup(offer_text(offer, slot, task, tr)))
    give_back = Callback(SCOPE, str(offer.id), "giveback")
    rows = [[Button(tr("offer.give_back"), give_back)]]
    return Screen(text, [*rows, [share]] if share is not None else rows)


def reason_screen(offer: Offer, tr: Translator) -> Screen:
    value = str(offer.id)
    buttons = [
        Button(tr(f"offer.reason.{r}"), Callback(SCOPE, value, "reason", r)) for r in REASONS
    ]
    return Screen(
        tr("offer.declined"),
        [buttons, [Button(tr("offer.reason.none"), Callback(SCOPE, value, "reason"))]],
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
