"""Starting the service when something is wrong: one line on stderr naming the cause, never a
traceback. A setting to fix exits 2; a server that cannot be reached (the database, the Bot API,
the SMTP server) exits 1. And the generated signing key: private, and one key however many
processes start at once."""

from __future__ import annotations

import json
import os
import socket
import stat
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.handlers import Sink
from aiosmtpd.smtp import AuthResult

from bot.core.settings import Settings, SettingsError, load_settings
from tests.smtp_server import free_port
from tests.support.botapi.server import BotApiServer

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "123456789:AAHookCheckTokenNotReal0123456789abcd"
LONG_KEY = "a-secret-key-of-at-least-32-characters"
NOWHERE_PG = "postgresql+psycopg://postgres@127.0.0.1:1/veileder"
pytestmark = pytest.mark.slow


def start_up(workdir: Path, *args: str, **settings: str) -> subprocess.CompletedProcess[str]:
    """`python -m bot ARGS` with nothing but PATH, HOME and `settings`, as from a clean shell."""
    env = {"PATH": os.environ["PATH"], "HOME": str(workdir), "PYTHONPATH": str(ROOT), **settings}
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def one_line(result: subprocess.CompletedProcess[str]) -> str:
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("veileder: ")
    return lines[0]


@pytest.mark.parametrize(
    ("settings", "named"),
    [
        ({"LOG_LEVEL": "verbose"}, "LOG_LEVEL: expected one of DEBUG, INFO"),
        ({"SECRET_KEY": "crash-test-secret"}, "SECRET_KEY: must be at least 32 characters"),
        ({"PUBLIC_URL": "http://veileder.nmf.example"}, "PUBLIC_URL: must start with https://"),
        ({"WEBHOOK_URL": "http://veileder.nmf.example"}, "WEBHOOK_URL: must start with https://"),
        ({"WEBHOOK_SECRET": "not/allowed"}, "WEBHOOK_SECRET: Telegram accepts 1-256 characters"),
        ({"WEBHOOK_URL": "https://veileder.nmf.example"}, "WEB_PORT: a webhook needs WEB_PORT"),
        (
            {"SMTP_USER": "veileder", "SMTP_HOST": "smtp.nmf.example"},
            "SMTP_SECURITY: none would send SMTP_USER's password in clear text",
        ),
        ({"DATABASE_URL": NOWHERE_PG}, "SECRET_KEY must be set when DATABASE_URL is PostgreSQL"),
        ({"VAR_DIR": "a-file"}, "VAR_DIR: cannot write to a-file"),
        ({"VAR_DIR": "a-file/var"}, "VAR_DIR: cannot write to a-file/var: Not a directory"),
        (
            {"DATABASE_URL": "sqlite+aiosqlite:///a-file/veileder.db"},
            "DATABASE_URL: cannot write to a-file: a file of that name is in the way",
        ),
    ],
    ids=[
        "log-level",
        "short-key",
        "http-url",
        "http-webhook",
        "webhook-secret-characters",
        "webhook-without-port",
        "smtp-login-in-clear",
        "pg-no-key",
        "var-file",
        "var-under-file",
        "sqlite-under-file",
    ],
)
def test_a_setting_to_fix_is_one_line_naming_it_and_exit_code_2(tmp_path, settings, named):
    (tmp_path / "a-file").write_text("not a directory")
    result = start_up(tmp_path, "run", TELEGRAM_BOT_TOKEN=TOKEN, **settings)
    assert result.returncode == 2
    assert one_line(result).startswith(f"veileder: configuration error: {named}")


def test_a_webhook_without_a_public_url_is_one_line_and_exit_code_2(tmp_path):
    result = start_up(tmp_path, "run", "--webhook", TELEGRAM_BOT_TOKEN=TOKEN, WEB_PORT="8080")
    assert result.returncode == 2
    assert one_line(result).startswith("veileder: configuration error: WEBHOOK_URL: ")


def test_a_web_port_in_use_is_one_line_and_exit_code_2(tmp_path):
    with socket.socket() as taken, BotApiServer() as server:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        result = start_up(tmp_path, "run", TELEGRAM_BOT_TOKEN=TOKEN, WEB_PORT=port, **server.env())
    assert result.returncode == 2
    assert one_line(result).startswith(
        f"veileder: configuration error: WEB_PORT: cannot listen on 127.0.0.1:{port}"
    )


def test_an_unreachable_postgresql_is_one_line_and_exit_code_1(tmp_path):
    for command in (["migrate"], ["run"], ["run", "--no-migrate"], ["slots", "list"]):
        settings = {"DATABASE_URL": NOWHERE_PG, "SECRET_KEY": LONG_KEY}
        result = start_up(tmp_path, *command, TELEGRAM_BOT_TOKEN=TOKEN, **settings)
        assert result.returncode == 1, command
        line = one_line(result)
        assert line.startswith("veileder: cannot connect to the database at 127.0.0.1:1/veileder")
        assert "Connection refused" in line


def test_no_bot_api_is_one_line_and_exit_code_1(tmp_path):
    """The hook check: `start` with a token, a Bot API where nothing listens, an empty directory."""
    result = start_up(
        tmp_path,
        "start",
        VAR_DIR=str(tmp_path / "var"),
        TELEGRAM_BOT_TOKEN=TOKEN,
        TELEGRAM_API_BASE_URL="http://127.0.0.1:9/bot",
    )
    assert result.returncode == 1
    line = one_line(result)
    assert line.startswith("veileder: cannot reach the Telegram Bot API at http://127.0.0.1:9/bot")
    assert TOKEN.split(":")[1] not in result.stderr


