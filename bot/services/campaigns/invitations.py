"""Invitations: one email to people who supervised before the bot existed.

`python -m bot supervisors invite FILE.csv` (`bot.cli.supervisors`) reads `name,email[,field,
city]` with `parse_invitations` (pure, line-numbered problems like the slot importer) and
`invite` stores one `Invitation` per address and queues its email in the same transaction. An
address is invited once, ever; addresses on the suppression list (said no, unsubscribed,
bounced) and addresses of registered supervisors are skipped. The email (bokmål, the
association's language, with a paragraph in English) carries the join and "no thanks" links
(`bot.services.campaigns.links`).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from email.utils import parseaddr
from typing import Any, Final

from sqlalchemy.ext.asyncio import AsyncSession

from bot.core import emails, i18n
from bot.core.emails import Unsubscribe
from bot.core.settings import Settings
from bot.domain import reference
from bot.domain.signing import Link
from bot.domain.slots_csv import RowError
from bot.domain.validation import Valid, validate_email, validate_name
from bot.services.campaigns.links import decline_payload, invite_payload, link
from storage import campaigns as store
from storage import repository
from storage.coordinators import NATIONAL, coordinators_for, covers
from storage.models import Coordinator, Invitation, OutboxEmail

COLUMNS: Final = ("name", "email", "field", "city")
REQUIRED: Final = ("name", "email")
DECLINED: Final = "declined"


# ---- the invitation file: pure -------------------------------------------------------------------


@dataclass(frozen=True)
class InviteRow:
    line: int
    name: str
    email: str  # lower case
    field: str | None  # a field code
    city: str | None  # a city code


def _codes(named: Sequence[reference.Named]) -> dict[str, str]:
    lookup: dict[str, str] = {}
    for item in named:
        for spelling in (item.en, item.nb, item.code):
            lookup[spelling.casefold()] = item.code
    return lookup


def _short(value: str, limit: int = 60) -> str:
    return value if len(value) <= limit else value[: limit - 1] + "…"


def _row(line: int, values: dict[str, str]) -> tuple[InviteRow | None, list[RowError]]:
    errors: list[RowError] = []
    name = validate_name(values.get("name", ""))
    if not isinstance(name, Valid):
        errors.append(RowError(line, "invite.error.name", _short(values.get("name", ""))))
    address = validate_email(values.get("email", ""))
    if not isinstance(address, Valid):
        errors.append(RowError(line, "invite.error.email", _short(values.get("email", ""))))
    field_text, city_text = values.get("field", ""), values.get("city", "")
    field_code = _codes(reference.fields()).get(field_text.casefold()) if field_text else None
    if field_text and field_code is None:
        errors.append(RowError(line, "slots.error.field", _short(field_text)))
    city_code = _codes(reference.cities()).get(city_text.casefold()) if city_text else None
    if city_text and city_code is None:
        errors.append(RowError(line, "slots.error.city", _short(city_text)))
    if errors or not isinstance(name, Valid) or not isinstance(address, Valid):
        return None, errors
    return InviteRow(line, name.value, address.value.lower(), field_code, city_code), []


def parse_invitations(data: bytes | str) -> tuple[list[InviteRow], list[RowError]]:
    """Every good row and every problem (line numbers as an editor shows them); never raises.

    The header is required and names the columns, in any order: `name` and `email`, optionally
    `field` and `city` (a code, or the bokmål or English name). `;` (Excel with Norwegian
    settings) and a byte-order mark are accepted.
    """
    if isinstance(data, bytes):
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            return [], [RowError(data[: exc.start].count(b"\n") + 1, "slots.error.encoding")]
    else:
        text = data.removeprefix("\ufeff")
    first = text.splitlines()[0] if text else ""
    delimiter = ";" if first.count(";") > first.count(",") else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    rows: list[InviteRow] = []
    errors: list[RowError] = []
    header: list[str] | None = None
    seen: set[str] = set()
    line = ended = 0
    try:
        for cells in reader:
            line, ended = ended + 1, reader.line_num  # a quoted value may span lines
            if header is None:
                header = [c.strip().lower() for c in cells]
                if (
                    not set(REQUIRED) <= set(header)
                    or not set(header) <= set(COLUMNS)
                    or len(set(header)) != len(header)
                ):
                    return [], [RowError(1, "invite.error.header", _short(",".join(cells)))]
                continue
            if not any(c.strip() for c in cells):
                continue
            missing = header[len(cells) :]
            if len(cells) > len(header) or not set(missing) <= set(COLUMNS) - set(REQUIRED):
                errors.append(RowError(line, "invite.error.columns", str(len(cells))))
                continue
            cells = cells + [""] * len(missing)  # empty optional columns may be left out
            row, problems = _row(line, {k: v.strip() for k, v in zip(header, cells, strict=True)})
            errors += problems
            if row is not None and row.email in seen:
                errors.append(RowError(line, "invite.error.duplicate", row.email))
            elif row is not None:
                seen.add(row.email)
                rows.append(row)
    except csv.Error:
        errors.append(RowError(ended + 1, "slots.error.unreadable"))
    if header is None:
        return [], [RowError(1, "invite.error.header", "")]
    return rows, errors


# ---- emails --------------------------------------------------------------------------------------


def _other_language(language: str) -> str:
    return "en" if language == "nb" else "nb"


def _translate_in(language: str) -> Any:
    def translate(message_id: str, **values: Any) -> str:
        return i18n.gettext(language, message_id).format(**values)

    return translate


async def reply_to(
    session: AsyncSession, settings: Settings, scopes: Sequence[tuple[str, str]]
) -> str | None:
    """The responsible coordinators' addresses for these (type, city) scopes, local ones first;
    else the configured fallback."""
    found = []
    for exchange_type, city in scopes:
        found += await coordinators_for(session, exchange_type, city)
    return reply_to_among(found, settings, scopes)


def reply_to_among(
    bound: Sequence[Coordinator], settings: Settings, scopes: Sequence[tuple[str, str]]
) -> str | None:
    """`reply_to` from the bound coordinators read once (in id order) for a whole batch."""
    addresses: list[str] = []
    for exchange_type, city in scopes:
        found = [c for c in bound if covers(c, exchange_type, city)]
        for coordinator in sorted(found, key=lambda c: c.city == NATIONAL):
            if coordinator.email.lower() not in {a.lower() for a in addresses}:
                addresses.append(coordinator.email)
    return ", ".join(addresses) if addresses else settings.reply_to


def _invitation_unsubscribe(settings: Settings, bot_username: str, token: str) -> Unsubscribe:
    address = parseaddr(settings.mail_from)[1] or "veileder@localhost"
    https = (
        f"{settings.public_url.rstrip('/')}/unsubscribe/{token}" if settings.public_url else None
    )
    return Unsubscribe(
        deep_link=link(bot_username, token),
        mailto=f"mailto:{address}?subject=unsubscribe%20{token}",
        https=https,  # one click (RFC 8058) declines it: bot.web.unsubscribe
    )


async def queue_invitation(
    session: AsyncSession,
    invitation: Invitation,
    *,
    settings: Settings,
    secret: bytes,
    bot_username: str,
    now: datetime,
) -> bool:
    """Queue the one invitation email in the caller's transaction. False if it exists."""
    invitation_id = invitation.id or 0
    key = f"invite:{invitation_id}"
    no_thanks = decline_payload(secret, invitation_id)
    scopes = [(t, invitation.city or NATIONAL) for t in reference.EXCHANGE_TYPES]
    language = "nb"  # the association's language; the other one follows in a paragraph
    subject, message = emails.render(
        "invitation",
        language=language,
        recipient=invitation.email,
        mail_from=settings.mail_from,
        idempotency_key=key,
        now=now,
        reply_to=await reply_to(session, settings, scopes),
        unsubscribe=_invitation_unsubscribe(settings, bot_username, no_thanks),
        name=invitation.name,
        join_link=link(bot_username, invite_payload(secret, invitation_id)),
        decline_link=link(bot_username, no_thanks),
        other=_translate_in(_other_language(language)),
    )
    return await repository.queue_email(
        session,
        OutboxEmail(
            idempotency_key=key,
            kind="invitation",
            recipient=invitation.email,
            subject=subject,
            message=message.as_string(),
            next_attempt_at=now,
            created_at=now,
        ),
    )


