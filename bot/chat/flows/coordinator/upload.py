"""A CSV file of slots sent as a document: the same importer as `python -m bot slots import`,
limited to the coordinator's scope. Anyone else's document is treated like any other message."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Final

from telegram import Update
from telegram.error import TelegramError
from telegram.ext import ContextTypes

from bot.chat import general
from bot.chat.flows.coordinator.access import reviewer_of, scopes_of, translator
from bot.chat.turn import Turn
from bot.core.i18n import Translator
from bot.domain import slots_csv
from storage import slots
from storage.models import Coordinator, Slot

log = logging.getLogger(__name__)

MAX_CSV_BYTES: Final = 512 * 1024
MAX_ERRORS_SHOWN: Final = 25


def _is_csv(name: str | None, mime: str | None) -> bool:
    return (name or "").lower().endswith((".csv", ".txt")) or (mime or "") in (
        "text/csv",
        "text/plain",
        "application/vnd.ms-excel",
    )


def out_of_scope(
    rows: Sequence[slots_csv.SlotRow],
    scopes: Sequence[Coordinator],
    existing: Sequence[Slot] = (),
) -> list[slots_csv.RowError]:
    """Rows for a type and city the coordinator does not hold, and rows whose reference names
    an existing slot outside their scope (which would move it into theirs): refused like any
    bad row. The other slot's type and city are not shown."""
    theirs = {s.reference for s in existing if reviewer_of(scopes, s.exchange_type, s.city) is None}
    return [
        slots_csv.RowError(row.line, "coord.csv.taken", row.reference)
        if row.reference in theirs
        else slots_csv.RowError(row.line, "coord.csv.scope", f"{row.exchange_type} {row.city}")
        for row in rows
        if row.reference in theirs or reviewer_of(scopes, row.exchange_type, row.city) is None
    ]


def errors_text(errors: Sequence[slots_csv.RowError], tr: Translator) -> str:
    ordered = sorted(errors, key=lambda e: e.line)
    lines = [slots_csv.describe(e, tr) for e in ordered[:MAX_ERRORS_SHOWN]]
    if len(ordered) > MAX_ERRORS_SHOWN:
        lines.append(tr("coord.csv.more", count=len(ordered) - MAX_ERRORS_SHOWN))
    return tr("coord.csv.errors", count=len(ordered)) + "\n" + "\n".join(lines)


async def on_document(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    turn = Turn.of(update, context)
    message = update.effective_message
    document = message.document if message else None
    if turn is None or document is None:
        return
    scopes = await scopes_of(turn)
    if not scopes:
        await general.on_other_message(update, context)
        return
    tr = translator(scopes)
    if not _is_csv(document.file_name, document.mime_type):
        await turn.say(tr("coord.csv.not_csv", columns=",".join(slots_csv.COLUMNS)))
        return
    if (document.file_size or 0) > MAX_CSV_BYTES:
        await turn.say(tr("coord.csv.too_big", kb=MAX_CSV_BYTES // 1024))
        return
    try:
        content = bytes(
            await (await context.bot.get_file(document.file_id)).download_as_bytearray()
        )
    except TelegramError:
        log.warning("could not download a coordinator's CSV file", exc_info=True)
        await turn.say(tr("coord.csv.download_failed"))
        return
    rows, errors = slots_csv.parse(content)
    if not errors and not rows:
        await turn.say(tr("coord.csv.empty"))
        return
    report = None
    async with turn.svc.db.session() as session:
        existing = await slots.slots_by_reference(session, [row.reference for row in rows])
        errors = [*errors, *out_of_scope(rows, scopes, existing)]
        if not errors:  # checked again in the import, in case a slot was added meanwhile
            report = await slots.import_slots(
                session,
                rows,
                turn.svc.clock.now(),
                may_change=lambda s: reviewer_of(scopes, s.exchange_type, s.city) is not None,
            )
    if errors or report is None:
        await turn.say(errors_text(errors, tr))
        return
    summary = tr(
        "coord.csv.done",
        created=len(report.created),
        updated=len(report.updated),
        unchanged=len(report.unchanged),
    )
    if report.refused:
        summary += "\n\n" + errors_text(report.refused, tr)
    await turn.say(summary)
