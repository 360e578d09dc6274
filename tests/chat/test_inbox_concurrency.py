"""Per-person ordered concurrency, through the inbox: the real application polls a fake Bot API
in the same process that answers every call after a random delay, so that processing really
interleaves. Different people's updates are processed at once; one person's strictly in order;
a person whose handler waits delays nobody else; `MAX_CONCURRENT_UPDATES=1` is one at a time.

Where a test must see *when* handlers run, a probe handler (group -3, before every other handler)
takes `echo <n>` messages: it counts who is being processed at that moment, waits a random
moment (or until the test releases it), and replies `echo <n>`. Everything else is the real bot.
"""

from __future__ import annotations

import asyncio
import copy
import random
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest
from sqlmodel import select
from telegram import Update
from telegram._utils.defaultvalue import DEFAULT_NONE
from telegram._utils.types import ODVInput
from telegram.ext import ApplicationHandlerStop, ContextTypes, MessageHandler, filters
from telegram.request import BaseRequest, RequestData

from bot.app import App, build_application, running, services_of
from bot.chat.forwarding import ForwardingRequest
from bot.chat.inbox import Inbox
from bot.core.settings import Settings
from bot.domain.clock import FrozenClock
from bot.mail.backends import FileBackend
from storage import inbox
from storage.models import Conversation
from tests.support.botapi.fake import FakeTelegram
from tests.support.botapi.request import RecordingRequest
from tests.support.chat import Chat, TgUser
from tests.support.pacing import virtual_limiter

PEOPLE = [
    TgUser(id=7100 + n, first_name=name, language_code="en")
    for n, name in enumerate(["Ada", "Bo", "Cai", "Dina", "Eli"])
]


class Jittery(ForwardingRequest):
    """The in-process fake Bot API, each call answered after a random 0-20 ms (seeded)."""

    def __init__(self, inner: BaseRequest, seed: int) -> None:
        super().__init__(inner)
        self.random = random.Random(seed)

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: ODVInput[float] = DEFAULT_NONE,
        write_timeout: ODVInput[float] = DEFAULT_NONE,
        connect_timeout: ODVInput[float] = DEFAULT_NONE,
        pool_timeout: ODVInput[float] = DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        await asyncio.sleep(self.random.uniform(0, 0.02))
        return await super().do_request(
            url, method, request_data, read_timeout, write_timeout, connect_timeout, pool_timeout
        )


class Probe:
    """Counts who is being processed while an `echo <n>` handler runs (see the module)."""

    def __init__(self, seed: int = 7) -> None:
        self.random = random.Random(seed)
        self.active: Counter[int] = Counter()
        self.most_at_once = 0
        self.most_of_one_person = 0
        self.started: list[tuple[int, int]] = []  # (person, n) in the order handlers started
        self.gates: dict[tuple[int, int], asyncio.Event] = {}

    def hold(self, user: TgUser, n: int) -> asyncio.Event:
        gate = self.gates[(user.id, n)] = asyncio.Event()
        return gate

    async def handler(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.effective_user is not None and update.message is not None
        person, n = update.effective_user.id, int((update.message.text or "").split()[1])
        self.started.append((person, n))
        self.active[person] += 1
        self.most_at_once = max(self.most_at_once, sum(self.active.values()))
        self.most_of_one_person = max(self.most_of_one_person, self.active[person])
        try:
            await asyncio.sleep(self.random.uniform(0, 0.02))
            gate = self.gates.get((person, n))
            if gate is not None:
                await gate.wait()
            await context.bot.send_message(person, f"echo {n}")
        finally:
            self.active[person] -= 1
        raise ApplicationHandlerStop  # nothing else handles a probe's message


@pytest.fixture
def settings_sqlite(request, tmp_path, migrated_sqlite_url) -> Settings:
    """Parametrized indirectly, the parameter is MAX_CONCURRENT_UPDATES (else its default)."""
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        max_concurrent_updates=getattr(request, "param", 256),
        var_dir=tmp_path / "var",
        database_url=migrated_sqlite_url,
        secret_key="test-secret-key-of-at-least-32-characters",
        mail_backend="file",
        mail_from="Veileder <veileder@nmf.example>",
    )


@pytest.fixture
async def jittery_app(
    settings_sqlite: Settings, fake: FakeTelegram, clock: FrozenClock
) -> AsyncIterator[App]:
    application = build_application(
        settings_sqlite,
        rate_limiter=virtual_limiter(),
        request=Jittery(RecordingRequest(fake), seed=11),
        get_updates_request=RecordingRequest(fake, poll_interval=0.005),
        clock=clock,
        mail_backend=FileBackend(settings_sqlite.mail_dir),
        start_sender=False,
    )
    async with running(application):
        yield application
    assert fake.violations == [], "the bot broke a Bot API rule"
    assert fake.unanswered_callback_queries() == [], "a button press was never answered"


@pytest.fixture
def probe(jittery_app: App) -> Probe:
    probe = Probe()
    jittery_app.add_handler(MessageHandler(filters.Regex(r"^echo \d+$"), probe.handler), group=-3)
    return probe


