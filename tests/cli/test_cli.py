"""The command line: two commands on a fresh machine, and clear refusals."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.demo import DemoSession, register, research_task

ROOT = Path(__file__).resolve().parents[2]
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


def test_a_whole_registration_in_the_terminal_demo(tmp_path):
    demo = DemoSession(tmp_path)
    assert "Welcome to Veileder" in demo.screen
    demo.press("I agree")
    demo.press("Research")
    demo.press("Researcher")
    demo.type("Oslo universitetssykehus")
    demo.press("Oslo")
    demo.press("Epidemiology")
    screen = demo.type("demo@ous-hf.no")
    assert "📧 Email to demo@ous-hf.no: Your Veileder verification code" in screen
    code = re.search(r"^   \|\s+(\d{6})$", screen, re.MULTILINE).group(1)  # the echoed body
    assert "Please check your details" in demo.type(code)
    assert "Demo Doctor" in demo.screen
    assert "you are registered as a supervisor" in demo.press("Confirm")
    assert demo.close() == 0
    assert list((tmp_path / "var" / "mail").glob("*.eml"))


def test_a_whole_exchange_round_in_the_demo_shows_text_never_markup(tmp_path):
    """The README's round, typed into the demo: register, define a research task (and change an
    answer on its summary), the coordinator approves it, adds a place and imports the demo
    slots, proposes one; the supervisor accepts it on the offer that arrived while they were
    not playing, and /slots shows it filled. On a fixed date, so seasons and reply-by dates do
    not change with time. Nowhere does the terminal show a tag or an HTML entity, except in what
    the person typed (which they see as typed)."""
    description = "Antibiotics <48 h & >48 h after hip fracture surgery"
    backup = "Dr. Lise Berg & Dr. Ola <Nordmann>"
    demo = DemoSession(tmp_path, "demo", "--today", "2026-11-24")
    register(demo)
    research_task(demo, description=description, backup="Dr. Lise Berg")
    demo.press("Backup contact")
    assert backup in demo.type(backup)
    assert description in demo.screen
    assert "sent to the exchange coordinators" in demo.press("Submit for approval")

    demo.type("/as coordinator")
    demo.type("/pending")
    assert "Hip fracture registry" in demo.screen
    assert "Approved" in demo.press("Approve")
    demo.type("/addslot")
    demo.type("SCORE-2027-05-BGO-9")
    demo.press("Research")
    demo.press("Bergen")
    demo.type("2027-05-03")
    demo.press("4 weeks")
    demo.press("2")
    demo.press("No preference")
    demo.type("Sweden")
    assert "Added *SCORE-2027-05-BGO-9*" in demo.press("Add the place")
    screen = demo.type("/upload slots-example.csv")
    assert "11 new" in screen
    screen = demo.type("/propose SCORE-2027-03-OSL-1")
    assert "📨 to Demo Doctor: 🤖 🎓 *A student needs a supervisor*" in screen  # in their chat
    assert "📧 Email to demo@ous-hf.no: An exchange student needs a supervisor" in screen
    assert re.search(r"\?start=o_[A-Za-z0-9_-]+", screen)  # the one-tap way back into the chat
    yes = demo.button("Yes, I'll supervise")

    demo.type("/as supervisor")
    demo.type(yes)  # the offer's own button, shown while playing the coordinator
    assert "the place is yours" in demo.screen
    assert "📧 Email to demo@ous-hf.no: Confirmed: you supervise SCORE-2027-03-OSL-1" in demo.screen
    demo.type("/as coordinator")
    screen = demo.type("/slots")
    assert (
        "SCORE-2027-03-OSL-1 Research, Oslo, from 2027-03-01, 4 weeks: 2 places, 1 filled" in screen
    )
    assert demo.close() == 0
    shown = demo.shown
    for line in (typed for typed in demo.typed if set(typed) & set("<>&")):
        shown = shown.replace(line, "")
    for markup in ("<", "&lt;", "&gt;", "&amp;", "&quot;", "&#"):
        assert markup not in shown, f"{markup!r} on screen:\n{_around(shown, markup)}"
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


def _around(text: str, needle: str) -> str:
    at = text.index(needle)
    return text[max(0, at - 300) : at + 300]
