"""Self-tests for the fake Bot API (tests/support/botapi/) and the chat driver."""

from __future__ import annotations

import asyncio
import json
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from telegram import (
    Bot,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    ReplyKeyboardMarkup,
    Update,
)
from telegram.constants import ParseMode
from telegram.error import BadRequest, Forbidden
from telegram.ext import (
    Application,
    ApplicationBuilder,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    filters,
)

from bot.chat.telegram_html import parse_html
from tests.support.botapi.fake import FakeTelegram
from tests.support.botapi.request import RecordingRequest
from tests.support.botapi.rules import ERR_NOT_MODIFIED, ERR_QUERY_INVALID
from tests.support.botapi.server import BotApiServer
from tests.support.chat import Chat, TgUser

USER = TgUser(id=4242, first_name="Kari", last_name="Nordmann", username="kari", language_code="nb")
KB = {"inline_keyboard": [[{"text": "Ja", "callback_data": "yes"}]]}


@pytest.fixture
def fake() -> FakeTelegram:
    fake = FakeTelegram()
    fake.register_chat(USER.id, first_name=USER.first_name)
    return fake


@pytest.fixture
def server(fake: FakeTelegram) -> Iterator[BotApiServer]:
    with BotApiServer(fake) as srv:
        yield srv


def send(fake: FakeTelegram, text: str, **params: Any) -> tuple[int, dict[str, Any]]:
    return fake.handle("sendMessage", {"chat_id": USER.id, "text": text, **params})


# ------------------------------------------------------------------------- HTML parser


@pytest.mark.parametrize(
    "html",
    [
        "<b>x",
        "a < b",
        "<div>x</div>",
        "<b>x</i>",
        "<b><i>x</b></i>",
        "x</b>",
        "Tom & Jerry",
        "&nbsp;",
        "&amp",
        "<a>link</a>",
        '<span class="other">x</span>',
        "<br/>",
        "<b",
        '<a href="x>y</a>',
        "&#0;",
    ],
)
def test_invalid_html_is_rejected(fake: FakeTelegram, html: str) -> None:
    with pytest.raises(ValueError):
        parse_html(html)
    status, body = send(fake, html, parse_mode="HTML")
    assert status == 400
    assert body["description"].startswith("Bad Request: can't parse entities: ")
    assert len(fake.violations) == 1
    assert fake.messages(USER.id) == []


def test_valid_html_is_accepted(fake: FakeTelegram) -> None:
    html = '<b>a &amp; b</b> <a href="https://x">l</a>'
    status, body = send(fake, html, parse_mode="HTML")
    assert status == 200, body
    assert body["result"]["text"] == "a & b l"
    assert body["result"]["entities"] == [
        {"type": "bold", "offset": 0, "length": 5},
        {"type": "text_link", "offset": 6, "length": 1, "url": "https://x"},
    ]
    message = fake.last_message(USER.id)
    assert (message.text, message.html) == ("a & b l", html)
    assert fake.violations == []


def test_length_limits_count_visible_text(fake: FakeTelegram) -> None:
    assert send(fake, "x" * 4096)[0] == 200
    status, body = send(fake, "x" * 4097)
    assert (status, body["description"]) == (400, "Bad Request: message is too long")
    # markup does not count, entities count as one character
    assert send(fake, "<b>" + "&amp;" * 4096 + "</b>", parse_mode="HTML")[0] == 200
    assert send(fake, "&amp;" * 4097, parse_mode="HTML")[0] == 400
    assert send(fake, "")[1]["description"] == "Bad Request: message text is empty"
    assert send(fake, " \n ")[1]["description"] == "Bad Request: message text is empty"
    assert send(fake, "<b></b>", parse_mode="HTML")[0] == 400
    assert len(fake.violations) == 5
    # Telegram counts UTF-16 code units: 2048 emoji fit, one more does not.
    assert send(fake, "😀" * 2048)[0] == 200
    assert send(fake, "😀" * 2048 + "x")[1]["description"] == "Bad Request: message is too long"


def test_text_is_trimmed_like_telegram(fake: FakeTelegram) -> None:
    status, body = send(fake, "\n  <b>hei</b>  \n", parse_mode="HTML")
    assert status == 200
    assert body["result"]["text"] == "hei"
    assert body["result"]["entities"] == [{"type": "bold", "offset": 0, "length": 3}]