@asynccontextmanager
async def polling(app: App, **options: Any) -> AsyncIterator[tuple[Inbox, asyncio.Task[None]]]:
    """The inbox's loop, as `python -m bot run` runs it, until the block ends."""
    stop = asyncio.Event()
    box = Inbox(app, poll_seconds=1, **options)
    task = asyncio.create_task(box.run(stop))
    try:
        yield box, task
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=30)


def echoes(fake: FakeTelegram, user: TgUser) -> list[str]:
    return [m.text for m in fake.messages(user.id)]


def replied(fake: FakeTelegram, count: int) -> Callable[[], bool]:
    return lambda: all(len(fake.messages(user.id)) >= count for user in PEOPLE)


async def not_done(app: App) -> list[int]:
    async with services_of(app).db.session() as session:
        return [row.update_id for row in await inbox.pending(session)]


async def _count_not_done(app: App, count: int) -> bool:
    return len(await not_done(app)) == count


async def eventually(check: Callable[[], Awaitable[bool]], what: str, within: float = 30) -> None:
    for _ in range(int(within / 0.01)):
        if await check():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"timed out after {within}s waiting for {what}")


def sees(chat: Chat, mark: int, reply: str) -> Callable[[], bool]:
    return lambda: any(reply in m.text for m in chat.new_messages(mark))


async def test_each_persons_updates_are_processed_in_order_while_people_overlap(
    jittery_app: App, fake: FakeTelegram, probe: Probe
):
    chats = [Chat.via_server(fake, user) for user in PEOPLE]
    async with polling(jittery_app):
        for n in range(12):  # interleaved: everyone's first message, then everyone's second...
            for chat in chats:
                await chat.send(f"echo {n}")
        await fake.wait_for(replied(fake, 12), within=60, what="every echo")
    for user in PEOPLE:
        assert echoes(fake, user) == [f"echo {n}" for n in range(12)]
        assert [n for person, n in probe.started if person == user.id] == list(range(12))
    assert probe.most_of_one_person == 1  # never two of one person's updates at once
    assert probe.most_at_once > 1  # people really were processed at the same time
    assert await not_done(jittery_app) == []


async def test_people_registering_at_once_each_see_their_own_steps_in_order(
    jittery_app: App, fake: FakeTelegram
):
    """The real registration, five people at once, each answering as soon as a reply came."""
    chats = [Chat.via_server(fake, user) for user in PEOPLE]
    steps: list[tuple[Callable[[Chat], Any], str]] = [
        (lambda c: c.command("start"), "Welcome to Veileder"),
        (lambda c: c.press("I agree"), "Step 1 of 6"),
        (lambda c: c.press("Research"), "Step 2 of 6"),
        (lambda c: c.press("Researcher"), "Step 3 of 6"),
        (lambda c: c.send(f"Legekontor {c.user.first_name}"), "Step 4 of 6"),
    ]

    async def register(chat: Chat) -> list[str]:
        seen = []
        for action, reply in steps:
            mark = chat.mark()
            await action(chat)
            await fake.wait_for(
                sees(chat, mark, reply),
                within=60,
                what=f"{reply!r} for {chat.user.first_name}",
            )
            seen.append(reply)
        return seen

    async with polling(jittery_app):
        results = await asyncio.gather(*(register(chat) for chat in chats))
    assert results == [[reply for _, reply in steps]] * len(PEOPLE)
    async with services_of(jittery_app).db.session() as session:
        drafts = (await session.execute(select(Conversation))).scalars().all()
    assert sorted(d.data.get("workplace") for d in drafts) == sorted(
        f"Legekontor {user.first_name}" for user in PEOPLE
    )
    # Their Bot API calls interleaved: between one person's first and last, others had theirs.
    chats_called = [c.params.get("chat_id") for c in fake.calls if "chat_id" in c.params]
    first, last = chats_called.index(PEOPLE[0].id), len(chats_called) - 1
    last -= chats_called[::-1].index(PEOPLE[0].id)
    assert {PEOPLE[0].id} < set(chats_called[first : last + 1])


async def test_a_person_whose_handler_waits_delays_nobody_else(
    jittery_app: App, fake: FakeTelegram, probe: Probe
):
    slow, *others = PEOPLE
    gate = probe.hold(slow, 0)
    slow_chat = Chat.via_server(fake, slow)
    async with polling(jittery_app):
        await slow_chat.send("echo 0")
        await slow_chat.send("echo 1")
        for user in others:
            chat = Chat.via_server(fake, user)
            for n in range(3):
                await chat.send(f"echo {n}")
        await fake.wait_for(
            lambda: all(len(fake.messages(user.id)) == 3 for user in others),
            within=60,
            what="everyone else's echoes",
        )
        # All of them answered while the slow person's first update still waits, and the slow
        # person's second one was not begun: it waits for the first.
        assert not gate.is_set()
        assert echoes(fake, slow) == []
        assert (slow.id, 1) not in probe.started
        gate.set()
        await fake.wait_for(lambda: len(fake.messages(slow.id)) == 2, within=60, what="echoes")
    assert echoes(fake, slow) == ["echo 0", "echo 1"]
    for user in others:
        assert echoes(fake, user) == ["echo 0", "echo 1", "echo 2"]


