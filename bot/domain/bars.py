"""Fill rates and their text bars ("█████░░░░░ 50%"): the digest's places by month and the
reciprocity meter read the same way. Pure."""

from __future__ import annotations

from typing import Final

BAR_CELLS: Final = 10
FULL: Final = "█"
EMPTY: Final = "░"


def fill_percent(filled: int, places: int) -> int:
    """Filled share in whole percent, rounded down: 100 only when every place is filled."""
    if places <= 0:
        return 0
    return min(100, max(0, filled) * 100 // places)


def text_bar(filled: int, places: int, cells: int = BAR_CELLS) -> str:
    """ "█████░░░░░ 50%": the fill rate for a plain-text email."""
    full = 0 if places <= 0 else min(cells, max(0, filled) * cells // places)
    return f"{FULL * full}{EMPTY * (cells - full)} {fill_percent(filled, places)}%"