# ------------------------------------------------------------------------- markup rules


def test_callback_data_limit_is_in_bytes(fake: FakeTelegram) -> None:
    ok = {"inline_keyboard": [[{"text": "a", "callback_data": "x" * 64}]]}
    assert send(fake, "t", reply_markup=json.dumps(ok))[0] == 200
    too_long = {"inline_keyboard": [[{"text": "a", "callback_data": "x" * 65}]]}
    status, body = send(fake, "t", reply_markup=too_long)
    assert (status, body["description"]) == (400, "Bad Request: BUTTON_DATA_INVALID")
    multibyte = {"inline_keyboard": [[{"text": "a", "callback_data": "ø" * 33}]]}  # 66 bytes
    assert send(fake, "t", reply_markup=multibyte)[1]["description"].endswith("DATA_INVALID")
    empty = {"inline_keyboard": [[{"text": "a", "callback_data": ""}]]}
    assert send(fake, "t", reply_markup=empty)[0] == 400
    assert len(fake.violations) == 3
    assert "65 bytes" in fake.violations[0]


def test_other_markup_rules(fake: FakeTelegram) -> None:
    no_text = {"inline_keyboard": [[{"text": "", "callback_data": "a"}]]}
    text_only = {"inline_keyboard": [[{"text": "a"}]]}
    too_many = {
        "inline_keyboard": [[{"text": str(i), "callback_data": str(i)}] for i in range(101)]
    }
    bad_url = {"inline_keyboard": [[{"text": "a", "url": "not a url"}]]}
    for markup in (no_text, text_only, too_many, bad_url, {"foo": 1}):
        assert send(fake, "t", reply_markup=markup)[0] == 400, markup
    assert send(fake, "t", reply_markup="{not json")[0] == 400
    assert len(fake.violations) == 6
    reply_kb = {
        "keyboard": [[{"text": "Del nummer", "request_contact": True}], ["Avbryt"]],
        "resize_keyboard": True,
        "one_time_keyboard": True,
    }
    status, body = send(fake, "t", reply_markup=reply_kb)
    assert status == 200
    assert "reply_markup" not in body["result"]  # Telegram only echoes inline keyboards
    message = fake.last_message(USER.id)
    assert message.keyboard == [
        [{"text": "Del nummer", "request_contact": True}],
        [{"text": "Avbryt"}],
    ]
    assert message.keyboard_texts == ["Del nummer", "Avbryt"]
    assert send(fake, "t", reply_markup={"remove_keyboard": True})[0] == 200
    assert send(fake, "t", reply_markup={"force_reply": True})[0] == 200


def test_form_encoded_params_are_normalised(fake: FakeTelegram) -> None:
    status, body = fake.handle(
        "SENDMESSAGE", {"chat_id": str(USER.id), "text": "123", "reply_markup": json.dumps(KB)}
    )
    assert status == 200
    assert body["result"]["text"] == "123"
    assert body["result"]["chat"]["id"] == USER.id
    assert body["result"]["reply_markup"] == KB
    message = fake.last_message(USER.id)
    assert [[b.callback_data for b in row] for row in message.buttons] == [["yes"]]
    assert fake.calls_to("sendMessage")[0].params["chat_id"] == USER.id


def test_unknown_method_and_unknown_chat(fake: FakeTelegram) -> None:
    assert fake.handle("sendPoll", {}) == (
        404,
        {"ok": False, "error_code": 404, "description": "Not Found"},
    )
    status, body = fake.handle("sendMessage", {"chat_id": 1, "text": "x"})
    assert (status, body["description"]) == (400, "Bad Request: chat not found")
    fake.block(USER.id)
    status, body = send(fake, "x")
    assert (status, body["description"]) == (403, "Forbidden: bot was blocked by the user")
    assert len(fake.violations) == 2  # being blocked is not the bot's fault
    fake.unblock(USER.id)
    status, body = send(fake, "x", reply_parameters=json.dumps({"message_id": 777}))
    assert (status, body["description"]) == (400, "Bad Request: message to be replied not found")
    fake.record_user_message({"message_id": 777, "chat": {"id": USER.id, "type": "private"}})
    assert send(fake, "x", reply_parameters={"message_id": 777})[0] == 200
    assert fake.next_message_id() > 777


