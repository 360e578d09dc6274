"""What the sender puts on the wire without parsing: exactly what aiosmtplib's `send_message`
would have made of the parsed message, and nothing raw when the stored text cannot go as it is."""

from __future__ import annotations

from email import message_from_string, policy
from email.message import EmailMessage

import pytest
from aiosmtplib.email import flatten_message

from bot.domain.clock import SystemClock
from bot.mail.backends import Outgoing
from tests.support.outbox_worker import MAIL_FROM, email_row


def parsed(text: str) -> EmailMessage:
    message = message_from_string(text, _class=EmailMessage, policy=policy.default)
    assert isinstance(message, EmailMessage)
    return message


@pytest.mark.parametrize("kind", ["verify", "coordinator_invite"])
def test_the_stored_text_goes_as_send_message_would_have_sent_it(kind: str) -> None:
    row = email_row(3, SystemClock().now(), kind=kind)
    raw = Outgoing(1, row.message, row.idempotency_key).raw(eight_bit=True)
    assert raw is not None
    sender, recipients, data = raw
    assert (sender, recipients) == ("veileder@nmf.example", ["person3@example.no"])
    assert data == flatten_message(parsed(row.message))
    assert MAIL_FROM in row.message


def test_what_cannot_go_as_stored_is_parsed_first() -> None:
    now = SystemClock().now()
    encoded = email_row(4, now, recipient="kåre@example.no").message  # needs SMTPUTF8
    assert Outgoing(1, encoded, "k").raw(eight_bit=True) is None
    text = email_row(5, now).message
    with_bcc = text.replace("To: ", "Bcc: hidden@example.no\nTo: ", 1)
    assert Outgoing(1, with_bcc, "k").raw(eight_bit=True) is None
    without_id = "".join(
        line for line in text.splitlines(keepends=True) if not line.startswith("Message-ID:")
    )
    outgoing = Outgoing(7, without_id, "k", message_id="<kept@nmf.example>")
    assert outgoing.raw(eight_bit=True) is None
    assert outgoing.message["Message-ID"] == "<kept@nmf.example>"
