"""Erasing a person: the one path behind `/delete`, the retention sweep and the operator's
`python -m bot privacy erase`.

Before the rows go, the person's accepted places reopen and their waiting offers are cancelled
(`offers.release_supervisor`); then `storage.repository.erase_person` removes everything keyed to
their Telegram account and their verified addresses, one `deletion_audit` row records why and
how many rows of each kind went (never what they held or whose they were), the queued emails'
`.eml` files are removed and SQLite's write-ahead log is checkpointed with `secure_delete` on.
`reopen` then asks other supervisors for the slots they were asked for or had accepted (after
the erasure, so none of their own tasks is asked) and tells coordinators of freed places.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.context import Services
from bot.services import placements
from bot.services.offers import propose, release_supervisor
from storage import audit, privacy, repository
from storage import placements as store_placements
from storage.placements import Placement
from storage.slots import open_offers_of

log = logging.getLogger(__name__)


class Reason(StrEnum):
    """Why a person was erased: the audit's `kind`."""

    REQUEST = "request"  # they asked, in chat (/delete)
    RETENTION = "retention"  # inactive, asked whether to stay, no answer in time
    OPERATOR = "operator"  # the operator, for a request that came by email


@dataclass(frozen=True)
class Erasure:
    counts: dict[str, int]
    asked: list[int] = field(default_factory=list)  # slots they were asked for or had accepted
    released: list[Placement] = field(default_factory=list)  # places given back by it
    files: list[str] = field(default_factory=list)  # their queued emails' .eml files


async def erase(svc: Services, user_id: int, reason: Reason) -> Erasure:
    """Erase one person for good and audit it; `reopen` afterwards."""
    async with svc.db.session() as session:
        erasure = await erase_within(session, user_id, reason, svc.clock.now())
    await tidy(svc, erasure, reason)
    return erasure


async def erase_within(
    session: AsyncSession, user_id: int, reason: Reason, now: datetime
) -> Erasure:
    """The erasure's rows, in the caller's transaction: /delete's "yes" commits it together
    with the answer to its question, before the button is answered (a crash in between must
    find both made or neither). `tidy` once it is committed."""
    supervisor = await repository.get_supervisor(session, user_id)
    asked: list[int] = []
    held: list[Placement] = []
    if supervisor is not None:
        asked = [o.slot_id for o in await open_offers_of(session, supervisor.id or 0)]
        held = await store_placements.held(session, supervisor_id=supervisor.id or 0)
        await release_supervisor(session, supervisor.id or 0, now)
    released = await placements.given_back(session, held)
    erased = await repository.erase_person(session, user_id)
    if any(erased.counts.values()):  # nothing was held: nothing to account for
        await audit.record(session, reason, erased.counts, now)
    return Erasure(erased.counts, asked, released, list(erased.files))


async def tidy(svc: Services, erasure: Erasure, reason: Reason) -> None:
    """After the erasure committed: no copy left in `var/` (mail files, SQLite's log)."""
    await asyncio.to_thread(_remove_files, erasure.files)
    await svc.db.compact_after_erase()
    log.info("erased a person's data (%s, %d mail files)", reason.value, len(erasure.files))


async def reopen(svc: Services, erasure: Erasure) -> None:
    """Slots an erased supervisor was asked for or had accepted: ask others now, and tell the
    coordinators of freed places."""
    if not erasure.asked:
        return
    async with svc.db.session() as session:
        for slot_id in dict.fromkeys(erasure.asked):
            await propose(session, svc.settings, slot_id, svc.clock.now())
    svc.wake_offers()
    await placements.announce(svc, erasure.released)


def _remove_files(names: list[str]) -> None:
    for name in names:
        Path(name).unlink(missing_ok=True)


async def erase_address(svc: Services, email: str) -> dict[str, int]:
    """An erasure request that came by email (the operator checked that the sender reads that
    mailbox): every supervisor registered with the address is erased as by `/delete`, then
    what the address alone keys (invitations, emails, codes). Each is audited as `operator`.
    Returns the counts, summed."""
    async with svc.db.session() as session:
        accounts = await repository.supervisor_accounts_at(session, email)
    total: dict[str, int] = {}
    for user_id in accounts:
        done = await erase(svc, user_id, Reason.OPERATOR)
        await reopen(svc, done)
        for kind, count in done.counts.items():
            total[kind] = total.get(kind, 0) + count
    async with svc.db.session() as session:
        counts, files = await privacy.erase_address(session, email)
        if any(counts.values()):
            await audit.record(session, Reason.OPERATOR, counts, svc.clock.now())
    await asyncio.to_thread(_remove_files, files)
    await svc.db.compact_after_erase()
    for kind, count in counts.items():
        total[kind] = total.get(kind, 0) + count
    return total