@dataclass
class InviteReport:
    invited: list[str] = field(default_factory=list)
    already: list[str] = field(default_factory=list)
    suppressed: list[str] = field(default_factory=list)
    registered: list[str] = field(default_factory=list)


async def invite(
    session: AsyncSession,
    rows: Sequence[InviteRow],
    *,
    settings: Settings,
    secret: bytes,
    bot_username: str,
    now: datetime,
) -> InviteReport:
    """Invite every row that may be invited, each with its email, in the caller's transaction."""
    report = InviteReport()
    for row in rows:
        if await store.is_suppressed(session, row.email):
            report.suppressed.append(row.email)
        elif await store.is_registered(session, row.email):
            report.registered.append(row.email)
        elif await store.invitation_for(session, row.email) is not None:
            report.already.append(row.email)
        else:
            invitation = await store.add_invitation(
                session, email=row.email, name=row.name, field=row.field, city=row.city, now=now
            )
            await queue_invitation(
                session,
                invitation,
                settings=settings,
                secret=secret,
                bot_username=bot_username,
                now=now,
            )
            report.invited.append(row.email)
    return report


# ---- the invitation's answers --------------------------------------------------------------------


async def invitation_link_usable(session: AsyncSession, link: Link, now: datetime) -> bool:
    """An invitation link may act: current, or legacy within 90 days of the invitation."""
    invitation = await store.get_invitation(session, link.id)
    return invitation is not None and link.usable(invitation.created_at, now)


async def accept_invitation(
    session: AsyncSession, invitation_id: int, now: datetime | None = None
) -> tuple[Invitation | None, bool]:
    """The join link was opened: answer "yes" (a changed mind takes the address off the list).

    With `now`, the link is used up: True the first time only. Invitations get forwarded, and
    the first use is what gives a registration the invitation's name and address, so a second
    opening (anyone's) must start nothing prefilled."""
    invitation = await store.get_invitation(session, invitation_id)
    if invitation is None:
        return None, False
    if invitation.answer == "no":
        await store.unsuppress(session, invitation.email, DECLINED)
    invitation.answer = "yes"
    first = now is not None and invitation.used_at is None
    if first:
        invitation.used_at = now
    session.add(invitation)
    return invitation, first


async def decline_invitation(
    session: AsyncSession, invitation_id: int, now: datetime
) -> Invitation | None:
    """ "No thanks": answer "no" and never invite or remind that address again."""
    invitation = await store.get_invitation(session, invitation_id)
    if invitation is None:
        return None
    invitation.answer = "no"
    session.add(invitation)
    await store.suppress(session, invitation.email, DECLINED, now)
    return invitation
