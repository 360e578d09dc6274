"""The command line: two commands on a fresh machine, and clear refusals."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow


def _run(
    args: list[str], workdir: Path, stdin: str = "", **env: str
) -> subprocess.CompletedProcess[str]:
    clean = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("TELEGRAM_", "DATABASE_", "SMTP_", "MAIL_", "DEMO_"))
    }
    clean.update(PYTHONPATH=str(ROOT), **env)
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        cwd=workdir,
        env=clean,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_help_lists_the_commands(tmp_path):
    result = _run(["--help"], tmp_path)
    assert result.returncode == 0
    for command in ("run", "demo", "migrate", "start"):
        assert command in result.stdout


def test_run_without_a_token_refuses_with_exit_code_2_and_one_line(tmp_path):
    result = _run(["run"], tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0 and "TELEGRAM_BOT_TOKEN" in result.stderr
    assert not (tmp_path / "var").exists(), "a refused start must not touch anything"


@pytest.mark.parametrize(
    ("env", "name"),
    [
        ({"SMTP_PORT": "lots"}, "SMTP_PORT"),
        ({"TIMEZONE": "Mars/Olympus"}, "TIMEZONE"),
        ({"DATABASE_URL": "mysql://x"}, "DATABASE_URL"),
        ({"MAIL_BACKEND": "pigeon"}, "MAIL_BACKEND"),
        ({"TELEGRAM_BOT_TOKEN": "not-a-token"}, "TELEGRAM_BOT_TOKEN"),
    ],
)
def test_a_wrong_setting_stops_start_up_naming_the_setting(tmp_path, env, name):
    result = _run(["run"], tmp_path, **env)
    assert result.returncode == 2
    assert result.stderr.startswith(f"veileder: configuration error: {name}:")
    assert "Traceback" not in result.stderr and result.stderr.strip().count("\n") == 0


def test_settings_come_from_a_dotenv_file_too(tmp_path):
    (tmp_path / ".env").write_text("SMTP_SECURITY=carrier-pigeon\n")
    result = _run(["run"], tmp_path)
    assert result.returncode == 2 and "SMTP_SECURITY" in result.stderr


def test_migrate_creates_the_sqlite_database_under_var(tmp_path):
    result = _run(["migrate"], tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "var" / "veileder.db").exists()


class DemoSession:
    """Types into `python -m bot start` (the demo) like a person: reads the screen, then answers."""

    def __init__(self, workdir: Path, *args: str) -> None:
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("TELEGRAM_", "DATABASE_", "MAIL_"))
        }
        env.update(PYTHONPATH=str(ROOT), DEMO_LANGUAGE="en", DEMO_NAME="Demo Doctor")
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
        self.screen = self._read_screen()

    def _read_screen(self) -> str:
        assert self.process.stdout is not None
        screen = ""
        while not screen.endswith("] > "):
            char = self.process.stdout.read(1)
            if not char:
                break
            screen += char
        self.transcript += screen
        return screen

    def type(self, line: str) -> str:
        assert self.process.stdin is not None
        self.process.stdin.write(line + "\n")
        self.process.stdin.flush()
        self.screen = self._read_screen()
        return self.screen

    def press(self, label: str) -> str:
        numbers = re.findall(r"\[(\d+)\] ([^\n]*)", self.screen)
        chosen = [n for n, text in numbers if label in text]
        assert chosen, f"no button {label!r} on screen:\n{self.screen}"
        return self.type(chosen[-1])

    def close(self) -> int:
        assert self.process.stdin is not None
        self.process.stdin.close()
        self.transcript += self.process.stdout.read() if self.process.stdout else ""
        return self.process.wait(timeout=30)


def test_a_whole_registration_in_the_terminal_demo(tmp_path):
    demo = DemoSession(tmp_path)
    assert "Welcome to Veileder" in demo.screen
    demo.press("I agree")
    demo.press("Research")
    assert "Demo Doctor" in demo.screen
    demo.press("Yes")
    demo.press("Researcher")
    demo.type("Oslo universitetssykehus")
    demo.press("Oslo")
    demo.press("Epidemiology")
    demo.press("Done")
    screen = demo.type("demo@ous-hf.no")
    assert "📧 Email to demo@ous-hf.no: Your Veileder verification code" in screen
    code = re.search(r"^   \|\s+(\d{6})$", screen, re.MULTILINE).group(1)  # the echoed body
    assert "Step 8 of 8" in demo.type(code)
    demo.press("Skip")
    assert "Please check your details" in demo.screen
    assert "you are registered as a supervisor" in demo.press("Confirm")
    assert demo.close() == 0
    assert list((tmp_path / "var" / "mail").glob("*.eml"))


def test_a_whole_exchange_round_in_the_demo_as_supervisor_and_coordinator(tmp_path):
    """Issue 3's round: register, define a research task, the coordinator approves it, imports
    the demo slots, proposes one; the supervisor accepts and /slots shows it filled. The demo
    runs on a fixed date, so the seasons and reply-by dates on offer do not change with time."""
    demo = DemoSession(tmp_path, "demo", "--today", "2026-11-24")
    demo.press("I agree")
    demo.press("Research")
    demo.press("Yes")
    demo.press("Researcher")
    demo.type("Oslo universitetssykehus")
    demo.press("Oslo")
    demo.press("Epidemiology")
    demo.press("Done")
    screen = demo.type("demo@ous-hf.no")
    code = re.search(r"^   \|\s+(\d{6})$", screen, re.MULTILINE).group(1)
    demo.type(code)
    demo.press("Skip")
    demo.press("Confirm")
    demo.press("Define a task now")
    demo.type("Hip fracture registry")
    demo.type("A registry study of antibiotic use after hip fracture surgery in Oslo.")
    demo.press("Oslo")
    demo.press("Literature search")
    demo.press("Done")
    demo.press("Poster")
    demo.press("Done")
    demo.press("Plan and run")
    demo.press("Done")
    demo.press("4 weeks")
    demo.press("2026/27")
    demo.press("Mar 27")
    demo.press("Done")
    demo.press("1")
    demo.press("English is enough")
    demo.press("Skip")
    demo.type("Dr. Lise Berg")
    assert "sent to the exchange coordinators" in demo.press("Submit for approval")

    demo.type("/as coordinator")
    demo.type("/pending")
    assert "Hip fracture registry" in demo.screen
    demo.press("Approve")
    screen = demo.type("/upload slots-example.csv")
    assert "SCORE-2027-03-OSL-1" in screen or "11" in screen
    screen = demo.type("/propose SCORE-2027-03-OSL-1")
    assert "A student needs a supervisor" in screen  # delivered to the supervisor at once
    assert "📧 Email to demo@ous-hf.no: An exchange student needs a supervisor" in screen
    payload = re.search(r"\?start=(o_[A-Za-z0-9_-]+)", screen).group(1)

    demo.type("/as supervisor")
    demo.type(f"/start {payload}")  # the email's deep link opens the offer
    demo.press("Yes, I'll supervise")
    assert "the place is yours" in demo.screen
    assert "📧 Email to demo@ous-hf.no: Confirmed: you supervise SCORE-2027-03-OSL-1" in demo.screen
    demo.type("/as coordinator")
    screen = demo.type("/slots")
    assert (
        "SCORE-2027-03-OSL-1 Research, Oslo, from 2027-03-01, 4 weeks: 2 places, 1 filled" in screen
    )
    assert demo.close() == 0
    mails = sorted((tmp_path / "var" / "mail").glob("*.eml"))
    assert len(mails) == 3  # the code, the offer, the confirmation: answering stopped follow-ups

    preview = _run(
        [
            "digest",
            "preview",
            "--coordinator",
            "demo-coordinator@nmf.example",
            "--today",
            "2026-11-30",
        ],
        tmp_path,
    )
    assert preview.returncode == 0, preview.stderr
    text_file = next(Path(p) for p in preview.stdout.split() if p.endswith(".txt"))
    assert "SCORE-2027-03-OSL-1" in (tmp_path / text_file).read_text()
