"""Every command in the README, run in a terminal as a person would: a subprocess in an empty
directory, with only the environment the README describes. `make run` with a token registers a
person through a local Bot API server; a coordinator's season goes from `slots import` to an
offer the worker shows in the supervisor's chat and emails it sends through a real SMTP server.

(The demo, `start` without a token, `migrate`, `coordinators add/list/remove` and `digest
preview` are also run as subprocesses in tests/cli/test_cli.py and tests/chat/test_coordinators.py.)
"""

from __future__ import annotations

import io
import os
import pty
import re
import signal
import sqlite3
import stat
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path

import openpyxl
import pytest

from bot.domain.season import months_touched, season_of
from storage.db import Database
from tests.helpers import code_in, mails
from tests.smtp_server import smtp_server
from tests.support import slots as make
from tests.support.botapi.fake import FakeTelegram
from tests.support.botapi.server import BotApiServer
from tests.support.chat import Chat, TgUser

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "123456789:TEST-token-for-the-local-bot-api"
pytestmark = pytest.mark.slow


def environment(**settings: str) -> dict[str, str]:
    """The caller's environment without any Veileder setting, plus `settings`."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("TELEGRAM_", "DATABASE_", "SMTP_", "MAIL_", "SECRET_", "VAR_"))
    }
    env.update(PYTHONPATH=str(ROOT), **settings)
    return env


def bot(workdir: Path, *args: str, **settings: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        cwd=workdir,
        env=environment(**settings),
        capture_output=True,
        text=True,
        timeout=120,
    )


def serve(workdir: Path, *args: str, **settings: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "bot", *args],
        cwd=workdir,
        env=environment(**settings),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def stop(process: subprocess.Popen[str]) -> tuple[int, str]:
    """SIGTERM, as a service manager stops it; the exit code and what it wrote to stderr."""
    process.send_signal(signal.SIGTERM)
    try:
        _, errors = process.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        process.kill()
        _, errors = process.communicate(timeout=10)
    return process.returncode, errors


async def expect(chat: Chat, mark: int, needle: str) -> None:
    def seen() -> bool:
        return any(needle in m.text for m in chat.new_messages(mark))

    await chat.fake.wait_for(seen, within=60, what=f"a bot message containing {needle!r}")


async def test_make_run_with_a_token_starts_the_bot_and_a_person_registers(tmp_path):
    """Exactly what `make run` runs: `migrate`, then `start --no-migrate`, with a token."""
    var_dir = tmp_path / "var"
    settings = {"TELEGRAM_BOT_TOKEN": TOKEN, "LOG_LEVEL": "INFO"}
    migrated = bot(tmp_path, "migrate", **settings)
    assert migrated.returncode == 0, migrated.stderr
    with BotApiServer() as server:
        chat = Chat.via_server(
            server.fake, TgUser(id=4343, first_name="Ada", last_name="Lovelace", language_code="en")
        )
        settings["TELEGRAM_API_BASE_URL"] = server.base_url
        running = serve(tmp_path, "start", "--no-migrate", **settings)
        try:
            for action, reply in [
                (lambda: chat.command("start"), "Welcome to Veileder"),
                (lambda: chat.press("I agree"), "Step 1 of 6"),
                (lambda: chat.press("Research"), "Step 2 of 6"),
                (lambda: chat.press("Researcher"), "Step 3 of 6"),
                (lambda: chat.send("Haukeland University Hospital"), "Step 4 of 6"),
                (lambda: chat.press("Bergen"), "Step 5 of 6"),
                (lambda: chat.press("Epidemiology"), "Step 6 of 6"),
                (lambda: chat.send("researcher@uib.no"), "6-digit code"),
            ]:
                mark = chat.mark()
                await action()
                await expect(chat, mark, reply)
            await server.fake.wait_for(
                lambda: bool(mails(var_dir / "mail")), within=60, what="the verification email"
            )
            for action, reply in [
                (
                    lambda: chat.send(code_in(mails(var_dir / "mail")[-1])),
                    "Please check your details",
                ),
                (lambda: chat.press("Phone"), "phone number the coordinators"),
                (lambda: chat.send("+47 912 34 567"), "Please check your details"),
                (lambda: chat.press("Confirm"), "registered as a supervisor"),
            ]:
                mark = chat.mark()
                await action()
                await expect(chat, mark, reply)
        finally:
            code, errors = stop(running)
    assert code == 0, errors
    assert "Traceback" not in errors
    warnings = [line for line in errors.splitlines() if "MAIL_BACKEND=file" in line]
    assert len(warnings) == 1 and "reach nobody" in warnings[0], errors
    assert server.fake.violations == []
    with sqlite3.connect(var_dir / "veileder.db") as db:
        row = db.execute("SELECT name, city, email_verified_at IS NOT NULL FROM supervisor")
        assert row.fetchone() == ("Ada Lovelace", "bergen", 1)
    key = var_dir / "secret_key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600


def slot_csv(reference: str, start: date) -> str:
    return (
        "reference,exchange_type,city,start_date,weeks,places,field_preference,partner_country\n"
        f"{reference},research,oslo,{start.isoformat()},4,1,epidemiology,Oman\n"
    )


def start_in_a_few_months() -> date:
    """A slot start well before its reply-by date whenever the test runs: the first of the month
    about five months ahead."""
    ahead = date.today() + timedelta(days=150)
    return ahead.replace(day=1)


async def seed_a_supervisor_with_an_approved_task(database_url: str, start: date) -> None:
    db = Database(database_url)
    async with db.session() as session:
        owner = await make.supervisor(session, 1)
        await make.task(
            session,
            owner,
            title="Hjerteflimmer i Tromsø",
            season=season_of(start),
            months=months_touched(start, 4),
        )
    await db.close()


async def test_a_coordinators_season_from_the_terminal_delivered_by_the_worker(tmp_path):
    """`coordinators add`, `slots import/list/export`, `offers propose`, `export tasks`,
    `supervisors invite`, `season target` and `digest preview` on one database, then `worker`
    (no chat polling) shows the offer in the supervisor's chat and sends the queued emails by
    SMTP."""
    settings = {"TELEGRAM_BOT_USERNAME": "nmf_veileder_bot"}
    start = start_in_a_few_months()
    reference = f"SCORE-{start:%Y-%m}-OSL-9"

    added = bot(tmp_path, "coordinators", "add", "--email", "nora@nmf.example", "--role", "LORE",
                "--type", "research", "--city", "oslo", "--language", "en", **settings)  # fmt: skip
    assert added.returncode == 0, added.stderr
    assert "nora@nmf.example" in bot(tmp_path, "coordinators", "list", **settings).stdout

    (tmp_path / "slots.csv").write_text(slot_csv(reference, start))
    imported = bot(tmp_path, "slots", "import", "slots.csv", **settings)
    assert imported.returncode == 0, imported.stderr
    listed = bot(tmp_path, "slots", "list", **settings)
    shown = rf"{reference}\s+research\s+oslo\s+{start.isoformat()}\s+4\s+0/1"
    assert re.search(shown, listed.stdout), listed.stdout
    exported = bot(tmp_path, "slots", "export", **settings)
    assert exported.returncode == 0 and reference in exported.stdout

    await seed_a_supervisor_with_an_approved_task(
        f"sqlite+aiosqlite:///{tmp_path / 'var' / 'veileder.db'}", start
    )
    proposed = bot(tmp_path, "offers", "propose", "--slot", reference, **settings)
    assert proposed.returncode == 0, proposed.stderr
    assert f"1 offer sent for {reference}." in proposed.stdout

    tasks_csv = bot(tmp_path, "export", "tasks", "--format", "csv", **settings)
    assert tasks_csv.returncode == 0 and "Hjerteflimmer i Tromsø" in tasks_csv.stdout
    tasks_xlsx = bot(tmp_path, "export", "tasks", "--format", "xlsx", "--out", "t.xlsx", **settings)
    assert tasks_xlsx.returncode == 0, tasks_xlsx.stderr
    assert openpyxl.load_workbook(tmp_path / "t.xlsx").active["A2"].value == (
        "Hjerteflimmer i Tromsø"
    )

    (tmp_path / "former.csv").write_text("name,email\nKari Nordmann,kari@ahus.example\n")
    invited = bot(tmp_path, "supervisors", "invite", "former.csv", **settings)
    assert invited.returncode == 0, invited.stderr
    assert invited.stdout.startswith("1 invited, 0 invited before")

    season = str(season_of(start))
    target = bot(tmp_path, "season", "target", "--season", season, "--research", "3", **settings)
    assert target.returncode == 0, target.stderr
    assert "Research: hosted 0 of 3 needed" in target.stdout

    preview = bot(tmp_path, "digest", "preview", "--coordinator", "nora@nmf.example", **settings)
    assert preview.returncode == 0, preview.stderr
    text = next(Path(p) for p in preview.stdout.split() if p.endswith(".txt"))
    assert reference in (tmp_path / text).read_text()
    assert "Research: hosted 0 of 3 needed" in (tmp_path / text).read_text()  # opens with it

    fake = FakeTelegram()
    fake.register_chat(7_000_001, first_name="Æsa")
    supervisor = Chat.via_server(fake, TgUser(id=7_000_001, first_name="Æsa", language_code="en"))
    with BotApiServer(fake) as server, smtp_server() as (inbox, port):
        worker = serve(
            tmp_path, "worker", TELEGRAM_BOT_TOKEN=TOKEN, TELEGRAM_API_BASE_URL=server.base_url,
            MAIL_BACKEND="smtp", SMTP_HOST="127.0.0.1", SMTP_PORT=str(port),
            MAIL_FROM="Veileder <veileder@nmf.example>", **settings,
        )  # fmt: skip
        try:
            await expect(supervisor, 0, "A student needs a supervisor")

            def delivered() -> set[str]:
                return {address for _, rcpt in inbox.envelopes for address in rcpt}

            await fake.wait_for(
                lambda: {"nora@nmf.example", "kari@ahus.example"} <= delivered(),
                within=60,
                what="the coordinator's and the former supervisor's invitations",
            )
            # Stop once the sender has recorded both: a SIGTERM in the middle of a send can hang
            # the worker's shutdown (a separate bug, reported), which is not this story.
            await fake.wait_for(
                lambda: "sending" not in outbox_statuses(tmp_path / "var" / "veileder.db"),
                within=60,
                what="no email in the middle of being sent",
            )
        finally:
            code, errors = stop(worker)
    assert code == 0, errors
    assert "Traceback" not in errors and "MAIL_BACKEND=file" not in errors


def outbox_statuses(database: Path) -> set[str]:
    with sqlite3.connect(database) as db:
        return {status for (status,) in db.execute("SELECT status FROM outbox_email")}


def test_an_excel_export_is_refused_on_a_terminal_and_written_through_a_pipe(
    tmp_path, migrated_sqlite_url
):
    """Binary on a terminal garbles it: one line saying to use --out. Redirected, the bytes are
    a workbook. (The database is var/veileder.db under tmp_path, where the command looks.)"""
    screen, terminal = pty.openpty()
    try:
        refused = subprocess.run(
            [sys.executable, "-m", "bot", "export", "tasks", "--format", "xlsx"],
            cwd=tmp_path,
            env=environment(),
            stdout=terminal,
            stderr=subprocess.PIPE,
            text=True,
            timeout=120,
        )
        os.close(terminal)
        shown = b""
        while chunk := _read_pty(screen):
            shown += chunk
    finally:
        os.close(screen)
    assert refused.returncode == 2
    assert refused.stderr.strip().count("\n") == 0 and "--out" in refused.stderr
    assert shown == b"", "nothing binary reached the terminal"

    piped = subprocess.run(
        [sys.executable, "-m", "bot", "export", "tasks", "--format", "xlsx"],
        cwd=tmp_path,
        env=environment(),
        capture_output=True,
        timeout=120,
    )
    assert piped.returncode == 0, piped.stderr
    sheet = openpyxl.load_workbook(io.BytesIO(piped.stdout)).active
    assert sheet["A1"].value  # the header row of an empty export


def _read_pty(fd: int) -> bytes:
    try:
        return os.read(fd, 4096)
    except OSError:  # EIO: the other side is closed and everything has been read
        return b""
