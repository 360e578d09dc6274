"""What the bot shows, as neutral data: a text from the catalogs (HTML), buttons carrying signed
`Callback` data or a URL to open, and optionally a reply keyboard.

Services compose `Screen`s (an offer, the season question, a coordinator's notice) without
knowing about Telegram; only the chat adapter (`bot.chat.ui`) turns them into Bot API calls,
signs the callbacks and cuts what is too long for one message.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from bot.domain.signing import Callback


@dataclass(frozen=True)
class Button:
    """An inline button: a signed `callback` for us, or a `url` Telegram opens itself (a share
    link); exactly one of them, as the Bot API wants."""

    label: str
    callback: Callback | None = None
    url: str | None = None

    def __post_init__(self) -> None:
        if (self.callback is None) == (self.url is None):
            raise ValueError(f"button {self.label!r}: a callback or a url, not both or neither")


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