@pytest.mark.parametrize("settings_sqlite", [1], indirect=True)
async def test_one_concurrent_update_processes_every_update_after_the_previous_one(
    jittery_app: App, fake: FakeTelegram, probe: Probe
):
    """MAX_CONCURRENT_UPDATES=1: a stock sequential bot (the benchmark's comparison)."""
    chats = [Chat.via_server(fake, user) for user in PEOPLE[:3]]
    sent: list[tuple[int, int]] = []
    async with polling(jittery_app):
        for n in range(6):
            for chat in chats:
                await chat.send(f"echo {n}")
                sent.append((chat.user.id, n))
        await fake.wait_for(
            lambda: all(len(fake.messages(c.user.id)) == 6 for c in chats), within=60, what="all"
        )
    assert probe.most_at_once == 1
    assert probe.started == sent  # in the order received, across people too


async def test_stop_finishes_the_updates_being_processed_and_leaves_the_waiting_ones(
    jittery_app: App, fake: FakeTelegram, probe: Probe
):
    """Stopping finishes what is in flight; what waited in a lane is processed at the next
    start, in its order."""
    slow = PEOPLE[0]
    gate = probe.hold(slow, 0)
    chat = Chat.via_server(fake, slow)
    stop = asyncio.Event()
    task = asyncio.create_task(Inbox(jittery_app, poll_seconds=1).run(stop))
    await chat.send("echo 0")
    await chat.send("echo 1")
    await fake.wait_for(lambda: (slow.id, 0) in probe.started, within=30, what="echo 0 begun")
    await eventually(lambda: _count_not_done(jittery_app, 2), what="echo 1 stored")
    stop.set()
    await asyncio.sleep(0.1)
    assert not task.done()  # waits for the update being processed
    gate.set()
    await asyncio.wait_for(task, timeout=30)
    assert echoes(fake, slow) == ["echo 0"]
    assert len(await not_done(jittery_app)) == 1  # echo 1: stored, not processed
    async with polling(jittery_app):  # the next start
        await fake.wait_for(lambda: len(fake.messages(slow.id)) == 2, within=30, what="echo 1")
    assert echoes(fake, slow) == ["echo 0", "echo 1"]
    assert await not_done(jittery_app) == []


async def test_a_webhook_feeds_receive_and_run_only_processes(
    jittery_app: App, fake: FakeTelegram, probe: Probe
):
    """`receive` stores a batch and returns; `run(poll=False)` processes it without calling
    getUpdates. A copy delivered again while the first is being processed runs once."""
    stop = asyncio.Event()
    box = Inbox(jittery_app)
    delivered: list[dict[str, Any]] = []

    async def webhook(data: dict[str, Any]) -> None:
        delivered.append(data)
        await box.receive([Update.de_json(copy.deepcopy(data), jittery_app.bot)])

    chats = [Chat(fake, user, webhook) for user in PEOPLE[:3]]
    await chats[0].send("echo 0")  # before `run`: stored, processed once it starts
    assert len(await not_done(jittery_app)) == 1
    task = asyncio.create_task(box.run(stop, poll=False))
    gate = probe.hold(PEOPLE[1], 0)
    for n in range(4):
        for chat in chats:
            await chat.send(f"echo {n}")
    held = next(
        d
        for d in delivered
        if d["message"]["text"] == "echo 0" and d["message"]["from"]["id"] == PEOPLE[1].id
    )
    await fake.wait_for(lambda: (PEOPLE[1].id, 0) in probe.started, within=30, what="held")
    await webhook(held)  # Telegram retried the delivery of the update being processed
    gate.set()
    await fake.wait_for(
        lambda: len(fake.messages(PEOPLE[1].id)) == 4 and len(fake.messages(PEOPLE[0].id)) == 5,
        within=60,
        what="every echo",
    )
    stop.set()
    await asyncio.wait_for(task, timeout=30)
    assert echoes(fake, PEOPLE[0]) == ["echo 0"] + [f"echo {n}" for n in range(4)]
    assert echoes(fake, PEOPLE[1]) == [f"echo {n}" for n in range(4)]
    assert fake.calls_to("getUpdates") == [] and fake.calls_to("deleteWebhook") == []
    assert await not_done(jittery_app) == []


async def test_no_more_updates_are_processed_at_once_than_the_bound(
    jittery_app: App, fake: FakeTelegram, probe: Probe
):
    chats = [Chat.via_server(fake, user) for user in PEOPLE]
    async with polling(jittery_app, max_concurrent=2):
        for n in range(4):
            for chat in chats:
                await chat.send(f"echo {n}")
        await fake.wait_for(replied(fake, 4), within=60, what="every echo")
    assert probe.most_at_once == 2
    for user in PEOPLE:
        assert echoes(fake, user) == [f"echo {n}" for n in range(4)]
