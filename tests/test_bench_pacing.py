"""The pacing benchmark's quick run works and reports its figures (never its timings)."""

from __future__ import annotations

from bench import pacing


async def test_the_quick_pacing_benchmark_reports_its_figures():
    section = await pacing.run(quick=True)
    assert section.startswith("## Pacing")
    for figure in ("Achieved rate", "429 answers", "one chat", "Interactive reply latency"):
        assert figure in section