def test_no_smtp_server_is_one_line_and_exit_code_1_before_the_bot_polls(tmp_path):
    with BotApiServer() as server:
        result = start_up(
            tmp_path,
            "run",
            TELEGRAM_BOT_TOKEN=TOKEN,
            TELEGRAM_API_BASE_URL=server.base_url,
            MAIL_BACKEND="smtp",
            SMTP_HOST="127.0.0.1",
            SMTP_PORT=str(free_port()),
        )
        polled = server.fake.calls_to("getUpdates")
    assert result.returncode == 1
    assert one_line(result).startswith("veileder: cannot reach the SMTP server at 127.0.0.1:")
    assert polled == [], "no update is taken that could not be answered by email"


def test_the_worker_says_in_one_line_that_email_goes_to_files(tmp_path):
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "PYTHONPATH": str(ROOT)}
    with BotApiServer() as server:
        env.update(TELEGRAM_BOT_TOKEN=TOKEN, TELEGRAM_API_BASE_URL=server.base_url)
        worker = subprocess.Popen(
            [sys.executable, "-m", "bot", "worker"],
            cwd=tmp_path,
            env=env,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            assert worker.stderr is not None
            first = worker.stderr.readline()
            # Running once PTB says so (a busy machine may log a sweep before that line); stopping
            # then is an ordinary stop.
            started = ""
            while "Application started" not in started and (line := worker.stderr.readline()):
                started += line
        finally:
            worker.terminate()
            rest = worker.communicate(timeout=60)[1]
    assert worker.returncode == 0 and "Application started" in started, (started, rest)
    assert "level=warning" in first and "MAIL_BACKEND=file" in first
    assert "var/mail" in first and "reach nobody" in first
    assert "MAIL_BACKEND=file" not in rest and "Traceback" not in rest


def test_a_login_in_clear_text_is_allowed_only_to_this_machine():
    for host in ("localhost", "127.0.0.1", "::1"):
        Settings(_env_file=None, smtp_user="u", smtp_host=host)  # type: ignore[call-arg]
    Settings(_env_file=None, smtp_user="u", smtp_host="smtp.example", smtp_security="starttls")  # type: ignore[call-arg]
    with pytest.raises(SettingsError, match="SMTP_SECURITY"):
        load_settings(_env_file=None, smtp_user="u", smtp_host="10.0.0.5")


RACE = """
import sys, time
from pathlib import Path
from bot.core.settings import Settings
go = Path(sys.argv[1])
while not go.exists():
    time.sleep(0.001)
print(Settings(_env_file=None, var_dir=sys.argv[2]).resolved_secret_key())
"""


def test_processes_starting_at_once_generate_one_private_key(tmp_path):
    go, var_dir = tmp_path / "go", tmp_path / "var"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("SECRET_KEY", None)
    racers = [
        subprocess.Popen(
            [sys.executable, "-c", RACE, str(go), str(var_dir)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(6)
    ]
    time.sleep(3)  # every racer imported and waiting
    go.touch()
    keys = [racer.communicate(timeout=60)[0].strip() for racer in racers]
    assert all(racer.returncode == 0 for racer in racers)
    assert len(set(keys)) == 1 and len(keys[0]) >= 32
    key_file = var_dir / "secret_key"
    assert key_file.read_text() == keys[0]
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert sorted(p.name for p in var_dir.iterdir()) == ["secret_key"], "no temporary files left"


def test_a_stored_key_that_is_too_short_stops_start_up(tmp_path):
    (tmp_path / "var").mkdir()
    (tmp_path / "var" / "secret_key").write_text("short")
    result = start_up(tmp_path, "slots", "list")
    assert result.returncode == 2
    assert "shorter than 32 characters" in one_line(result)


class _RejectingBotApi(BaseHTTPRequestHandler):
    """What api.telegram.org answers to a revoked or mistyped token."""

    def do_POST(self) -> None:
        body = json.dumps({"ok": False, "error_code": 401, "description": "Unauthorized"})
        self.send_response(401)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body.encode())

    do_GET = do_POST

    def log_message(self, *args: object) -> None:
        pass


def test_a_token_the_bot_api_rejects_is_a_setting_to_fix(tmp_path):
    server = ThreadingHTTPServer(("127.0.0.1", 0), _RejectingBotApi)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        base_url = f"http://127.0.0.1:{server.server_address[1]}/bot"
        result = start_up(tmp_path, "run", TELEGRAM_BOT_TOKEN=TOKEN, TELEGRAM_API_BASE_URL=base_url)
    finally:
        server.shutdown()
        server.server_close()
    assert result.returncode == 2
    line = one_line(result)
    assert line.startswith("veileder: configuration error: TELEGRAM_BOT_TOKEN: the Bot API at")
    assert "rejected the token" in line and TOKEN.split(":")[1] not in line


def test_an_smtp_login_the_server_refuses_is_a_setting_to_fix(tmp_path):
    def refuse(*_: object) -> AuthResult:
        return AuthResult(success=False, handled=False)

    port = free_port()
    controller = Controller(
        Sink(), hostname="127.0.0.1", port=port, authenticator=refuse, auth_require_tls=False
    )
    controller.start()
    try:
        with BotApiServer() as api:
            result = start_up(
                tmp_path, "worker", TELEGRAM_BOT_TOKEN=TOKEN, TELEGRAM_API_BASE_URL=api.base_url,
                MAIL_BACKEND="smtp", SMTP_HOST="127.0.0.1", SMTP_PORT=str(port),
                SMTP_USER="veileder", SMTP_PASSWORD="wrong",
            )  # fmt: skip
    finally:
        controller.stop()
    assert result.returncode == 2
    line = one_line(result)
    assert line.startswith(
        f"veileder: configuration error: SMTP_USER/SMTP_PASSWORD: the SMTP server at"
        f" 127.0.0.1:{port} refused the login: 535"
    )
    assert "wrong" not in line
