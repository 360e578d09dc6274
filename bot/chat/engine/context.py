"""What a row's own hook (sending a code, checking one) may use: the open transaction, the
services and the draft it belongs to."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.context import Services
from bot.core.i18n import Translator
from storage.models import Conversation


@dataclass(frozen=True)
class Ctx:
    session: AsyncSession
    svc: Services
    conv: Conversation

    @property
    def tr(self) -> Translator:
        return Translator(self.conv.language)
