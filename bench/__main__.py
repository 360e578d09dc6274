"""`python -m bench [--quick] [--full] [--only NAME ...] [--output PATH]`: run the benchmarks and
write their sections, under a header naming the machine, to bench/RESULTS.md (or `--output`)."""

from __future__ import annotations

import argparse
import asyncio
import importlib
import os
import platform
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

# Each name is a module bench/<name>.py with `async def run(quick: bool) -> str`.
MODULES = ["mail", "pacing", "growth", "chat", "crash", "memory"]
RESULTS = Path(__file__).resolve().parent / "RESULTS.md"


def header(quick: bool) -> str:
    """What makes figures from two runs comparable: when, on how many cores, which Python."""
    lines = [
        "# Benchmark results",
        "",
        "Written by `make bench` (`python -m bench`); each section compares its variants side by"
        " side in the same run.",
        "",
        f"- Date: {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')}",
        f"- Machine: {os.cpu_count()} cores, {platform.machine()}, {platform.system()}",
        f"- Python: {platform.python_version()} ({platform.python_implementation()})",
    ]
    if quick:
        lines.append("- Mode: quick (small sizes, a smoke run: the figures mean little)")
    return "\n".join(lines) + "\n"


async def run_all(names: list[str], quick: bool) -> list[str]:
    sections = []
    for name in names:
        module = importlib.import_module(f"bench.{name}")
        started = time.monotonic()
        print(f"running {name}...", file=sys.stderr, flush=True)
        section = await module.run(quick)
        print(f"{name} done in {time.monotonic() - started:.1f} s", file=sys.stderr, flush=True)
        print(section, flush=True)
        sections.append(section.strip() + "\n")
    return sections


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke run")
    parser.add_argument(
        "--full", action="store_true", help="the largest sizes too (growth: 100k; BENCH_FULL=1)"
    )
    parser.add_argument("--only", nargs="+", choices=MODULES, help="run only these")
    parser.add_argument("--output", type=Path, default=RESULTS, help="where to write the results")
    parser.add_argument("--no-write", action="store_true", help="print only, write no file")
    args = parser.parse_args(argv)
    if args.full:
        os.environ["BENCH_FULL"] = "1"
    sections = asyncio.run(run_all(args.only or MODULES, args.quick))
    if not args.no_write:
        text = header(args.quick) + "\n" + "\n".join(sections)
        args.output.write_text(text)
        print(f"wrote {args.output}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
