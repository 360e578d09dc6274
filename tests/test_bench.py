"""The benchmarks run: the quick versions produce their sections with figures. No timing is
asserted here (figures depend on the machine); `make bench` is where they are read."""

from __future__ import annotations

import re

from bench import chat, crash, growth, mail, memory


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


async def test_the_quick_chat_benchmark_lets_everyone_register_in_both_variants() -> None:
    section = await chat.run(quick=True)
    assert section.startswith("## Chat load")
    for variant in ("stock, paused", "ours, paused", "stock, no pauses", "ours, no pauses"):
        row = next(line for line in section.splitlines() if line.startswith(f"| {variant} |"))
        assert re.search(r"\| 3 of 3 \| 3 \| 9 \| [\d.]+ \| [\d.]+ \| [\d,]+ ms \|", row), row
    targets = section.split("| target |")[1]
    assert "| everyone finished, replies in order, no error | yes | all | met |" in targets
    assert targets.count("met |") == 5  # a verdict beside each target


async def test_the_quick_crash_benchmark_stores_every_answer_across_a_kill() -> None:
    """Whether each answer got its reply depends on where the kill lands (a kill between
    freezing the tapped message and sending the next question loses the question), so only
    the inbox's part is asserted: every answer given was stored and is done."""
    section = await crash.run(quick=True)
    assert section.startswith("## Crash")
    assert "killed with SIGKILL 1 times" in section
    assert re.search(
        r"\| answers stored in the inbox, once, and done \| (\d+) of \1, 0 not done \| all \| met",
        section,
    )
    for figure in ("people who completed registration", "answers that got their reply"):
        assert re.search(rf"\| {figure}[^|]* \| \d+ of \d+ \| all \| (not )?met \|", section)
    assert re.search(r"\| duplicate replies \| \d+ \| 0 \| (not )?met \|", section)


async def test_the_quick_memory_benchmark_reads_the_bots_resident_memory() -> None:
    section = await memory.run(quick=True)
    assert section.startswith("## Memory")
    assert re.search(r"\| idle \| \d+\.\d MB \| < 150 MB \| (not )?met \|", section)
    assert re.search(r"\| growth over 4 registrations .* \| [+-]\d+\.\d MB \|", section)
    assert "| registrations | 4 (0 failed) | 2,000 | not met |" in section
