"""A strict, in-memory fake of Telegram's Bot API for tests.

Only the HTTP layer is faked: tests run the real PTB ``Application`` / ``Bot`` against either

* `request.RecordingRequest` - an in-process :class:`telegram.request.BaseRequest`, or
* `server.BotApiServer` - a real HTTP server on 127.0.0.1 (for running the bot in a subprocess),

both backed by one `fake.FakeTelegram`, which enforces Telegram's rules (rules.py: HTML parse
mode, length limits, callback data size, "message is not modified", callback query answers, ...).
Every rule the bot breaks is answered like Telegram does (HTTP 400 + description) *and* recorded
in `FakeTelegram.violations`, so a test can assert that nothing was broken even when the bot's
error handler swallowed the exception.

The modules: model.py (what the fake records), rules.py (Telegram's rules), state.py (chats,
messages and the read-back helpers), messages.py and updates.py (the Bot API methods), fake.py
(`FakeTelegram` and the dispatch), request.py and server.py (the two transports). HTML is parsed
by the bot's own `bot.chat.telegram_html`, which is what Telegram does to a message.
"""
