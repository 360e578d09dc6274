"""Rendering emails: Jinja templates in `templates/email/`, texts from the catalogs, MIME out.

HTML is written with a `<style>` block where convenient and inlined with css-inline, since many
mail clients drop `<style>`. Every email is multipart/alternative (plain text first, then HTML)
with a fresh random `Message-ID` (after a short hash of its idempotency key, for tracing). The id
is made once, when the email is rendered and queued, and stored with the row, so a message that
is sent again after a crash carries the same id and a mail server or client can recognise the
duplicate, while two different emails never share one: not after `/delete` lets SQLite reuse a
row id, and not between two databases.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from functools import cache
from typing import Any

import css_inline
from jinja2 import Environment, PackageLoader, StrictUndefined

from bot.core import i18n


def _autoescape(name: str | None) -> bool:
    return name is not None and name.endswith((".html", ".html.j2", ".htm"))


@cache
def environment(language: str) -> Environment:
    """One Jinja environment per language, so rendering never shares a translation function."""
    env = Environment(
        loader=PackageLoader("templates", "email"),
        autoescape=_autoescape,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )

    def translate(message_id: str, **values: Any) -> str:
        # Plain format here: Jinja's autoescape escapes the whole result in HTML templates. A
        # message with plural forms takes the one its count asks for, as in chat.
        return i18n.template(language, message_id, values).format(**values)

    env.globals["t"] = translate
    env.globals["language"] = language
    return env


def new_message_id(idempotency_key: str, mail_from: str) -> str:
    """A Message-ID no other email has: 128 random bits, after 48 bits naming the logical email."""
    domain = parseaddr(mail_from)[1].rpartition("@")[2] or "veileder.invalid"
    digest = hashlib.sha256(idempotency_key.encode()).hexdigest()[:12]
    return f"<{digest}.{secrets.token_hex(16)}@{domain}>"


def attach(
    message: EmailMessage,
    data: bytes,
    *,
    subtype: str,
    filename: str,
    params: dict[str, str] | None = None,
) -> None:
    """Add a text attachment (making the message multipart/mixed) and keep the
    `Content-Language` on the top level, where `add_attachment` would move it from."""
    language = message["Content-Language"]
    message.add_attachment(
        data, maintype="text", subtype=subtype, filename=filename, params=params or {}
    )
    if language and message["Content-Language"] is None:
        message["Content-Language"] = language


@dataclass(frozen=True)
class Unsubscribe:
    """How to stop these emails: a one-tap deep link in the bot (in the footer), and the
    `List-Unsubscribe` header: mailto always, https where a public URL is configured."""

    deep_link: str
    mailto: str
    https: str | None = None

    def header(self) -> str:
        targets = [f"<{self.https}>"] if self.https else []
        return ", ".join([*targets, f"<{self.mailto}>"])


def render(
    template: str,
    *,
    language: str,
    recipient: str,
    mail_from: str,
    idempotency_key: str,
    now: datetime,
    reply_to: str | None = None,
    unsubscribe: Unsubscribe | None = None,
    **context: Any,
) -> tuple[str, EmailMessage]:
    """Render `templates/email/<template>.{subject,txt,html}.j2` into (subject, message).

    Every template says why the person receives the email (its `why` text); `layout.html.j2`
    and the text footer show the unsubscribe link when one is given.
    """
    env = environment(language)
    context = {**context, "unsubscribe": unsubscribe}
    subject = env.get_template(f"{template}.subject.j2").render(**context).strip()
    text = env.get_template(f"{template}.txt.j2").render(**context)
    html = env.get_template(f"{template}.html.j2").render(subject=subject, **context)
    html = css_inline.inline(html)
    message = EmailMessage()
    message["Subject"] = subject
    message["From"] = mail_from
    message["To"] = recipient
    message["Date"] = format_datetime(now)
    message["Message-ID"] = new_message_id(idempotency_key, mail_from)
    message["Auto-Submitted"] = "auto-generated"
    if reply_to:
        message["Reply-To"] = reply_to
    if unsubscribe is not None:
        message["List-Unsubscribe"] = unsubscribe.header()
        if unsubscribe.https:
            message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    message.set_content(text)
    message.add_alternative(html, subtype="html")
    # After add_alternative, which moves Content-* headers into the first part.
    message["Content-Language"] = "nb" if language == "nb" else "en"
    return subject, message
