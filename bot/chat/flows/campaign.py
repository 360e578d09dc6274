"""Bringing supervisors back, in chat: the invitation's two deep links and the season check.

- `/start i_<invitation>_<signature>` (the invitation email's "yes"): the invitation is answered
  "yes" and the person sees the consent screen of a registration given the invitation's name,
  address (proved by the link), city and field, with "This isn't me" for a forwarded email (or
  their menu, if already registered, or the resume question, if a registration is under way).
  The link works once: opened again it says so and offers the usual registration.
- `/start n_<invitation>_<signature>` ("no thanks"): answered "no", the address goes on the
  suppression list, and a polite goodbye. Opening it again says the same and changes nothing.
- `/start s_<supervisor>_<season>_<signature>` (the season email): the same question the sweep
  sent in chat, for that supervisor's own Telegram account only.
- The question's buttons (scope `sc`): "Yes, same as last season" copies last season's tasks
  (the coordinators of each task's scope are told), "Not this season" pauses until the season
  after. Only the first answer counts.

The service behind this is `bot.services.campaigns`; `route_start` is what `/start` calls.

```mermaid
stateDiagram-v2
    [*] --> Asked: season_check_sweep (chat, and email if allowed)
    Asked --> Asked: /start s_... shows the question again
    Asked --> Same: "Yes, same as last season"
    Asked --> No: "Not this season"
    Same --> [*]: tasks copied as submitted, coordinators told
    No --> [*]: paused until 1 April after the season
    Same --> Same: any later press: "already answered"
    No --> No: any later press: "already answered"
```
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from markupsafe import escape
from telegram import Update
from telegram.ext import CallbackQueryHandler, ContextTypes

from bot.chat.flows import profile
from bot.chat.flows.registration import handlers as registration
from bot.chat.turn import Turn
from bot.core.i18n import Translator, language_from_telegram
from bot.domain.signing import parse_id
from bot.services import campaigns, notify
from bot.services.campaigns import SCOPE, Answer, Outcome
from storage import campaigns as store
from storage import repository
from storage.models import Supervisor


async def route_start(turn: Turn, payload: str) -> bool:
    """Handle a `/start` payload of this module; False when it is someone else's."""
    if payload.startswith(campaigns.INVITE_PREFIX):
        await open_invitation(turn, payload)
    elif payload.startswith(campaigns.DECLINE_PREFIX):
        await decline_invitation(turn, payload)
    elif payload.startswith(campaigns.SEASON_PREFIX):
        await show_season_check(turn, payload)
    else:
        return False
    return True


def register(add: Callable[[Any], Any]) -> None:
    """The season check's buttons; before the catch-all for stale buttons."""
    add(CallbackQueryHandler(on_button, pattern=rf"^{SCOPE}:"))


async def _language(turn: Turn, supervisor: Supervisor | None = None) -> str:
    if supervisor is None:
        async with turn.svc.db.session() as session:
            supervisor = await repository.get_supervisor(session, turn.user.id)
    if supervisor is not None:
        return supervisor.language
    return language_from_telegram(turn.user.language_code)


# ---- the invitation ------------------------------------------------------------------------------


async def open_invitation(turn: Turn, payload: str) -> None:
    """`/start i_...`: "yes" to the invitation, then the consent screen of a registration that
    starts with the invitation's name, address, city and field. The link works once: a second
    opening (a forwarded email, or the same person again) says so and starts the usual
    registration, nothing prefilled; with a registration under way or done it is not used up."""
    link = campaigns.parse_invite(turn.svc.secret, payload)
    invitation, first = None, False
    async with turn.svc.db.session() as session:
        now = turn.svc.clock.now()
        supervisor = await repository.get_supervisor(session, turn.user.id)
        conv = await repository.get_conversation(session, turn.user.id)
        fresh = supervisor is None and (conv is None or conv.flow != registration.Flow.REGISTRATION)
        if link is not None and await campaigns.invitation_link_usable(session, link, now):
            invitation, first = await campaigns.accept_invitation(
                session, link.id, now if fresh else None
            )
    language = await _language(turn, supervisor)
    tr = Translator(language)
    if invitation is None:
        await turn.say(tr("campaign.link_invalid"))
        return
    if supervisor is not None:
        await turn.say(tr("campaign.invite.welcome"))
        await profile.show_menu(turn)
    elif fresh and first:
        await turn.say(tr("campaign.invite.welcome"))
        await turn.show(registration.consent_screen(language, invitation))
    elif fresh:
        await turn.say(tr("campaign.invite.used"))
        await registration.start(turn, conv)
    else:
        await turn.say(tr("campaign.invite.welcome"))
        await registration.start(turn, conv)


