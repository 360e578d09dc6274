"""Counting what a path costs a person, and what each of their answers costs the bot: every
update they send (a tap, a typed message, a command, a shared contact) is one answer, counted
by the code as the story runs, never by hand; so are the Bot API calls, SQL statements and
commits the bot makes while it handles those answers (issue 10: fewer round trips per answer).

A story wraps the part it measures in `measure(chat, path, target)`; the count of answers is
asserted against the target (the test fails if a path costs more) and kept, with the bot's
costs, for the effort table. `bench/EFFORT.md` is that table: run
`VEILEDER_WRITE_EFFORT=1 make test` (or the effort tests alone) to rewrite it from the counts.

The bot's costs are counted only while an answer is being handled (`Chat.deliver_update`
returns when the update and every task it started are done), so a test's own work in the block
(running the outbox sender, reading the database) is not charged to the bot. Calls are what the
bot sends to the Bot API (`getUpdates` and `deleteWebhook`, the polling loop's, are not an
answer's); statements and commits are counted on every SQLAlchemy engine of the process, read
transactions included.
"""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine

from tests.support.chat import Chat

ROOT = Path(__file__).resolve().parents[2]
TABLE = ROOT / "bench" / "EFFORT.md"
# Counts from every test process (xdist runs several) meet here before the table is written.
COUNTS = ROOT / ".pytest_cache" / "effort"
POLLING = frozenset({"getUpdates", "deleteWebhook"})
# Per answer before issue 10's item 4 (fewer round trips), measured with this counter at
# BEFORE_COMMIT: (calls, round trips, statements, commits). History for the table, not a target.
BEFORE_COMMIT = "1006c8b"
BEFORE: dict[str, tuple[float, float, float, float]] = {
    "Clinical task, typical path": (2.50, 2.50, 4.88, 3.12),
    "Research task from a template": (2.00, 2.00, 5.40, 3.20),
    "Research task, typical path": (2.40, 2.40, 4.70, 3.10),
    "Task copied from last season": (1.80, 1.80, 5.40, 3.00),
    "registration (typical path)": (2.30, 2.30, 5.10, 3.00),
    "registration from an invitation's Yes": (2.80, 2.80, 5.00, 3.40),
}


@dataclass
class Count:
    path: str
    target: int
    answers: int = 0
    calls: int = 0  # Bot API calls made while handling the answers
    trips: int = 0  # of them, the ones waited for one after another (concurrent calls: one)
    statements: int = 0  # SQL statements executed meanwhile
    commits: int = 0  # transactions committed meanwhile

    def per_answer(self, total: int) -> float:
        return total / self.answers if self.answers else 0.0


@asynccontextmanager
async def measure(chat: Chat, path: str, target: int) -> AsyncIterator[Count]:
    """Count the person's updates inside the block, and what handling them cost the bot; fail
    when the path exceeds its target."""
    count = Count(path, target)
    deliver = chat.deliver_update
    handling = False

    def statement(*_: Any) -> None:
        if handling:
            count.statements += 1

    def commit(*_: Any) -> None:
        if handling:
            count.commits += 1

    async def counted(update: dict[str, object]) -> dict[str, object]:
        nonlocal handling
        count.answers += 1
        before, trips = len(chat.fake.calls), chat.fake.round_trips
        handling = True
        try:
            return await deliver(update)  # type: ignore[arg-type]
        finally:
            handling = False
            made = chat.fake.calls[before:]
            count.calls += sum(1 for call in made if call.method not in POLLING)
            count.trips += chat.fake.round_trips - trips

    event.listen(Engine, "before_cursor_execute", statement)
    event.listen(Engine, "commit", commit)
    chat.deliver_update = counted  # type: ignore[method-assign]
    try:
        yield count
    finally:
        chat.deliver_update = deliver  # type: ignore[method-assign]
        event.remove(Engine, "before_cursor_execute", statement)
        event.remove(Engine, "commit", commit)
    _keep(count)
    assert count.answers <= target, f"{path}: {count.answers} answers, target {target}"


def _keep(count: Count) -> None:
    if os.environ.get("VEILEDER_WRITE_EFFORT") != "1":
        return
    COUNTS.mkdir(parents=True, exist_ok=True)
    name = "".join(c if c.isalnum() else "_" for c in count.path)
    row = {
        "path": count.path,
        "target": count.target,
        "answers": count.answers,
        "calls": count.calls,
        "trips": count.trips,
        "statements": count.statements,
        "commits": count.commits,
    }
    (COUNTS / f"{name}.json").write_text(json.dumps(row))


def clear() -> None:
    """Forget the counts of an earlier run, so the table shows only this one."""
    if COUNTS.is_dir():
        for old in COUNTS.glob("*.json"):
            old.unlink()


def _each(row: dict[str, Any], key: str) -> str:
    return f"{row.get(key, 0) / row['answers']:.2f}" if row["answers"] else "—"


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
    lines += [
        "",
        "## What each answer costs the bot",
        "",
        "Per answer on the same paths, counted while the bot handles them (SQLite): Bot API",
        "calls (a button's answer to Telegram, edits and sends), round trips (calls waited for",
        "one after another; calls made together count once), SQL statements and commits (read",
        "transactions included, and the per-update UPDATE that marks the chat reachable). The",
        f"figures before issue 10's item 4 ({BEFORE_COMMIT}, same counter) follow each as",
        '"now (before)".',
        "",
        "| path | Bot API calls | round trips | SQL statements | commits |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for r in rows:
        was = BEFORE.get(r["path"])
        cells = []
        for i, key in enumerate(("calls", "trips", "statements", "commits")):
            cell = _each(r, key)
            if was is not None:
                cell += f" ({was[i]:.2f})"
            cells.append(cell)
        lines.append(f"| {r['path']} | {' | '.join(cells)} |")
    TABLE.write_text("\n".join(lines) + "\n")
