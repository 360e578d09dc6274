"""Privacy in the chat: `/privacy`, consent asked again when its text changed, the retention
question's buttons, and the record of activity every update leaves.

`gate` runs before every other handler (group -1). For a registered supervisor it records
activity (`storage.privacy.touch`: a blocked chat works again, an open retention question is
answered "stay" by it). If their stored `consent_version` is not the current text's
(`CONSENT_VERSION`), anything they do but /privacy, /mydata, /delete and their buttons meets
the consent screen again, and nothing else runs. A message is held (`supervisor.held_update`)
and handled as if just sent once they agree, so it is not lost; a button press is not held
(Telegram lets a press be answered only within seconds), so after agreeing they see where they
were. "No thanks" explains that nothing else can be done for them under the old text and
offers /delete; the next interaction asks again.

```mermaid
stateDiagram-v2
    [*] --> Outdated: consent_version != CONSENT_VERSION
    Outdated --> Asked: any message (held) or button
    Asked --> [*]: "I agree": version stored, held message handled
    Asked --> Outdated: "No thanks": explained, /delete offered
```
"""

from __future__ import annotations

from typing import Final

from markupsafe import Markup
from telegram import BotCommandScopeChat, Update
from telegram.ext import (
    Application,
    ApplicationHandlerStop,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    TypeHandler,
    filters,
)

from bot.chat import ui
from bot.chat.flows import profile
from bot.chat.flows.registration.steps import CONSENT_VERSION
from bot.chat.general import flows_of
from bot.chat.turn import Turn, services
from bot.core.i18n import Translator
from bot.core.settings import Settings
from bot.domain.signing import Callback
from bot.services import erasure, retention
from storage import privacy as store
from storage import repository

RECONSENT_SCOPE: Final = "rc"
# What a supervisor may still do before agreeing to the new text: read it, get and erase data.
FREE_COMMANDS: Final = frozenset({"privacy", "mydata", "delete"})
DELETE_SCOPE: Final = "x"  # `bot.chat.handlers`' /delete confirmation
FREE_SCOPES: Final = (RECONSENT_SCOPE, DELETE_SCOPE, retention.SCOPE)


def privacy_text(tr: Translator, settings: Settings) -> str:
    """Everything `/privacy` says, in one message."""
    contact = (
        Markup(tr("privacy.page.contact", email=settings.privacy_contact))
        if settings.privacy_contact
        else ""
    )
    return tr(
        "privacy.page",
        controller=settings.privacy_controller,
        contact=contact,
        version=CONSENT_VERSION,
        inactive=Markup(tr("privacy.page.inactive", seasons=settings.retention_inactive_seasons)),
        days=settings.retention_answer_days,
        draft_days=settings.draft_expiry_days,
    )