async def decline_invitation(turn: Turn, payload: str) -> None:
    """`/start n_...`: "no thanks", remembered for good."""
    link = campaigns.parse_invite(turn.svc.secret, payload, decline=True)
    invitation = None
    now = turn.svc.clock.now()
    if link is not None:
        async with turn.svc.db.session() as session:
            if await campaigns.invitation_link_usable(session, link, now):
                invitation = await campaigns.decline_invitation(session, link.id, now)
    tr = Translator(await _language(turn))
    await turn.say(tr("campaign.invite.declined" if invitation else "campaign.link_invalid"))


# ---- the season check ----------------------------------------------------------------------------


async def show_season_check(turn: Turn, payload: str) -> None:
    """`/start s_...`: the season question again, for its own supervisor only."""
    link = campaigns.parse_season(turn.svc.secret, payload)
    supervisor = check = None
    previous = []
    now = turn.svc.clock.now()
    async with turn.svc.db.session() as session:
        if link is not None:
            supervisor_id, season = link.ids
            supervisor = await session.get(Supervisor, supervisor_id)
            if supervisor is not None and supervisor.telegram_user_id == turn.user.id:
                check = await store.get_season_check(session, supervisor_id, season)
                previous = await store.last_season_tasks(session, supervisor_id, season)
    if check is not None and link is not None and not link.usable(check.asked_at, now):
        check = None  # a legacy link older than the window
    if link is None or supervisor is None or check is None:
        await turn.say(Translator(await _language(turn))("campaign.link_invalid"))
        return
    tr = Translator(supervisor.language)
    label = campaigns.season_label(check.season)
    today = turn.svc.clock.now().astimezone(turn.svc.settings.tz).date()
    if check.answer is not None:
        await turn.say(tr(_answered_id(check.answer == Answer.SAME), season=label))
    elif not campaigns.still_open(check.season, today):
        await turn.say(tr("campaign.season.closed", season=label))
    else:
        await turn.show(campaigns.season_screen(check.season, previous, tr))


async def on_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    turn = Turn.of(update, context)
    if turn is None or turn.query is None:
        return
    cb = turn.callback
    result = None
    async with turn.svc.db.session() as session:
        supervisor = await repository.get_supervisor(session, turn.user.id)
        valid = (
            cb is not None
            and cb.scope == SCOPE
            and parse_id(cb.step) is not None
            and cb.action in tuple(Answer)
        )
        if supervisor is not None and valid and cb is not None:
            result = await campaigns.answer_season(
                session, turn.svc, supervisor, int(cb.step), Answer(cb.action)
            )
    tr = Translator(await _language(turn, supervisor))
    if supervisor is None or cb is None or result is None or result.outcome == Outcome.CLOSED:
        await turn.query.answer(tr("btn.stale"))
        return
    await turn.query.answer()
    season = int(cb.step)
    label = campaigns.season_label(season)
    pressed = tr("campaign.season.same" if cb.action == Answer.SAME else "campaign.season.no")
    match result.outcome:
        case Outcome.COPIED:
            await turn.close(_answered(turn, pressed))
            await turn.say(tr("campaign.season.copied", count=len(result.copied), season=label))
            for task in result.copied:
                await notify.tell_coordinators(
                    turn.svc,
                    exchange_type=task.exchange_type,
                    city=task.city,
                    message_id="coord.season_renewed",
                    name=supervisor.name,
                    season=label,
                    title=task.title,
                    workplace=task.site,
                )
        case Outcome.HAD_TASKS:
            await turn.close(_answered(turn, pressed))
            await turn.say(tr("campaign.season.had_tasks", season=label))
        case Outcome.PAUSED:
            until = result.paused_until
            assert until is not None
            date = until.astimezone(turn.svc.settings.tz).strftime("%d.%m.%Y")
            await turn.close(_answered(turn, pressed))
            await turn.say(tr("campaign.season.paused", season=label, date=date))
        case Outcome.ANSWERED_SAME | Outcome.ANSWERED_NO:
            await turn.close(turn.pressed_html())
            await turn.say(tr(_answered_id(result.outcome == Outcome.ANSWERED_SAME), season=label))


def _answered(turn: Turn, label: str) -> str:
    """The question as it was asked, with the answer under it and no buttons."""
    return turn.pressed_html() + f"\n✔️ <b>{escape(label)}</b>"


def _answered_id(same: bool) -> str:
    return "campaign.season.answered_same" if same else "campaign.season.answered_no"
