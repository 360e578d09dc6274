"""Plays the terminal demo (`python -m bot start` / `demo`) in a subprocess like a person: reads
the screen up to the prompt, then types a line or presses a numbered button."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent


class DemoSession:
    """What the terminal shows is kept twice: `transcript` (everything, including the typed
    lines the demo echoes) and `shown` (only what the demo printed), with `typed` beside it."""

    def __init__(self, workdir: Path, *args: str, name: str = "Demo Doctor") -> None:
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("TELEGRAM_", "DATABASE_", "MAIL_"))
        }
        env.update(PYTHONPATH=str(ROOT), DEMO_LANGUAGE="en", DEMO_NAME=name)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bot", *(args or ("start",))],
            cwd=workdir,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            bufsize=1,
        )
        self.transcript = ""
        self.shown = ""
        self.typed: list[str] = []
        self.screen = self._read_screen()

    def _read_screen(self, echo: str = "") -> str:
        assert self.process.stdout is not None
        screen = ""
        while not screen.endswith("] > "):
            char = self.process.stdout.read(1)
            if not char:
                break
            screen += char
        self.transcript += screen
        self.shown += screen.removeprefix(echo)
        return screen

    @property
    def prompt(self) -> str:
        """The name the prompt shows, e.g. "Demo Doctor" for `[Demo Doctor] > `."""
        return self.screen.rsplit("\n[", 1)[-1].removesuffix("] > ")

    def type(self, line: str) -> str:
        assert self.process.stdin is not None
        self.typed.append(line)
        self.process.stdin.write(line + "\n")
        self.process.stdin.flush()
        self.screen = self._read_screen(echo=line + "\n")
        return self.screen

    def button(self, label: str) -> str:
        """The number of the last button on screen whose label contains `label`."""
        numbers = re.findall(r"\[(\d+)\] ([^\n]*)", self.screen)
        chosen = [n for n, text in numbers if label in text]
        assert chosen, f"no button {label!r} on screen:\n{self.screen}"
        return chosen[-1]

    def press(self, label: str) -> str:
        return self.type(self.button(label))

    def close(self) -> int:
        assert self.process.stdin is not None
        self.process.stdin.close()
        rest = self.process.stdout.read() if self.process.stdout else ""
        self.transcript += rest
        self.shown += rest
        return self.process.wait(timeout=30)


def register(demo: DemoSession, *, name: str | None = None) -> None:
    """The shortest registration as a researcher in Oslo (`name`: typed on the summary instead
    of the Telegram name)."""
    demo.press("I agree")
    demo.press("Research")
    demo.press("Researcher")
    demo.type("Oslo universitetssykehus")
    demo.press("Oslo")
    demo.press("Epidemiology")
    screen = demo.type("demo@ous-hf.no")
    found = re.search(r"^   \|\s+(\d{6})$", screen, re.MULTILINE)  # the echoed body
    assert found, screen
    demo.type(found.group(1))
    if name is not None:
        demo.press("Name")
        demo.type(name)
    demo.press("Confirm")


def research_task(demo: DemoSession, *, description: str, backup: str) -> None:
    """`/newtask`: a 4-week literature search in Oslo in March 2027, up to its summary."""
    demo.type("/newtask")
    demo.type("Hip fracture registry")
    demo.type(description)
    demo.press("Literature search")  # the city is the profile's (Oslo)
    demo.press("Done")
    demo.press("Poster")
    demo.press("Done")
    demo.press("Plan and run")
    demo.press("Done")
    demo.press("4 weeks")
    demo.press("Mar 27")  # the season is the first one open (2026/27)
    demo.press("Done")
    demo.press("Backup contact")  # one at a time, English enough: defaults on the summary
    demo.type(backup)
    assert "Submit for approval" in demo.screen, demo.screen
