"""What the chat, crash and memory benchmarks share: the real bot (`python -m bot run`) in a
subprocess, polling a local Bot API server that answers every call after 50 ms, and simulated
people who register through it as a person would, reading their code from the mailed .eml.

- `TimedFake`: the test suite's `FakeTelegram` that also notes when each message reached a chat
  (a send or an edit of its text, the moment the server served it) and wakes the person waiting
  in that chat;
- `BotProcess`: the bot with its own temporary VAR_DIR (SQLite, MAIL_BACKEND=file), killed and
  started again at will, optionally pinned to one core, its resident memory read from /proc;
- `Person`: one registration, step by step: an answer is queued for `getUpdates` (the instant
  it is available to the bot) and the person waits for the reply that step expects; latency is
  from that instant to the first message the person then sees in the chat (a new message or an
  edited one, whichever came first).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from tests.support.botapi.fake import FakeTelegram
from tests.support.botapi.server import BotApiServer
from tests.support.chat import Chat, TgUser

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "123456789:BENCH-token-for-the-local-bot-api"
LATENCY = 0.05  # every Bot API call is served after 50 ms
FIRST_PERSON = 5_000_000
# Seconds a person waits for their code: an email being written as the bot was killed stays
# leased for 2 minutes before it is sent again.
CODE_WAIT = 150.0
_SHOWN = frozenset({"sendmessage", "editmessagetext"})


@dataclass(frozen=True)
class Shown:
    """A message as it reached the chat: a new one or an edit of an earlier one."""

    at: float  # time.monotonic() when the server served it
    method: str
    message_id: int
    text: str


class TimedFake(FakeTelegram):
    """`FakeTelegram` that keeps, per chat, when each message was shown, and when the bot last
    polled (it is up)."""

    def __init__(self) -> None:
        super().__init__()
        self.shown: dict[int, list[Shown]] = {}
        self.polled_at = 0.0
        self.queued_at: dict[int, float] = {}  # per person: when their last update was queued
        self.queued_ids: list[int] = []
        self._wakers: dict[int, tuple[asyncio.AbstractEventLoop, asyncio.Event]] = {}
        self._shown_lock = threading.Lock()
        # (began, ended) of each call but the long polls: began is when the server took it,
        # `LATENCY` before the fake serves it.
        self.spans: list[tuple[float, float]] = []

    def most_at_once(self, since: float = 0.0) -> int:
        """The most calls (long polls aside) the bot had waiting on the server at one time."""
        with self._shown_lock:
            edges = sorted(
                edge
                for began, ended in self.spans
                if began >= since
                for edge in ((began, 1), (ended, -1))
            )
        most = current = 0
        for _, step in edges:
            current += step
            most = max(most, current)
        return most

    def handle(
        self, method: str, params: Mapping[str, Any], *, block: bool = True
    ) -> tuple[int, dict[str, Any]]:
        key = method.lower()
        began = time.monotonic() - LATENCY
        if key == "getupdates":
            self.polled_at = time.monotonic()
        status, body = super().handle(method, params, block=block)
        if key != "getupdates":
            with self._shown_lock:
                self.spans.append((began, time.monotonic()))
        result = body.get("result")
        if status == 200 and key in _SHOWN and isinstance(result, dict):
            chat_id = int(result["chat"]["id"])
            sent = self.get_message(chat_id, int(result["message_id"]))
            shown = Shown(
                time.monotonic(), key, int(result["message_id"]), sent.text if sent else ""
            )
            with self._shown_lock:
                self.shown.setdefault(chat_id, []).append(shown)
                waker = self._wakers.get(chat_id)
            if waker is not None:
                loop, event = waker
                loop.call_soon_threadsafe(event.set)
        return status, body

    def enqueue_update(self, update: Mapping[str, Any]) -> int:
        update_id = super().enqueue_update(update)
        self.queued_ids.append(update_id)
        for value in update.values():
            if isinstance(value, dict) and "from" in value:
                self.queued_at[int(value["from"]["id"])] = time.monotonic()
        return update_id

    def shown_in(self, chat_id: int) -> list[Shown]:
        with self._shown_lock:
            return list(self.shown.get(chat_id, ()))

    def waker(self, chat_id: int) -> asyncio.Event:
        event = asyncio.Event()
        with self._shown_lock:
            self._wakers[chat_id] = (asyncio.get_running_loop(), event)
        return event


class Mailbox:
    """The codes in the bot's mail directory by recipient; each .eml is read once (a file
    written again after a crash is the same row of the outbox, with the same code)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.codes: dict[str, str] = {}
        self._read: set[str] = set()

    def code_for(self, address: str) -> str | None:
        if address not in self.codes and self.directory.is_dir():
            for path in sorted(self.directory.glob("*.eml")):
                if path.name not in self._read:
                    self._read.add(path.name)
                    message = message_from_bytes(
                        path.read_bytes(),
                        _class=EmailMessage,
                        policy=policy.default,
                    )
                    code = _code_in(message)
                    if code is not None:
                        self.codes[str(message["To"]).strip().lower()] = code
        return self.codes.get(address)


