"""The chat rate limiter on virtual time, for in-process tests: requests keep the order the
limiter gives them, its pauses take no time."""

from __future__ import annotations

from bot.chat.pacing import ChatLimiter, VirtualTimer


def virtual_limiter() -> ChatLimiter:
    return ChatLimiter(timer=VirtualTimer())
