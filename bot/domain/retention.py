"""How long an inactive supervisor's data is kept: pure dates, tested directly.

"Activity" is anything a supervisor does in the chat (a message or a button press, recorded at
most once a day, `storage.privacy.touch`); registering is their first. A "season" is the
exchange season of `bot.domain.season`, April to March. A supervisor whose last activity lies
before the start of the season `inactive_seasons` before the current one has let that many whole
seasons pass without any (with the default 2: last active in March 2027, season 2026; seasons
2027 and 2028 pass; asked from 1 April 2029). They are asked once whether to stay; any activity
since (the "stay" button, or anything else they do) starts the clock again, and no answer within
`answer_days` erases them as `/delete` does.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from bot.domain.season import FIRST_MONTH, season_of


def inactive_before(today: date, inactive_seasons: int) -> date:
    """The first day of the season `inactive_seasons` before today's: activity only before it
    means that many whole seasons (and the current one so far) passed without any."""
    return date(season_of(today) - inactive_seasons, FIRST_MONTH, 1)


def is_inactive(last_activity: date, today: date, inactive_seasons: int) -> bool:
    return last_activity < inactive_before(today, inactive_seasons)


def erase_after(asked_at: datetime, answer_days: int) -> datetime:
    """When an unanswered question's supervisor is erased."""
    return asked_at + timedelta(days=answer_days)