# ------------------------------------------------------------------------- edits & callbacks


def test_edit_rules(fake: FakeTelegram) -> None:
    message_id = send(fake, "<b>hei</b>", parse_mode="HTML", reply_markup=KB)[1]["result"][
        "message_id"
    ]
    edit = {"chat_id": USER.id, "message_id": message_id, "parse_mode": "HTML"}
    status, body = fake.handle(
        "editMessageText", {**edit, "text": "<b>hei</b>", "reply_markup": KB}
    )
    assert (status, body["description"]) == (400, ERR_NOT_MODIFIED)
    # same text, but omitting reply_markup removes the keyboard -> modified
    status, body = fake.handle("editMessageText", {**edit, "text": "<b>hei</b>"})
    assert status == 200
    assert "reply_markup" not in body["result"] and "edit_date" in body["result"]
    message = fake.last_message(USER.id)
    assert (message.edits, message.buttons) == (1, [])
    # formatting change is a modification
    assert fake.handle("editMessageText", {**edit, "text": "<i>hei</i>"})[0] == 200
    status, body = fake.handle("editMessageReplyMarkup", {**edit})
    assert (status, body["description"]) == (400, ERR_NOT_MODIFIED)
    assert fake.handle("editMessageReplyMarkup", {**edit, "reply_markup": KB})[0] == 200
    assert fake.last_message(USER.id).button_texts == ["Ja"]
    missing = {**edit, "message_id": 9999, "text": "x"}
    assert fake.handle("editMessageText", missing)[1]["description"] == (
        "Bad Request: message to edit not found"
    )
    assert fake.handle("deleteMessage", {"chat_id": USER.id, "message_id": message_id})[0] == 200
    assert fake.messages(USER.id)[0].deleted
    assert fake.handle("deleteMessage", {"chat_id": USER.id, "message_id": message_id})[0] == 400
    assert fake.handle("editMessageText", {**edit, "text": "y"})[0] == 400
    assert len(fake.violations) == 5


def test_answer_callback_query_rules(fake: FakeTelegram) -> None:
    fake.register_callback_query("q1")
    fake.register_callback_query("q2")
    assert fake.unanswered_callback_queries() == ["q1", "q2"]
    ok = fake.handle(
        "answerCallbackQuery", {"callback_query_id": "q1", "text": "Lagret", "show_alert": "true"}
    )
    assert ok[0] == 200
    answer = fake.callback_answer("q1")
    assert answer is not None and (answer.text, answer.show_alert) == ("Lagret", True)
    for query_id in ("q1", "nope"):
        status, body = fake.handle("answerCallbackQuery", {"callback_query_id": query_id})
        assert (status, body["description"]) == (400, ERR_QUERY_INVALID)
    assert fake.unanswered_callback_queries() == ["q2"]
    assert len(fake.violations) == 2


def test_commands_per_language(fake: FakeTelegram) -> None:
    commands = [{"command": "start", "description": "Start"}]
    assert fake.handle("setMyCommands", {"commands": json.dumps(commands)})[0] == 200
    nb = [{"command": "start", "description": "Kom i gang"}]
    assert fake.handle("setMyCommands", {"commands": nb, "language_code": "nb"})[0] == 200
    assert fake.commands() == commands
    assert fake.commands("nb") == nb
    assert fake.handle("getMyCommands", {"language_code": "nb"})[1]["result"] == nb
    bad = [{"command": "Start", "description": "x"}]
    assert fake.handle("setMyCommands", {"commands": bad})[1]["description"] == (
        "Bad Request: BOT_COMMAND_INVALID"
    )
    assert fake.handle("deleteMyCommands", {"language_code": "nb"})[0] == 200
    assert fake.commands("nb") == []


# ------------------------------------------------------------------------- getUpdates


