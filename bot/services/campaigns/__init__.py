"""Bringing supervisors back: one invitation to people who supervised before the bot existed
(`invitations`), and before each season one "same as last season?" to registered supervisors
(`season_check`); their deep links are in `links`.

The package names everything its callers use (the CLI, the chat's campaign flow, the unsubscribe
endpoint), so they need not know which module holds what.
"""

from __future__ import annotations

from bot.services.campaigns.invitations import (
    DECLINED,
    InviteReport,
    InviteRow,
    accept_invitation,
    decline_invitation,
    invitation_link_usable,
    invite,
    parse_invitations,
    queue_invitation,
    reply_to,
)
from bot.services.campaigns.links import (
    DECLINE_PREFIX,
    INVITE_PREFIX,
    SEASON_PREFIX,
    decline_payload,
    invite_payload,
    link,
    parse_invite,
    parse_season,
    season_payload,
)
from bot.services.campaigns.season_check import (
    SCOPE,
    Answer,
    Outcome,
    SeasonAnswer,
    answer_season,
    check_opens,
    coming_season,
    season_check_sweep,
    season_label,
    season_screen,
    season_start,
    season_to_ask,
    shifted,
    still_open,
)

__all__ = [
    "DECLINED",
    "DECLINE_PREFIX",
    "INVITE_PREFIX",
    "SCOPE",
    "SEASON_PREFIX",
    "Answer",
    "InviteReport",
    "InviteRow",
    "Outcome",
    "SeasonAnswer",
    "accept_invitation",
    "answer_season",
    "check_opens",
    "coming_season",
    "decline_invitation",
    "decline_payload",
    "invitation_link_usable",
    "invite",
    "invite_payload",
    "link",
    "parse_invitations",
    "parse_invite",
    "parse_season",
    "queue_invitation",
    "reply_to",
    "season_check_sweep",
    "season_label",
    "season_payload",
    "season_screen",
    "season_start",
    "season_to_ask",
    "shifted",
    "still_open",
]