async def cmd_privacy(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """The privacy statement; in the middle of a flow, the current question follows it."""
    turn = Turn.of(update, context)
    if turn is None:
        return
    text = privacy_text(Translator(await turn.language()), turn.svc.settings)
    async with turn.svc.db.session() as session:
        conv = await repository.get_conversation(session, turn.user.id)
    if conv is not None and conv.active:
        await turn.say(text)
        await turn.show(flows_of(context).screen(conv))
    else:
        await turn.say(text)


def reconsent_screen(language: str) -> ui.Screen:
    tr = Translator(language)
    return ui.Screen(
        tr("privacy.reconsent")
        + "\n\n"
        + tr("privacy.notice", version=CONSENT_VERSION)
        + "\n"
        + tr("privacy.opt_out"),
        [
            [
                ui.Button(
                    tr("privacy.reconsent.yes"),
                    Callback(RECONSENT_SCOPE, "-", "yes", CONSENT_VERSION),
                )
            ],
            [
                ui.Button(
                    tr("privacy.reconsent.no"),
                    Callback(RECONSENT_SCOPE, "-", "no", CONSENT_VERSION),
                )
            ],
        ],
    )


def _free(update: Update) -> bool:
    """Passes the consent gate: the rights, and the answers to this module's questions."""
    if update.callback_query is not None:
        data = update.callback_query.data or ""
        return data.split(":", 1)[0] in FREE_SCOPES
    text = update.message.text if update.message is not None else None
    if text and text.startswith("/"):
        return text[1:].split(maxsplit=1)[0].split("@", 1)[0].lower() in FREE_COMMANDS
    return False


async def gate(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    user, chat = update.effective_user, update.effective_chat
    if user is None or not user.id:
        return
    svc = services(context)
    asks = update.callback_query is not None or update.message is not None
    private = chat is not None and chat.type == chat.PRIVATE
    now = svc.clock.now()
    # Every update passes here: a read, and a write only when there is something to record.
    async with svc.db.session(write=False) as session:
        supervisor = await repository.get_supervisor(session, user.id)
    if supervisor is None:
        return
    if store.touch_due(supervisor, now):
        async with svc.db.session() as session:
            supervisor = await store.touch(session, user.id, now) or supervisor
    if supervisor.consent_version == CONSENT_VERSION or not (asks and private) or _free(update):
        return
    if update.message is not None:
        async with svc.db.session() as session:
            await store.hold_update(session, user.id, update.to_dict())
    turn = Turn.of(update, context)
    if turn is not None:
        if turn.query is not None:
            await turn.query.answer()
        await turn.show(reconsent_screen(supervisor.language))
    raise ApplicationHandlerStop


async def on_reconsent(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    turn = Turn.of(update, context)
    if turn is None or turn.query is None:
        return
    cb = turn.callback
    language = await turn.language()
    tr = Translator(language)
    async with turn.svc.db.session() as session:
        supervisor = await repository.get_supervisor(session, turn.user.id)
        current = (
            cb is not None
            and supervisor is not None
            and cb.value == CONSENT_VERSION
            and supervisor.consent_version != CONSENT_VERSION
        )
        held = None
        if current and cb is not None and cb.action == "yes":
            held = await store.agree(session, turn.user.id, CONSENT_VERSION, turn.svc.clock.now())
        elif current:
            await store.hold_update(session, turn.user.id, None)
    if not current or cb is None:
        await turn.query.answer(tr("btn.stale"))
        return
    await turn.query.answer()
    if cb.action != "yes":
        await turn.close(tr("privacy.reconsent.declined"))
        return
    await turn.close(tr("privacy.reconsent.thanks"))
    if held is not None:  # handled as if just sent: the gate lets it through now
        await context.application.process_update(Update.de_json(held, context.bot))
        return
    async with turn.svc.db.session() as session:
        conv = await repository.get_conversation(session, turn.user.id)
    if conv is not None and conv.active:
        await turn.show(flows_of(context).screen(conv))
    else:
        await profile.show_menu(turn)


async def on_retention(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """ "Stay" (any press already counted as activity: the clock starts again) or "Delete me"
    (erased at once, as after /delete's "yes")."""
    turn = Turn.of(update, context)
    if turn is None or turn.query is None:
        return
    cb = turn.callback
    tr = Translator(await turn.language())
    async with turn.svc.db.session() as session:
        registered = await repository.get_supervisor(session, turn.user.id) is not None
    if cb is None or not registered or cb.action not in tuple(retention.Answer):
        await turn.query.answer(tr("btn.stale"))
        return
    await turn.query.answer()
    if cb.action == retention.Answer.STAY:
        async with turn.svc.db.session() as session:
            await store.stay(session, turn.user.id, turn.svc.clock.now())
        await turn.close(tr("retention.stayed"))
        return
    done = await erasure.erase(turn.svc, turn.user.id, erasure.Reason.REQUEST)
    await turn.close(tr("delete.done"))
    await update.get_bot().delete_my_commands(scope=BotCommandScopeChat(turn.chat_id))
    await erasure.reopen(turn.svc, done)


def register(application: Application, new_messages: filters.BaseFilter) -> None:
    """The gate before everything (group -1); the command and buttons among the globals."""
    application.add_handler(TypeHandler(Update, gate), group=-1)
    application.add_handler(CommandHandler("privacy", cmd_privacy, filters=new_messages))
    application.add_handler(CallbackQueryHandler(on_reconsent, pattern=rf"^{RECONSENT_SCOPE}:"))
    application.add_handler(CallbackQueryHandler(on_retention, pattern=rf"^{retention.SCOPE}:"))
