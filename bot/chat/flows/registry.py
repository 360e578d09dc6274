"""Which flow a person is in decides who handles their typed text and how a question is asked
again (after /help, an unknown command, a sticker...). One table, so a new flow is one row."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Final

from telegram import Update
from telegram.ext import ContextTypes

from bot.chat import ui
from bot.chat.flows.registration import handlers as registration
from bot.chat.flows.registration import steps
from bot.chat.flows.task import handlers as tasks
from bot.chat.flows.task import steps as task_steps
from bot.core.i18n import Translator
from storage.models import Conversation

Handler = Callable[[Update, ContextTypes.DEFAULT_TYPE], Awaitable[None]]
ScreenOf = Callable[[Conversation, str | None], ui.Screen]


def _registration_screen(conv: Conversation, notice: str | None) -> ui.Screen:
    return steps.screen(steps.Step(conv.step), conv.data, Translator(conv.language), notice=notice)


def _task_screen(conv: Conversation, notice: str | None) -> ui.Screen:
    step = task_steps.TStep(conv.step)
    return task_steps.screen(step, conv.data, Translator(conv.language), notice=notice)


def _registration_reprompt(conv: Conversation) -> str:
    return steps.reprompt_id(steps.Step(conv.step), conv.data)


def _task_reprompt(conv: Conversation) -> str:
    return task_steps.BY_STEP[task_steps.TStep(conv.step)].reprompt


TEXT: Final[dict[str, Handler]] = {
    steps.Flow.REGISTRATION: registration.on_text,
    steps.Flow.PROFILE: registration.on_text,
    tasks.FLOW: tasks.on_text,
}
SCREEN: Final[dict[str, ScreenOf]] = {
    steps.Flow.REGISTRATION: _registration_screen,
    steps.Flow.PROFILE: _registration_screen,
    tasks.FLOW: _task_screen,
}
REPROMPT: Final[dict[str, Callable[[Conversation], str]]] = {
    steps.Flow.REGISTRATION: _registration_reprompt,
    steps.Flow.PROFILE: _registration_reprompt,
    tasks.FLOW: _task_reprompt,
}


def current_screen(conv: Conversation, notice: str | None = None) -> ui.Screen:
    return SCREEN[conv.flow](conv, notice)


def reprompt_id(conv: Conversation) -> str:
    return REPROMPT[conv.flow](conv)


def register(
    flow: str, *, text: Handler, screen: ScreenOf, reprompt: Callable[[Conversation], str]
) -> None:
    """For flows defined elsewhere (the coordinators' small flows)."""
    TEXT[flow] = text
    SCREEN[flow] = screen
    REPROMPT[flow] = reprompt
