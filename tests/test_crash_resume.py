"""Nothing is lost on a crash: the real bot runs as a subprocess, polling a local Bot API server,
and is killed with SIGKILL after every answer. Each restart continues at the next step."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Awaitable, Callable
from functools import partial
from pathlib import Path

import pytest

from tests.helpers import code_in, mails
from tests.support.botapi.server import BotApiServer
from tests.support.chat import Chat, TgUser

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow


def _start_bot(
    server: BotApiServer, var_dir: Path, workdir: Path, *, paused: Path | None = None
) -> subprocess.Popen[bytes]:
    """The bot; with `paused`, one that can wait before processing (`tests.support.paused_bot`)."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("TELEGRAM_", "DATABASE_", "SMTP_", "MAIL_"))
    }
    env.update(
        PYTHONPATH=str(ROOT),
        TELEGRAM_BOT_TOKEN="123456789:TEST-token-for-the-local-bot-api",
        TELEGRAM_API_BASE_URL=server.base_url,
        VAR_DIR=str(var_dir),
        SECRET_KEY="crash-test-secret-of-at-least-32-characters",
        MAIL_BACKEND="file",
        LOG_LEVEL="WARNING",
    )
    command = ["-m", "bot", "run"]
    if paused is not None:
        env["PAUSE_DIR"] = str(paused)
        command = ["-m", "tests.support.paused_bot"]
    return subprocess.Popen(
        [sys.executable, *command],
        cwd=workdir,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


async def _expect(chat: Chat, mark: int, needle: str) -> None:
    """The reply is on screen and the tap, if any, acknowledged (its spinner stopped): the bot
    answers a press while it edits, so one may come a moment after the other."""

    def seen() -> bool:
        answered = not chat.fake.unanswered_callback_queries()
        return answered and any(needle in m.text for m in chat.new_messages(mark))

    await chat.fake.wait_for(seen, within=30, what=f"a bot message containing {needle!r}")


async def test_killing_the_bot_after_every_answer_loses_nothing(tmp_path):
    var_dir = tmp_path / "var"

    async def send_email(chat: Chat) -> None:
        # Wait for the email before the kill: a kill while it is being sent leaves it leased
        # for two minutes (the in-flight case the outbox retries later), too long for this test.
        await chat.send("researcher@uib.no")
        await chat.fake.wait_for(
            lambda: bool(mails(var_dir / "mail")), within=30, what="the verification email"
        )

    async def send_code(chat: Chat) -> None:
        await chat.send(code_in(mails(var_dir / "mail")[-1]))

    script: list[tuple[Callable[[Chat], Awaitable[object]], str]] = [
        (lambda c: c.command("start"), "Welcome to Veileder"),
        (lambda c: c.press("I agree"), "Step 1 of 6"),
        (lambda c: c.press("Research"), "Step 2 of 6"),
        (lambda c: c.press("Researcher"), "Step 3 of 6"),
        (lambda c: c.send("Haukeland University Hospital"), "Step 4 of 6"),
        (lambda c: c.press("Bergen"), "Step 5 of 6"),
        (lambda c: c.press("Epidemiology"), "Step 6 of 6"),
        (send_email, "6-digit code"),
        (send_code, "Please check your details"),
        (lambda c: c.press("Phone"), "phone number the coordinators"),
        (lambda c: c.send("+47 912 34 567"), "Please check your details"),
        (lambda c: c.press("Confirm"), "registered as a supervisor"),
    ]
    with BotApiServer() as server:
        chat = Chat.via_server(
            server.fake, TgUser(id=4242, first_name="Ada", last_name="Lovelace", language_code="en")
        )
        bot = _start_bot(server, var_dir, tmp_path)
        try:
            for action, reply in script:
                mark = chat.mark()
                await action(chat)
                await _expect(chat, mark, reply)
                bot.send_signal(signal.SIGKILL)
                bot.wait(timeout=10)
                bot = _start_bot(server, var_dir, tmp_path)
        finally:
            bot.kill()
            _, errors = bot.communicate(timeout=10)
    assert server.fake.violations == []
    with sqlite3.connect(var_dir / "veileder.db") as db:
        row = db.execute(
            "SELECT name, workplace, city, fields, email, email_verified_at IS NOT NULL, phone"
            " FROM supervisor"
        ).fetchone()
        drafts = db.execute("SELECT count(*) FROM conversation").fetchone()[0]
    assert row == (
        "Ada Lovelace",
        "Haukeland University Hospital",
        "bergen",
        '["epidemiology"]',
        "researcher@uib.no",
        1,
        "+4791234567",
    )
    assert drafts == 0
    assert b"Traceback" not in errors


async def test_a_kill_between_taking_an_update_and_answering_it_loses_nothing(tmp_path):
    """Each update is taken from Telegram, committed to the inbox, and the bot killed before it
    processed any of it: after the restart it is answered, once (Telegram delivered it again,
    and the copy is dropped)."""
    var_dir, pause = tmp_path / "var", tmp_path / "pause"
    pause.mkdir()
    script: list[tuple[Callable[[Chat], Awaitable[object]], str]] = [
        (lambda c: c.command("start"), "Welcome to Veileder"),
        (lambda c: c.press("I agree"), "Step 1 of 6"),
        (lambda c: c.press("Research"), "Step 2 of 6"),
        (lambda c: c.press("Researcher"), "Step 3 of 6"),
        (lambda c: c.send("Haukeland University Hospital"), "Step 4 of 6"),
    ]
    with BotApiServer() as server:
        fake = server.fake
        chat = Chat.via_server(
            fake, TgUser(id=4343, first_name="Grace", last_name="Hopper", language_code="en")
        )
        bot = _start_bot(server, var_dir, tmp_path, paused=pause)
        try:
            for action, reply in script:
                (pause / "hold").touch()
                mark = chat.mark()
                await action(chat)
                update_id = fake.last_update_id
                taken = pause / f"taken-{update_id}"
                await fake.wait_for(taken.exists, within=30, what="the update taken and stored")
                bot.send_signal(signal.SIGKILL)
                bot.wait(timeout=10)
                assert not chat.new_messages(mark)
                (pause / "hold").unlink()
                bot = _start_bot(server, var_dir, tmp_path, paused=pause)
                await _expect(chat, mark, reply)
                # Confirmed by the next poll, which comes only after it was processed.
                await fake.wait_for(
                    partial(fake.is_confirmed, update_id), within=30, what="the offset confirmed"
                )
                answers = [m for m in chat.new_messages(mark) if reply in m.text]
                assert len(answers) == 1, [m.text[:60] for m in chat.new_messages(mark)]
                assert fake.delivery_count(update_id) == 2
        finally:
            bot.kill()
            _, errors = bot.communicate(timeout=10)
    assert fake.violations == []
    assert b"Traceback" not in errors
    with sqlite3.connect(var_dir / "veileder.db") as db:
        workplace = db.execute(
            "SELECT json_extract(data, '$.workplace') FROM conversation"
        ).fetchone()
        not_done = db.execute("SELECT count(*) FROM inbox_update WHERE done_at IS NULL").fetchone()
    assert workplace == ("Haukeland University Hospital",)
    assert not_done == (0,)
