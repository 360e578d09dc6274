"""Small readers used by the stories: what is stored, what was mailed."""

from __future__ import annotations

import re
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

from bot.core.context import Services
from storage import repository
from storage.models import Conversation, Supervisor


async def stored(services: Services, user_id: int) -> tuple[Conversation | None, Supervisor | None]:
    async with services.db.session() as session:
        return await repository.get_conversation(session, user_id), await repository.get_supervisor(
            session, user_id
        )


def mails(directory: Path) -> list[EmailMessage]:
    return [
        message_from_bytes(path.read_bytes(), _class=EmailMessage, policy=policy.default)  # type: ignore[misc]
        for path in sorted(directory.glob("*.eml"))
    ]


def code_in(message: EmailMessage) -> str:
    body = message.get_body(preferencelist=("plain",))
    assert body is not None
    match = re.search(r"^\s+(\d{6})\s*$", body.get_content(), re.MULTILINE)
    assert match, "no code in the email"
    return match.group(1)


def link_token_in(message: EmailMessage) -> str:
    body = message.get_body(preferencelist=("plain",))
    assert body is not None
    match = re.search(r"\?start=(v_[A-Za-z0-9_-]+)", body.get_content())
    assert match, "no one-tap link in the email"
    return match.group(1)
