"""The reminder sweep issues the same number of SQL statements whatever the number of
supervisors (no query per supervisor). A count, not a timing: it may be asserted."""

from __future__ import annotations

from pathlib import Path

from bench import growth

SWEEPS = ("reminder sweep, night", "reminder sweep, working hours")


async def test_the_reminder_sweep_costs_as_many_statements_at_20_as_at_200(
    tmp_path: Path,
) -> None:
    small = await growth.one_size(20, tmp_path)
    large = await growth.one_size(200, tmp_path)
    for name in SWEEPS:
        assert small.figures[name].statements == large.figures[name].statements, name
    # It did work at both sizes: emails queued and follow-ups nudged.
    assert (
        small.figures["reminder sweep, working hours"].result == "8 emails, 3 nudges"
    )  # 2 from propose
    assert large.figures["reminder sweep, working hours"].result == "62 emails, 30 nudges"
    assert large.figures["reminder sweep, night"].statements == 0
