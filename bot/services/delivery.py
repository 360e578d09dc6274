"""Telling coordinators in chat about email that did not arrive, within the working day.

A weekly digest with a masked address is too late and too vague, and it is itself an email: a
coordinator whose own address bounces would never learn of it. So every email that failed for
good or was held (`mail.sender`) is reported once (`outbox_email.reported_at`), at the next sweep
in working hours (`domain.reminders.Policy`: failures at night are told at 08:00, on a weekend on
Monday), to the bound coordinators responsible for the person (`storage.delivery.responsible`),
with the person's name, the address and the server's reason. Held emails are an operator's
problem, not a person's: they are summed up in one line for the national coordinators.

Verification codes are not reported: the person who asked for one is in the chat at that moment
and asks for another (or corrects the address). An email is marked reported before the chat
messages go out, so a crash loses at most one notice (the digest still lists the failure) and
never repeats one.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from markupsafe import Markup

from bot.core.context import Services
from bot.core.i18n import Translator
from bot.services import notify
from storage import delivery, outbox
from storage.coordinators import NATIONAL
from storage.models import Coordinator, OutboxEmail, OutboxStatus

log = logging.getLogger(__name__)

MAX_LINES = 20  # per notice; the rest is counted (`python -m bot outbox failed` has them all)
MAX_REASON = 200
UNREPORTED = ("verify",)


@dataclass
class Notice:
    """What one coordinator is told: failed emails (name, address, reason) and held ones."""

    coordinator: Coordinator
    failed: list[tuple[str, str, str]] = field(default_factory=list)
    held: int = 0
    held_reason: str = ""


def _reason(email: OutboxEmail) -> str:
    return " ".join((email.last_error or "").split())[:MAX_REASON]


def text(notice: Notice) -> str:
    """The chat message (HTML; every value is escaped by the translator)."""
    tr = Translator(notice.coordinator.language)
    parts: list[str] = []
    if notice.failed:
        lines = [
            tr("delivery.failed.line", name=name, address=address, reason=reason)
            for name, address, reason in notice.failed[:MAX_LINES]
        ]
        if len(notice.failed) > MAX_LINES:
            lines.append(tr("delivery.more", count=len(notice.failed) - MAX_LINES))
        parts.append("\n".join([tr("delivery.failed.head"), *lines, tr("delivery.failed.hint")]))
    if notice.held:
        parts.append(tr("delivery.held", count=notice.held, reason=notice.held_reason))
    return str(Markup("\n\n").join(Markup(p) for p in parts))


async def _notices(svc: Services) -> list[Notice]:
    """Mark everything unreported as reported and return who is to be told what."""
    now = svc.clock.now()
    async with svc.db.session() as session:
        rows = await outbox.unreported(session)
        if not rows:
            return []
        await outbox.mark_reported(session, [r.id for r in rows if r.id is not None], now)
        coordinators = await delivery.bound_coordinators(session)
        notices: dict[int, Notice] = {}

        def notice(coordinator: Coordinator) -> Notice:
            return notices.setdefault(coordinator.chat_id or 0, Notice(coordinator))

        held = [r for r in rows if r.status == OutboxStatus.HELD]
        for email in rows:
            if email.status != OutboxStatus.FAILED or email.kind in UNREPORTED:
                continue
            who = await delivery.addressee(session, email)
            for coordinator in delivery.responsible(coordinators, who, email.recipient):
                notice(coordinator).failed.append((who.name, email.recipient, _reason(email)))
    if held:
        national = [c for c in coordinators if c.city == NATIONAL] or coordinators
        for coordinator in national:
            found = notice(coordinator)
            found.held, found.held_reason = len(held), _reason(held[-1])
    return list(notices.values())


async def report_sweep(svc: Services) -> int:
    """Tell the responsible coordinators about newly failed and held emails; returns how many
    coordinators were told. Nothing outside working hours, nor without a notifier (the failures
    wait, unreported)."""
    if svc.notifier is None or not svc.settings.reminder_policy.working(svc.clock.now()):
        return 0
    notices = await _notices(svc)
    told = 0
    for notice in notices:
        chat_id = notice.coordinator.chat_id
        if chat_id is None:
            continue
        told += await notify.send_text(svc, chat_id, text(notice), "delivery problems")
    if notices:
        log.info("delivery problems reported to %d coordinator(s)", told)
    return told
