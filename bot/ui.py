"""What the bot shows, described as data (`Screen`) and turned into Bot API calls in one place.

Conversations build `Screen`s; only this module knows about keyboards, signing callback data,
HTML parse mode and Telegram's "message is not modified" rule.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from telegram import (
    Bot,
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    Message,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
)
from telegram.constants import ParseMode
from telegram.error import BadRequest

from bot.signing import Callback, encode_callback


@dataclass(frozen=True)
class Button:
    label: str
    callback: Callback


@dataclass(frozen=True)
class KeyButton:
    """A reply-keyboard button; `contact` asks Telegram to share the person's own number."""

    label: str
    contact: bool = False


@dataclass
class Screen:
    text: str
    buttons: list[list[Button]] = field(default_factory=list)
    keyboard: list[list[KeyButton]] | None = None
    remove_keyboard: bool = False


Markup = InlineKeyboardMarkup | ReplyKeyboardMarkup | ReplyKeyboardRemove | None


def markup(screen: Screen, *, secret: bytes, user_id: int) -> Markup:
    if screen.keyboard:
        return ReplyKeyboardMarkup(
            [
                [KeyboardButton(b.label, request_contact=b.contact) for b in row]
                for row in screen.keyboard
            ],
            resize_keyboard=True,
            one_time_keyboard=True,
        )
    if screen.buttons:
        return InlineKeyboardMarkup(
            [
                [
                    InlineKeyboardButton(
                        b.label,
                        callback_data=encode_callback(b.callback, secret=secret, user_id=user_id),
                    )
                    for b in row
                ]
                for row in screen.buttons
            ]
        )
    if screen.remove_keyboard:
        return ReplyKeyboardRemove()
    return None


async def send(bot: Bot, chat_id: int, screen: Screen, *, secret: bytes, user_id: int) -> Message:
    return await bot.send_message(
        chat_id,
        screen.text,
        parse_mode=ParseMode.HTML,
        reply_markup=markup(screen, secret=secret, user_id=user_id),
        disable_web_page_preview=True,
    )


async def replace(query: CallbackQuery, screen: Screen, *, secret: bytes, user_id: int) -> None:
    """Show `screen` in place of the message a button was pressed on, if anything changed."""
    message = query.message
    if not isinstance(message, Message):
        return
    new_markup = markup(screen, secret=secret, user_id=user_id)
    inline = new_markup if isinstance(new_markup, InlineKeyboardMarkup) else None
    if message.text_html == screen.text and message.reply_markup == inline:
        return
    try:
        if message.text_html == screen.text:
            await query.edit_message_reply_markup(reply_markup=inline)
        else:
            await query.edit_message_text(
                screen.text,
                parse_mode=ParseMode.HTML,
                reply_markup=inline,
                disable_web_page_preview=True,
            )
    except BadRequest as exc:
        # A double tap can race its own edit; "not modified" then means the screen is right.
        if "not modified" not in exc.message.lower():
            raise


async def close(query: CallbackQuery, text: str) -> None:
    """Freeze an answered prompt: keep its text (plus the answer) and drop its buttons."""
    message = query.message
    if not isinstance(message, Message):
        return
    if message.text_html == text and message.reply_markup is None:
        return
    try:
        await query.edit_message_text(
            text, parse_mode=ParseMode.HTML, disable_web_page_preview=True
        )
    except BadRequest as exc:
        if "not modified" not in exc.message.lower():
            raise
