"""Counting what a path costs a person: every update they send (a tap, a typed message, a
command, a shared contact) is one answer, counted by the code as the story runs, never by hand.

A story wraps the part it measures in `measure(chat, path, target)`; the count is asserted
against the target (the test fails if a path costs more) and kept for the effort table.
`bench/EFFORT.md` is that table: run `VEILEDER_WRITE_EFFORT=1 make test` (or the effort tests
alone) to rewrite it from the counts.
"""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.support.chat import Chat

ROOT = Path(__file__).resolve().parents[2]
TABLE = ROOT / "bench" / "EFFORT.md"
# Counts from every test process (xdist runs several) meet here before the table is written.
COUNTS = ROOT / ".pytest_cache" / "effort"


@dataclass
class Count:
    path: str
    target: int
    answers: int = 0


@asynccontextmanager
async def measure(chat: Chat, path: str, target: int) -> AsyncIterator[Count]:
    """Count the person's updates inside the block; fail when the path exceeds its target."""
    count = Count(path, target)
    deliver = chat.deliver_update

    async def counted(update: dict[str, object]) -> dict[str, object]:
        count.answers += 1
        return await deliver(update)  # type: ignore[arg-type]

    chat.deliver_update = counted  # type: ignore[method-assign]
    try:
        yield count
    finally:
        chat.deliver_update = deliver  # type: ignore[method-assign]
    _keep(count)
    assert count.answers <= target, f"{path}: {count.answers} answers, target {target}"


def _keep(count: Count) -> None:
    if os.environ.get("VEILEDER_WRITE_EFFORT") != "1":
        return
    COUNTS.mkdir(parents=True, exist_ok=True)
    name = "".join(c if c.isalnum() else "_" for c in count.path)
    (COUNTS / f"{name}.json").write_text(
        json.dumps({"path": count.path, "target": count.target, "answers": count.answers})
    )


def clear() -> None:
    """Forget the counts of an earlier run, so the table shows only this one."""
    if COUNTS.is_dir():
        for old in COUNTS.glob("*.json"):
            old.unlink()


def write_table() -> None:
    """bench/EFFORT.md from the kept counts (called at the end of a test session)."""
    if os.environ.get("VEILEDER_WRITE_EFFORT") != "1" or not COUNTS.is_dir():
        return
    rows = sorted(
        (json.loads(p.read_text()) for p in COUNTS.glob("*.json")), key=lambda r: r["path"]
    )
    lines = [
        "# Effort: what each path costs a person",
        "",
        "Counted by the tests (`tests/support/effort.py`) through the real application: every",
        "tap, typed message, command or shared contact is one answer, the entry tap and the",
        "submit included. A test fails when a path costs more than its target.",
        "Regenerate with `VEILEDER_WRITE_EFFORT=1 make test`.",
        "",
        "| path | answers | target | |",
        "| --- | ---: | ---: | --- |",
    ]
    for r in rows:
        ok = "met" if r["answers"] <= r["target"] else "NOT MET"
        lines.append(f"| {r['path']} | {r['answers']} | {r['target']} | {ok} |")
    TABLE.write_text("\n".join(lines) + "\n")
