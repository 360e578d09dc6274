"""`python -m bot demo`: chat with the bot in this terminal, no Telegram account needed.

The demo builds the very same application (`bot.app.build_application`): same handlers, same
database, same outbox. Only the HTTP layer differs: `TerminalRequest` answers the Bot API calls
the bot makes like Telegram does and prints their effect, and the person's typed lines become
real Telegram updates. Like Telegram, it keeps what a message displays (text plus entities, via
`bot.chat.telegram_html`), never the markup: a message read back and edited (PTB's `text_html`) then
shows the same text, not its tags escaped a second time.

- Every button has a number of its own, counted on across all messages of the session (never
  restarting at [1]), so buttons of older messages stay reachable for as long as their message
  shows them; a button keeps its number when its message is edited.
- A line that is just a number presses that button. If no button has that number any more (its
  message was answered or edited), or it is in the other person's chat, the demo says so in one
  line and sends nothing: a number meant for a button never reaches the conversation as an
  answer. A number no button ever had (a 6-digit code, a phone number) is sent as a message; so
  is a number typed after an apostrophe (`'2`, for "how many places?").
- Anything else is sent as a message; every command works (`/start`, `/newtask`, `/tasks`, ...).
- `/as coordinator` and `/as supervisor` switch between two people: a supervisor (you) and a
  national coordinator for both exchange types, set up on first start. Messages to the person
  you are not playing right now are shown with their name; the prompt shows the supervisor's
  registered name once there is one.
- `/upload FILE` sends a file, e.g. `/upload slots-example.csv` (bundled demo slots) as the
  coordinator.
- Emails are written under `var/mail/` (the file backend) and echoed here. Offer emails go out
  in working hours only; outside them the demo says when the held email will go.
- `/quit` (or end of input) leaves.

The demo's own lines (this frame around the chat) come from the catalogs (`demo.*`), in the
language of `DEMO_LANGUAGE` or `LANG`.
"""
