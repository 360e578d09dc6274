"""The benchmarks run: the quick mail benchmark produces its section with figures. No timing is
asserted here (figures depend on the machine); `make bench` is where they are read."""

from __future__ import annotations

import re

from bench import growth, mail


async def test_the_quick_mail_benchmark_produces_a_section_with_figures() -> None:
    section = await mail.run(quick=True)
    assert section.startswith("## Mail")
    for variant in ("outbox (OutboxSender)", "one reused connection", "a connection per email"):
        row = next(line for line in section.splitlines() if variant in line)
        assert re.search(r"\| \d+ \| [\d.]+ \| \d+ \|", row), row
    assert section.count("met") >= 2  # a verdict beside each target


async def test_the_quick_growth_benchmark_produces_a_section_with_figures() -> None:
    section = await growth.run(quick=True)
    assert section.startswith("## Growth")
    for operation in (
        "propose one slot",
        "reminder sweep, night",
        "reminder sweep, working hours",
        "/slots (national)",
        "digest preview (national)",
        "digest sweep",
        "season check, one run",
    ):
        row = next(line for line in section.splitlines() if f"| {operation} |" in line)
        assert re.search(r"\| [\d.]+ \| \d+ \| \d+ \| \d+ \|$", row), row
    assert "met" in section
