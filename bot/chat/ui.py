"""What the bot shows, described as data (`Screen`) and turned into Bot API calls in one place.

Conversations build `Screen`s; only this module knows about keyboards, signing callback data,
HTML parse mode, Telegram's "message is not modified" rule and its size limits: a screen too
long for one message (4096 visible UTF-16 units, 100 buttons) goes out as several, cut between
lines (`bot.chat.chunks`), its buttons under the last of them. Lists that grow with data cut
themselves into messages where each line keeps its own buttons (`/slots`) or into pages
(`/tasks`); this is the net under everything else.
"""

from __future__ import annotations

from typing import Any, Final

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

from bot.chat import chunks
from bot.core.screen import Button, KeyButton, Screen
from bot.domain.signing import encode_callback

# Screens are neutral data (`bot.core.screen`); chat code keeps naming them `ui.Screen`.
__all__ = [
    "MORE_BUTTONS",
    "Button",
    "KeyButton",
    "Markup",
    "Screen",
    "close",
    "in_place",
    "markup",
    "parts",
    "replace",
    "send",
]


Markup = InlineKeyboardMarkup | ReplyKeyboardMarkup | ReplyKeyboardRemove | None
# What stands in as the text of a message that only carries more of a screen's buttons.
MORE_BUTTONS: Final = "⋯"


def parts(screen: Screen) -> list[Screen]:
    """The screen as messages Telegram accepts: the text cut between lines, the buttons in
    groups of at most 100 under the last parts, a reply keyboard with the last one."""
    count = sum(len(row) for row in screen.buttons)
    if chunks.fits(screen.text) and count <= chunks.MAX_BUTTONS:
        return [screen]
    texts = chunks.split_text(screen.text) or [MORE_BUTTONS]
    groups = chunks.split_rows(screen.buttons)
    texts += [MORE_BUTTONS] * (len(groups) - len(texts))
    offset = len(texts) - len(groups)
    result = [
        Screen(text, groups[i - offset] if i >= offset else []) for i, text in enumerate(texts)
    ]
    result[-1].keyboard = screen.keyboard
    result[-1].remove_keyboard = screen.remove_keyboard
    return result


def in_place(screen: Screen) -> bool:
    """Whether the screen can be drawn by editing one message: it fits into one, and carries
    no reply keyboard (an edit takes inline buttons only)."""
    one = chunks.fits(screen.text) and sum(len(row) for row in screen.buttons) <= chunks.MAX_BUTTONS
    return one and not screen.keyboard and not screen.remove_keyboard


def _inline(button: Button, *, secret: bytes, user_id: int) -> InlineKeyboardButton:
    if button.callback is None:
        return InlineKeyboardButton(button.label, url=button.url)
    data = encode_callback(button.callback, secret=secret, user_id=user_id)
    return InlineKeyboardButton(button.label, callback_data=data)


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
            [[_inline(b, secret=secret, user_id=user_id) for b in row] for row in screen.buttons]
        )
    if screen.remove_keyboard:
        return ReplyKeyboardRemove()
    return None


async def send(
    bot: Bot,
    chat_id: int,
    screen: Screen,
    *,
    secret: bytes,
    user_id: int,
    pacing: dict[str, Any] | None = None,
) -> Message:
    """Send the screen (as several messages if it is too big for one); the last one is returned,
    the one with the buttons. `pacing` is passed on to each send (`bot.chat.pacing.bulk`)."""
    sent: Message | None = None
    for part in parts(screen):
        sent = await bot.send_message(
            chat_id,
            part.text,
            parse_mode=ParseMode.HTML,
            reply_markup=markup(part, secret=secret, user_id=user_id),
            disable_web_page_preview=True,
            **(pacing or {}),
        )
    assert sent is not None  # `parts` never returns an empty list
    return sent


async def _send_rest(
    query: CallbackQuery, rest: list[Screen], *, secret: bytes, user_id: int
) -> None:
    """What did not fit into an edited message follows it as new messages."""
    message = query.message
    if not rest or not isinstance(message, Message):
        return
    for part in rest:
        await send(query.get_bot(), message.chat_id, part, secret=secret, user_id=user_id)


async def replace(query: CallbackQuery, screen: Screen, *, secret: bytes, user_id: int) -> None:
    """Show `screen` in place of the message a button was pressed on, if anything changed."""
    message = query.message
    if not isinstance(message, Message):
        return
    screen, *rest = parts(screen)
    new_markup = markup(screen, secret=secret, user_id=user_id)
    inline = new_markup if isinstance(new_markup, InlineKeyboardMarkup) else None
    if message.text_html == screen.text and message.reply_markup == inline:
        return  # a double tap: the rest, if any, followed the first time
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
    await _send_rest(query, rest, secret=secret, user_id=user_id)


async def close(query: CallbackQuery, text: str) -> None:
    """Freeze an answered prompt: keep its text (plus the answer) and drop its buttons. An
    answer that makes the text too long for one message follows it in a new one."""
    message = query.message
    if not isinstance(message, Message):
        return
    first, *rest = chunks.split_text(text) or [text]
    if message.text_html == first and message.reply_markup is None:
        return
    try:
        await query.edit_message_text(
            first, parse_mode=ParseMode.HTML, disable_web_page_preview=True
        )
    except BadRequest as exc:
        if "not modified" not in exc.message.lower():
            raise
    for part in rest:
        await query.get_bot().send_message(
            message.chat_id, part, parse_mode=ParseMode.HTML, disable_web_page_preview=True
        )
