"""Benchmarks of issue 10: `make bench` (`python -m bench`) runs them and writes RESULTS.md.

A benchmark is a module `bench/<name>.py` with `async def run(quick: bool) -> str`, returning a
Markdown section (`## <Title>`, the figures beside the targets, "met"/"not met" for each). Each
runs the variants it compares side by side in one run, so a busy machine slows them alike.
`quick=True` is a small version for the smoke test; no timing is ever asserted in the tests.
"""
