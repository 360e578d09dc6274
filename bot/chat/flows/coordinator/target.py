"""/target: a season's hosting targets (the reciprocity meter, `bot.services.reciprocity`), and
the meter /slots opens with.

`/target 2027 clinical 10` (or `klinisk`; several pairs at once) sets how many incoming students
Norway must host that season; 0 removes a target. Targets are national, so only a national
coordinator of that exchange type may set one; any coordinator may look (`/target` alone shows
the meter of their types and how to set one). To anyone else it is an unknown command.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from telegram import Update
from telegram.ext import ContextTypes

from bot.chat.flows.coordinator.access import coordinator_turn
from bot.chat.turn import Turn
from bot.core.i18n import SUPPORTED, Translator
from bot.domain import reference
from bot.domain.reciprocity import season_label
from bot.domain.season import season_of
from bot.services import reciprocity
from storage.coordinators import NATIONAL
from storage.models import Coordinator


async def meter_text(turn: Turn, scopes: Sequence[Coordinator], tr: Translator) -> str | None:
    """The meter of these scopes' exchange types (or the hint), as /slots opens with it."""
    async with turn.svc.db.session() as session:
        found = await reciprocity.for_scopes(session, scopes, _today(turn))
    return reciprocity.chat_text(found, tr)


def _today(turn: Turn) -> date:
    return turn.svc.clock.now().astimezone(turn.svc.settings.tz).date()


def _kind(word: str) -> str | None:
    """An exchange type by its code or its name in any of the bot's languages."""
    word = word.strip().lower()
    for kind in reference.EXCHANGE_TYPES:
        names = {kind} | {Translator(lang)(f"type.{kind}").lower() for lang in SUPPORTED}
        if word in names:
            return kind
    return None


def parse(args: Sequence[str]) -> tuple[int, dict[str, int]] | None:
    """`2027 clinical 10 research 4` -> (2027, {"clinical": 10, "research": 4}); None if not."""
    if len(args) < 3 or len(args) % 2 == 0 or not args[0].isdigit():
        return None
    season = int(args[0])
    needed: dict[str, int] = {}
    for word, number in zip(args[1::2], args[2::2], strict=True):
        kind = _kind(word)
        if kind is None or not number.isdigit() or int(number) > reciprocity.MAX_NEEDED:
            return None
        needed[kind] = int(number)
    return (season, needed) if 2000 <= season <= 2100 else None


async def cmd_target(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    entered = await coordinator_turn(update, context)
    if entered is None:
        return
    turn, scopes, tr = entered
    today = _today(turn)
    if not context.args:
        shown = await meter_text(turn, scopes, tr)
        usage = tr("coord.target.usage", year=season_of(today))
        await turn.say(usage if shown is None else f"{shown}\n\n{usage}")
        return
    found = parse(context.args)
    if found is None:
        await turn.say(tr("coord.target.usage", year=season_of(today)))
        return
    season, needed = found
    refused = [kind for kind in needed if not reciprocity.may_set(scopes, kind)]
    if refused:
        await turn.say(tr("coord.target.not_allowed", type=tr(f"type.{refused[0]}")))
        return
    async with turn.svc.db.session() as session:
        by = "/".join(sorted({s.role for s in scopes if s.city == NATIONAL}))  # the office
        await reciprocity.set_targets(session, season, needed, by, turn.svc.clock.now())
        meters = await reciprocity.national_meters(session, today, reciprocity.types_of(scopes))
    label = season_label(season)
    shown = reciprocity.chat_text(
        reciprocity.Reciprocity(meters=tuple(m for m in meters if m.season == season)), tr
    )
    saved = tr("coord.target.set", season=label)
    await turn.say(f"{saved}\n\n{shown or tr('coord.target.none', season=label)}")