def test_get_updates_offset_semantics(fake: FakeTelegram) -> None:
    first = fake.enqueue_update({"message": {"text": "a"}})
    second = fake.enqueue_update({"message": {"text": "b"}})
    assert second == first + 1
    result = fake.handle("getUpdates", {"offset": 0, "limit": 1})[1]["result"]
    assert [u["update_id"] for u in result] == [first]
    # not confirmed -> delivered again (e.g. after a crash)
    result = fake.handle("getUpdates", {})[1]["result"]
    assert [u["update_id"] for u in result] == [first, second]
    assert fake.delivery_count(first) == 2
    result = fake.handle("getUpdates", {"offset": str(second)})[1]["result"]
    assert [u["update_id"] for u in result] == [second]
    assert fake.is_confirmed(first) and not fake.is_confirmed(second)
    assert fake.handle("getUpdates", {"offset": second + 1})[1]["result"] == []
    with pytest.raises(ValueError):
        fake.enqueue_update({"update_id": second, "message": {}})


# ------------------------------------------------------------------------- real PTB Bot


async def test_real_bot_over_recording_request(fake: FakeTelegram) -> None:
    bot = Bot("123:ABC", request=RecordingRequest(fake), get_updates_request=RecordingRequest(fake))
    async with bot:
        me = await bot.get_me()
        assert (me.id, me.username, me.is_bot) == (999000, "veileder_test_bot", True)
        markup = InlineKeyboardMarkup(
            [
                [
                    InlineKeyboardButton("Ja ✅", callback_data="yes"),
                    InlineKeyboardButton("Les mer", url="https://ifmsa.no"),
                ]
            ]
        )
        sent = await bot.send_message(
            USER.id, "<b>Hei</b> Kari", parse_mode=ParseMode.HTML, reply_markup=markup
        )
        assert sent.text == "Hei Kari"
        assert sent.reply_markup == markup
        stored = fake.last_message(USER.id)
        assert stored.html == "<b>Hei</b> Kari"
        assert stored.buttons[0][0].callback_data == "yes"
        assert stored.buttons[0][1].url == "https://ifmsa.no"

        document = await bot.send_document(
            USER.id,
            document=b"a;b\n1;2\n",
            filename="liste.csv",
            caption="<i>CSV</i>",
            parse_mode=ParseMode.HTML,
        )
        assert document.document is not None and document.document.file_name == "liste.csv"
        assert document.caption == "CSV"
        assert fake.documents(USER.id) == [("liste.csv", b"a;b\n1;2\n")]

        with pytest.raises(BadRequest, match=r"(?i)can't parse entities"):
            await bot.send_message(USER.id, "1 < 2", parse_mode=ParseMode.HTML)
        with pytest.raises(BadRequest, match=r"(?i)message is not modified"):
            await bot.edit_message_text(
                "<b>Hei</b> Kari\n",  # same visible text and entities after parsing/trimming
                chat_id=USER.id,
                message_id=sent.message_id,
                parse_mode=ParseMode.HTML,
                reply_markup=markup,
            )
        edited = await bot.edit_message_text(
            "Hei igjen", chat_id=USER.id, message_id=sent.message_id
        )
        assert isinstance(edited, type(sent)) and edited.text == "Hei igjen"
        await bot.set_my_commands([("start", "Start")], language_code="nb")
        assert fake.commands("nb") == [{"command": "start", "description": "Start"}]
        assert await bot.send_chat_action(USER.id, "typing")
        chat = await bot.get_chat(USER.id)
        assert chat.first_name == "Kari"
        fake.block(USER.id)
        with pytest.raises(Forbidden):
            await bot.send_message(USER.id, "x")
    assert len(fake.violations) == 2


async def test_http_server_decodes_json_form_and_multipart(server: BotApiServer) -> None:
    fake = server.fake

    def post(method: str, body: bytes, content_type: str) -> dict[str, Any]:
        request = urllib.request.Request(
            f"{server.base_url}123:ABC/{method}",
            data=body,
            headers={"Content-Type": content_type},
        )
        with urllib.request.urlopen(request, timeout=5) as response:
            return json.loads(response.read())

    body = json.dumps({"chat_id": USER.id, "text": "json", "reply_markup": KB}).encode()
    result = await asyncio.to_thread(post, "sendMessage", body, "application/json")
    assert result["result"]["reply_markup"] == KB
    form = f"chat_id={USER.id}&text=bl%C3%A5b%C3%A6r".encode()
    result = await asyncio.to_thread(post, "sendmessage", form, "application/x-www-form-urlencoded")
    assert result["result"]["text"] == "blåbær"

    # multipart as sent by PTB/httpx, with a non-ASCII filename and binary content
    bot = Bot("123:ABC", base_url=server.base_url)
    content = bytes(range(256)) * 4 + b"\r\n--boundary\r\n"
    async with bot:
        message = await bot.send_document(
            USER.id, document=content, filename='søknad "1".pdf', caption="Vedlegg"
        )
    assert message.caption == "Vedlegg"
    assert fake.documents(USER.id) == [('søknad "1".pdf', content)]
    assert fake.last_message(USER.id).raw["document"]["mime_type"] == "application/pdf"
    assert fake.violations == []


