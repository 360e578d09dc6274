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
from tests.support.chat import Chat, TgUser, peek_next_update_id

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow


def _start_bot(
    server: BotApiServer,
    var_dir: Path,
    workdir: Path,
    *,
    paused: Path | None = None,
    point: str = "taken",
) -> subprocess.Popen[bytes]:
    """The bot; with `paused`, one that can wait at `point` of an update's life
    (`tests.support.paused_bot`)."""
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
        env["PAUSE_AT"] = point
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


def _done(var_dir: Path, update_id: int) -> bool:
    """The inbox marked the update done: its handler returned."""
    with sqlite3.connect(var_dir / "veileder.db") as db:
        row = db.execute(
            "SELECT done_at IS NOT NULL FROM inbox_update WHERE update_id = ?", (update_id,)
        ).fetchone()
    return row is None or bool(row[0])  # a purged row was done


async def test_killing_the_bot_after_every_answer_loses_nothing(tmp_path):
    """Killed once each answer is processed; a kill in the middle of one is the next test's."""
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
                done = partial(_done, var_dir, server.fake.last_update_id)
                await server.fake.wait_for(done, within=30, what="the update done")
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


# Where in an update's life the bot is killed (see `tests.support.paused_bot`), and whether
# Telegram must then deliver it again (its offset was not confirmed before the kill).
KILL_POINTS = {"fetched": True, "stored": True, "taken": None, "answered": None, "finished": None}


@pytest.mark.parametrize("point", list(KILL_POINTS))
async def test_a_kill_at_any_point_of_an_updates_life_loses_nothing_and_repeats_nothing(
    tmp_path, point
):
    """Each update, in turn, is held at one point of its life and the bot killed there: after
    the restart every answer is stored once and answered once. Taken from Telegram but not
    stored (`fetched`), or stored before the offset moved on (`stored`): Telegram delivers it
    again and the copy is dropped. Stored and confirmed, before any answer (`taken`): the inbox
    processes it at the start. After its first answer (`answered`): it is not done, so the
    restart processes it again, finds its change committed and shows the current question (the
    press is not answered twice): the reply arrives without anything from the person, at worst
    twice when the kill came after all of it went out. Once it is done (`finished`): it is never
    processed again."""
    var_dir, pause = tmp_path / "var", tmp_path / "pause"
    pause.mkdir()
    script: list[tuple[Callable[[Chat], Awaitable[object]], str]] = [
        (lambda c: c.command("start"), "Welcome to Veileder"),
        (lambda c: c.press("I agree"), "Step 1 of 6"),
        (lambda c: c.press("Research"), "Step 2 of 6"),
        (lambda c: c.press("Researcher"), "Step 3 of 6"),
        (lambda c: c.send("Haukeland University Hospital"), "Step 4 of 6"),
    ]
    redelivered = KILL_POINTS[point]
    with BotApiServer() as server:
        fake = server.fake
        chat = Chat.via_server(
            fake, TgUser(id=4343, first_name="Grace", last_name="Hopper", language_code="en")
        )
        bot = _start_bot(server, var_dir, tmp_path, paused=pause, point=point)
        try:
            for action, reply in script:
                (pause / "hold").write_text(str(peek_next_update_id(fake.last_update_id)))
                mark = chat.mark()
                await action(chat)
                update_id = fake.last_update_id
                assert (pause / "hold").read_text() == str(update_id)
                held = pause / f"{point}-{update_id}"
                await fake.wait_for(held.exists, within=30, what=f"the update held at {point}")
                bot.send_signal(signal.SIGKILL)
                bot.wait(timeout=10)
                seen_before = [m for m in chat.new_messages(mark) if reply in m.text]
                if point in ("fetched", "stored", "taken"):
                    assert not chat.new_messages(mark)
                if point == "finished":
                    assert len(seen_before) == 1
                (pause / "hold").unlink()
                bot = _start_bot(server, var_dir, tmp_path, paused=pause, point=point)
                # Confirmed by a later poll, which the restarted bot makes.
                await fake.wait_for(
                    partial(fake.is_confirmed, update_id), within=30, what="the offset confirmed"
                )
                await _expect(chat, mark, reply)
                answers = [m for m in chat.new_messages(mark) if reply in m.text]
                shown = [m.text[:60] for m in chat.new_messages(mark)]
                if point == "answered":
                    # Processed again: the current question once more, only if it had gone out.
                    assert 1 <= len(answers) <= len(seen_before) + 1, shown
                    assert reply in chat.new_messages(mark)[-1].text, shown
                else:
                    assert len(answers) == 1, shown
                if redelivered:
                    assert fake.delivery_count(update_id) == 2
                # Only the held update is killed in the middle: the others are let finish.
                done = partial(_done, var_dir, update_id)
                await fake.wait_for(done, within=30, what="the update done")
        finally:
            bot.kill()
            _, errors = bot.communicate(timeout=10)
    assert fake.violations == []
    assert fake.unanswered_callback_queries() == []
    assert b"Traceback" not in errors
    with sqlite3.connect(var_dir / "veileder.db") as db:
        workplace = db.execute(
            "SELECT json_extract(data, '$.workplace') FROM conversation"
        ).fetchone()
        not_done = db.execute("SELECT count(*) FROM inbox_update WHERE done_at IS NULL").fetchone()
    assert workplace == ("Haukeland University Hospital",)
    assert not_done == (0,)


async def test_a_kill_right_after_delete_is_confirmed_still_erases(tmp_path):
    """ "Yes, erase everything" is answered only once the erasure is committed: a kill right
    after that first answer leaves nothing of the person, and processing it again erases
    nothing more and answers the press no second time."""
    var_dir, pause = tmp_path / "var", tmp_path / "pause"
    pause.mkdir()
    with BotApiServer() as server:
        fake = server.fake
        chat = Chat.via_server(
            fake, TgUser(id=4444, first_name="Edsger", last_name="Dijkstra", language_code="en")
        )
        bot = _start_bot(server, var_dir, tmp_path, paused=pause, point="answered")
        try:
            for action, reply in [
                (lambda c: c.command("start"), "Welcome to Veileder"),
                (lambda c: c.press("I agree"), "Step 1 of 6"),
                (lambda c: c.command("delete"), "Erase all your data?"),
            ]:
                mark = chat.mark()
                await action(chat)
                await _expect(chat, mark, reply)
            (pause / "hold").write_text(str(peek_next_update_id(fake.last_update_id)))
            await chat.press("Yes, erase everything")
            held = pause / f"answered-{fake.last_update_id}"
            await fake.wait_for(held.exists, within=30, what="the confirmation answered")
            bot.send_signal(signal.SIGKILL)
            bot.wait(timeout=10)
            (pause / "hold").unlink()
            bot = _start_bot(server, var_dir, tmp_path, paused=pause, point="answered")
            await fake.wait_for(
                partial(fake.is_confirmed, fake.last_update_id), within=30, what="the offset"
            )
        finally:
            bot.kill()
            _, errors = bot.communicate(timeout=10)
    assert fake.violations == []
    assert b"Traceback" not in errors
    with sqlite3.connect(var_dir / "veileder.db") as db:
        drafts = db.execute("SELECT count(*) FROM conversation").fetchone()
    assert drafts == (0,)