def _code_in(message: EmailMessage) -> str | None:
    body = message.get_body(preferencelist=("plain",))
    if body is None:
        return None
    match = re.search(r"^\s+(\d{6})\s*$", body.get_content(), re.MULTILINE)
    return match.group(1) if match else None


def pinning() -> tuple[set[int], set[int]] | None:
    """(the load generator's cores, the bot's), or None when there is one core or `taskset`
    is missing (the bot is pinned with it; this process with `os.sched_setaffinity`)."""
    cores = sorted(os.sched_getaffinity(0))
    if len(cores) < 2 or shutil.which("taskset") is None:
        return None
    return {cores[0]}, {cores[1]}


class BotProcess:
    """`python -m bot run` against `server`, with its state in `var_dir`; started again after
    each `kill` on the same state."""

    def __init__(
        self,
        server: BotApiServer,
        var_dir: Path,
        extra_env: Mapping[str, str] | None = None,
        cores: set[int] | None = None,
    ) -> None:
        self.server = server
        self.var_dir = var_dir
        self.cores = cores
        self.starts = 0
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("TELEGRAM_", "DATABASE_", "SMTP_", "MAIL_", "MAX_CONCURRENT"))
        }
        env.update(
            PYTHONPATH=str(ROOT),
            TELEGRAM_BOT_TOKEN=TOKEN,
            TELEGRAM_API_BASE_URL=server.base_url,
            VAR_DIR=str(var_dir),
            SECRET_KEY="bench-secret-of-at-least-32-characters!",
            MAIL_BACKEND="file",
            LOG_LEVEL="WARNING",
            **(extra_env or {}),
        )
        self.env = env
        self.process: subprocess.Popen[bytes] | None = None

    async def start(self, within: float = 60.0) -> None:
        """Start it and wait for its first poll (it is then ready for updates)."""
        fake = self.server.fake
        assert isinstance(fake, TimedFake)
        self.var_dir.mkdir(parents=True, exist_ok=True)
        command = [sys.executable, "-m", "bot", "run"]
        if self.cores:
            command = ["taskset", "-c", ",".join(map(str, sorted(self.cores))), *command]
        log = (self.var_dir / "bot.log").open("ab")
        before = time.monotonic()
        self.process = subprocess.Popen(  # noqa: ASYNC220 - returns at once
            command, cwd=ROOT, env=self.env, stdout=subprocess.DEVNULL, stderr=log
        )
        log.close()
        self.starts += 1
        deadline = before + within
        while fake.polled_at < before:
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the bot did not start: see {self.var_dir / 'bot.log'}")
            await asyncio.sleep(0.05)

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self) -> None:
        """SIGTERM, as a service manager stops it (SIGKILL after 15 s)."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()

    def rss_kib(self) -> int:
        """Resident memory now (VmRSS in /proc/<pid>/status), in KiB."""
        assert self.process is not None
        status = Path(f"/proc/{self.process.pid}/status").read_text()
        match = re.search(r"^VmRSS:\s+(\d+) kB", status, re.MULTILINE)
        assert match, "no VmRSS"
        return int(match.group(1))

    def cpu_seconds(self) -> float:
        """CPU time the bot has used so far (user and system, /proc/<pid>/stat)."""
        assert self.process is not None
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def tracebacks(self) -> int:
        log = self.var_dir / "bot.log"
        return log.read_text(errors="replace").count("Traceback") if log.exists() else 0


Action = Callable[[Chat, Mailbox], Awaitable[object]]


def _send(text: str) -> Action:
    return lambda chat, _: chat.send(text)


def _press(label: str) -> Action:
    return lambda chat, _: chat.press(label)


def _email(person: int) -> str:
    return f"person{person}@uib.no"


# A registration: (what the person does, what the reply they wait for says).
def script(person: int) -> list[tuple[Action, str]]:
    async def send_code(chat: Chat, mailbox: Mailbox) -> None:
        code = None
        deadline = time.monotonic() + CODE_WAIT
        while code is None:
            code = mailbox.code_for(_email(person))
            if code is None:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"no verification email to {_email(person)}")
                await asyncio.sleep(0.2)
        await chat.send(code)

    return [
        (lambda chat, _: chat.command("start"), "Welcome to Veileder"),
        (_press("I agree"), "Step 1 of 6"),
        (_press("Research"), "Step 2 of 6"),
        (_press("Researcher"), "Step 3 of 6"),
        (_send("Haukeland University Hospital"), "Step 4 of 6"),
        (_press("Bergen"), "Step 5 of 6"),
        (_press("Epidemiology"), "Step 6 of 6"),
        (_send(_email(person)), "6-digit code"),
        (send_code, "Please check your details"),
        (_press("Phone"), "phone number the coordinators"),
        (_send("+47 912 34 567"), "Please check your details"),
        (_press("Confirm"), "registered as a supervisor"),
    ]


ANSWERS = len(script(0))


@dataclass
class Person:
    """One person registering; `latencies` has one entry per answer that got its reply."""

    number: int
    fake: TimedFake
    mailbox: Mailbox
    pause: tuple[float, float] = (0.0, 0.0)
    rng: random.Random = field(default_factory=random.Random)
    steps: int = ANSWERS  # how many of the script's answers to give
    latencies: list[float] = field(default_factory=list)  # to the first message shown
    question_latencies: list[float] = field(default_factory=list)  # to the expected reply
    answered_at: list[float] = field(default_factory=list)
    finished: bool = False
    error: str | None = None

    @property
    def user_id(self) -> int:
        return FIRST_PERSON + self.number

    async def register(self, within: float = 60.0) -> None:
        """Every step: pause, answer, wait (at most `within` s) for the reply it expects."""
        chat = Chat.via_server(
            self.fake,
            TgUser(id=self.user_id, first_name="Person", last_name=f"Nr{self.number}"),
        )
        event = self.fake.waker(self.user_id)
        try:
            for action, reply in script(self.number)[: self.steps]:
                low, high = self.pause
                if high > 0:
                    await asyncio.sleep(self.rng.uniform(low, high))
                seen = len(self.fake.shown_in(self.user_id))
                await action(chat, self.mailbox)
                at = self.fake.queued_at[self.user_id]
                self.answered_at.append(at)
                shown = await self._wait(event, seen, reply, within)
                self.latencies.append(shown[seen].at - at)
                self.question_latencies.append(
                    next(s.at for s in shown[seen:] if _answers(s, reply)) - at
                )
            self.finished = True
        except (TimeoutError, AssertionError) as error:
            self.error = str(error)[:200]

    async def _wait(
        self, event: asyncio.Event, seen: int, reply: str, within: float
    ) -> list[Shown]:
        deadline = time.monotonic() + within
        while True:
            event.clear()
            shown = self.fake.shown_in(self.user_id)
            if any(_answers(s, reply) for s in shown[seen:]):
                return shown
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                last = " / ".join(f"{s.method} {s.text[:40]!r}" for s in shown[-2:])
                raise TimeoutError(f"person {self.number}: no reply {reply!r} (last: {last})")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(event.wait(), timeout=min(remaining, 1.0))


def _answers(shown: Shown, reply: str) -> bool:
    """The reply a step waits for: a new message, or the tapped question's message edited to
    carry the next question (a button's answer keeps the conversation in one message)."""
    return reply in shown.text


def percentile(values: list[float], fraction: float) -> float:
    """The nearest-rank percentile (0 for no values)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(fraction * len(ordered) + 0.5)))
    return ordered[rank - 1]


def verdict(ok: bool) -> str:
    return "met" if ok else "not met"