# ------------------------------------------------------------------------- Application


async def _start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    assert update.effective_chat is not None
    markup = InlineKeyboardMarkup(
        [
            [InlineKeyboardButton("Bli veileder", callback_data="join")],
            [InlineKeyboardButton("Nei takk", callback_data="no")],
        ]
    )
    args = " ".join(context.args or [])
    await context.bot.send_message(
        update.effective_chat.id,
        f"<b>Velkommen</b> {args}".strip(),
        parse_mode=ParseMode.HTML,
        reply_markup=markup,
    )


async def _button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    query = update.callback_query
    assert query is not None
    await query.answer("OK")
    await query.edit_message_text(f"Du valgte {query.data}")


async def _contact(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    assert update.message is not None and update.message.contact is not None
    await update.message.reply_text(f"Takk, {update.message.contact.phone_number}", do_quote=True)


async def _echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    message = update.effective_message
    assert message is not None
    kind = "edit" if update.edited_message else "msg"
    await message.reply_text(f"{kind}: {message.text or message.effective_attachment}"[:50])


def _add_handlers(app: Application[Any, Any, Any, Any, Any, Any]) -> None:
    app.add_handler(CommandHandler("start", _start))
    app.add_handler(CallbackQueryHandler(_button, block=False))
    app.add_handler(MessageHandler(filters.CONTACT, _contact))
    app.add_handler(MessageHandler(filters.ALL, _echo))


async def test_application_in_process_with_chat_driver(fake: FakeTelegram) -> None:
    app = (
        ApplicationBuilder()
        .token("123:ABC")
        .request(RecordingRequest(fake))
        .get_updates_request(RecordingRequest(fake))
        .updater(None)
        .build()
    )
    _add_handlers(app)
    chat = Chat.in_process(fake, USER, app)
    async with app:
        await app.start()  # only needed for block=False handlers (PTB warns otherwise)
        mark = chat.mark()
        await chat.command("start", "hei")
        assert chat.last().text == "Velkommen hei"
        assert chat.last().entities == [{"type": "bold", "offset": 0, "length": 9}]
        menu = chat.last()
        with pytest.raises(AssertionError, match="available buttons"):
            await chat.press("finnes ikke")
        query_id = await chat.press("veileder")  # non-blocking handler is awaited
        assert fake.callback_answer(query_id) is not None
        assert menu.text == "Du valgte join" and menu.edits == 1
        assert [m.message_id for m in chat.new_messages(mark)] == [menu.message_id]
        await chat.press_data("x" * 10, menu)  # forged data on a keyboard-less message
        contact = await chat.share_contact("+4712345678")
        assert chat.last().text == "Takk, +4712345678"
        assert chat.last().raw["reply_to_message"]["message_id"] == contact["message_id"]
        sent = await chat.send("hallo")
        await chat.edit(sent["message_id"], "hallo igjen")
        assert chat.texts()[-2:] == ["msg: hallo", "edit: hallo igjen"]
        await chat.send_sticker()
        await chat.send_photo()
        await chat.send_voice()
        await chat.send_document("cv.pdf", b"%PDF")
        await chat.forward("videresendt")
        assert len(chat.texts()) == 9
        await app.stop()
    assert fake.unanswered_callback_queries() == []
    fake.assert_no_violations()


def test_command_entity_uses_utf16_lengths() -> None:
    from tests.support.chat import command_entities

    assert command_entities("/start@veileder_test_bot abc") == [
        {"type": "bot_command", "offset": 0, "length": 24}
    ]
    assert command_entities("hei /start") == []
    assert command_entities("/") == []


async def test_application_polls_bot_api_server(server: BotApiServer) -> None:
    fake = server.fake
    app = ApplicationBuilder().token("123:ABC").base_url(server.base_url).build()
    _add_handlers(app)
    chat = Chat.via_server(fake, USER)
    await app.initialize()
    await app.start()
    assert app.updater is not None
    await app.updater.start_polling(poll_interval=0, timeout=1)
    try:
        # let a long poll block, then check an enqueued update wakes it promptly
        await fake.wait_for(lambda: fake.polls_waiting > 0, within=5)
        mark = chat.mark()
        loop = asyncio.get_running_loop()
        started = loop.time()
        await chat.command("start")
        [reply] = await chat.wait_for_messages(mark, within=5)
        assert loop.time() - started < 0.9
        assert reply.text == "Velkommen" and reply.button_texts == ["Bli veileder", "Nei takk"]
        mark = chat.mark()
        query_id = await chat.press("nei")
        await chat.wait_for_messages(mark, within=5)
        await fake.wait_for(lambda: fake.callback_answer(query_id) is not None, within=5)
        assert reply.text == "Du valgte no"
    finally:
        await app.updater.stop()
        await app.stop()
        await app.shutdown()
    # PTB confirms processed updates on shutdown
    assert fake.pending_updates() == []
    fake.assert_no_violations()


async def test_long_poll_returns_empty_after_timeout_and_reply_keyboard(
    server: BotApiServer,
) -> None:
    bot = Bot("123:ABC", base_url=server.base_url)
    async with bot:
        loop = asyncio.get_running_loop()
        started = loop.time()
        assert await bot.get_updates(timeout=1) == ()
        assert 0.9 <= loop.time() - started < 3
        markup = ReplyKeyboardMarkup([[KeyboardButton("Del nummer", request_contact=True)]])
        message = await bot.send_message(USER.id, "Del nummeret ditt", reply_markup=markup)
        assert message.reply_markup is None
    assert server.fake.last_message(USER.id).keyboard[0][0]["request_contact"] is True


_SUBPROCESS_BOT = """
import os
from telegram.ext import ApplicationBuilder, CommandHandler

async def start(update, context):
    await update.message.reply_text(f"pid {os.getpid()}: {' '.join(context.args)}")

app = ApplicationBuilder().token("123:ABC").base_url(os.environ["TELEGRAM_API_BASE_URL"]).build()
app.add_handler(CommandHandler("start", start))
app.run_polling(poll_interval=0, timeout=10)
"""


@pytest.mark.slow
async def test_sigkilled_bot_gets_unconfirmed_updates_after_restart(
    server: BotApiServer,
) -> None:
    import os
    import signal
    import sys

    fake = server.fake
    chat = Chat.via_server(fake, USER)
    env = {**os.environ, **server.env()}

    async def spawn() -> asyncio.subprocess.Process:
        return await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            _SUBPROCESS_BOT,
            env=env,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )

    first = await spawn()
    try:
        mark = chat.mark()
        await chat.command("start", "one")
        [reply] = await chat.wait_for_messages(mark, within=20)
        assert reply.text.endswith(": one")
        # wait until the bot sits in a long poll, then kill it mid-poll
        await fake.wait_for(lambda: fake.polls_waiting > 0, within=5)
        first.send_signal(signal.SIGKILL)
        await first.wait()
        # the dead bot's long poll is still open on the server: this update is written to
        # the dead socket, but never confirmed, so the next bot process gets it again
        await chat.command("start", "two")
        pending = fake.pending_updates()
        assert len(pending) == 1
        await fake.wait_for(lambda: fake.delivery_count(pending[0]["update_id"]) >= 1, within=5)
    finally:
        if first.returncode is None:
            first.kill()
            await first.wait()
    second = await spawn()
    try:
        mark = chat.mark()
        [reply] = await chat.wait_for_messages(mark, within=20)
        assert reply.text.endswith(": two") and str(second.pid) in reply.text
        assert fake.delivery_count(pending[0]["update_id"]) == 2
    finally:
        second.send_signal(signal.SIGKILL)
        await second.wait()
    fake.assert_no_violations()
