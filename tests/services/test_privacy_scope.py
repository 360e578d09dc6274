"""Whose data is whose. A person's data is what is keyed to their Telegram account plus what is
keyed to an address they proved they read; an address they only typed is somebody else's.

The stories: someone types a colleague's address and tries to read the code without the
mailbox; someone types a colleague's address, changes it to another's, then asks for /mydata and
/delete; and a supervisor whose own, verified address carries an invitation and an opt-out.
"""

from __future__ import annotations

import argparse
import json
from email.message import EmailMessage
from typing import Any

from sqlalchemy import select
from sqlmodel import SQLModel, col

from bot.cli.supervisors import add_commands, dispatch
from bot.services import unsubscribe
from storage import campaigns as store
from storage.models import EmailVerification, Invitation, OutboxEmail, Supervisor, Suppression
from tests.helpers import code_in, link_token_in, mails, stored

COLLEAGUE = "kari.nordmann@ous-hf.no"  # Kari's own address, which John types
SECOND = "former.supervisor@uib.no"  # someone invited before the bot existed
JOHN = "john.smith@uio.no"


async def _to_email_step(chat: Any) -> None:
    await chat.command("start")
    await chat.press("I agree" if chat.user.language_code == "en" else "Jeg samtykker")
    await chat.press("Research" if chat.user.language_code == "en" else "Forskning")
    await chat.press("Researcher" if chat.user.language_code == "en" else "Forsker")
    await chat.send("Oslo universitetssykehus")
    await chat.press("Oslo")
    await chat.press("Epidemiology" if chat.user.language_code == "en" else "Epidemiologi")


def _to(settings: Any, address: str) -> list[EmailMessage]:
    return [m for m in mails(settings.mail_dir) if m["To"] == address]


def _cli(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bot")
    add_commands(parser.add_subparsers(dest="command", required=True))
    return parser.parse_args(["supervisors", *argv])


async def _invite(settings: Any, clock: Any, tmp_path: Any, address: str) -> None:
    people = tmp_path / "former.csv"
    people.write_text(f"name,email,city\nFormer Supervisor,{address},oslo\n")
    assert await dispatch(_cli("invite", str(people)), settings, clock=clock) == 0


def _mydata(chat: Any) -> dict[str, Any]:
    name, content = chat.documents()[-1]
    assert name.endswith(".json")
    return json.loads(content)


async def _rows(services: Any, model: Any, *where: Any) -> list[Any]:
    async with services.db.session() as session:
        return list((await session.execute(select(model).where(*where))).scalars())


async def _everything_but_outbox_bodies(services: Any) -> str:
    """Every stored value, except the bodies of queued emails (the outbox must hold a message
    until it is sent; clearing it then is the outbox's own retention rule)."""
    rows: list[str] = []
    async with services.db.session() as session:
        for table in SQLModel.metadata.sorted_tables:
            columns = [
                c for c in table.columns if (table.name, c.name) != ("outbox_email", "message")
            ]
            result = await session.execute(select(*columns))
            rows.extend(repr(tuple(row)) for row in result)
    return "\n".join(rows)


async def test_someone_who_types_a_colleagues_address_cannot_read_the_code_without_her_mailbox(
    john, services, settings
):
    await _to_email_step(john)
    await john.send(COLLEAGUE)
    await services.sender.run_once()
    [email] = _to(settings, COLLEAGUE)  # what only Kari's mailbox holds
    code, token = code_in(email), link_token_in(email).removeprefix("v_")
    assert code not in email["Subject"] and token not in email["Subject"]
    assert email["Subject"] == "Your Veileder verification code"

    await john.command("mydata")
    document = json.dumps(_mydata(john))
    assert code not in document and token not in document
    assert COLLEAGUE in document  # what he typed is his to see, and only that
    stored_values = await _everything_but_outbox_bodies(services)
    assert code not in stored_values and token not in stored_values


async def test_typing_colleagues_addresses_then_delete_leaves_their_verification_and_invitation(
    john, kari, services, settings, clock, tmp_path
):
    # Kari is verifying her own address; a former supervisor has been invited by email.
    await _to_email_step(kari)
    await kari.send(COLLEAGUE)
    await _invite(settings, clock, tmp_path, SECOND)
    await services.sender.run_once()
    [karis_email] = _to(settings, COLLEAGUE)
    [invitation_email] = _to(settings, SECOND)

    # John types Kari's address, then "change email" and the former supervisor's.
    await _to_email_step(john)
    await john.send(COLLEAGUE)
    await john.press("Change email")
    await john.send(SECOND)
    await services.sender.run_once()

    await john.command("mydata")
    document = _mydata(john)
    assert [v["email"] for v in document["email_verifications"]] == [COLLEAGUE, SECOND]
    assert document["invitations"] == [] and document["do_not_email"] == []
    shown = [(e["kind"], e["recipient"]) for e in document["emails"]]
    assert shown == [("verify", COLLEAGUE), ("verify", SECOND)]  # his own two, not theirs
    assert all("subject" not in e for e in document["emails"])

    await john.command("delete")
    await john.press("Yes, erase everything")

    karis = await _rows(services, EmailVerification, col(EmailVerification.email) == COLLEAGUE)
    assert [v.telegram_user_id for v in karis] == [kari.user.id]
    [invitation] = await _rows(services, Invitation, col(Invitation.email) == SECOND)
    assert invitation.name == "Former Supervisor"
    kinds = [(e.kind, e.recipient) for e in await _rows(services, OutboxEmail)]
    assert ("invitation", SECOND) in kinds and ("verify", COLLEAGUE) in kinds
    left = [m["Message-ID"] for m in _to(settings, SECOND)]  # his files went, not theirs
    assert left == [invitation_email["Message-ID"]]
    assert (
        await _rows(
            services, EmailVerification, col(EmailVerification.telegram_user_id) == john.user.id
        )
        == []
    )

    # And Kari's code still works for Kari.
    await kari.send(code_in(karis_email))
    assert "Se over opplysningene dine" in kari.last().text


async def test_a_verified_address_brings_its_invitation_and_opt_out_into_mydata_and_delete(
    john, services, settings, clock, tmp_path
):
    await _invite(settings, clock, tmp_path, JOHN)
    await services.sender.run_once()
    await _to_email_step(john)
    await john.send(JOHN)
    await services.sender.run_once()
    await john.send(code_in(_to(settings, JOHN)[-1]))
    await john.press("Confirm")
    [supervisor] = await _rows(services, Supervisor)
    assert supervisor.id is not None
    await john.command("start", unsubscribe.payload(services.secret, supervisor.id))

    await john.command("mydata")
    document = _mydata(john)
    assert [i["email"] for i in document["invitations"]] == [JOHN]
    [opt_out] = document["do_not_email"]
    assert opt_out["email"] == JOHN and opt_out["reason"] == "unsubscribed"
    assert {e["kind"] for e in document["emails"]} == {"invitation", "verify"}
    for email in document["emails"]:
        assert set(email) == {"kind", "recipient", "status", "created_at", "sent_at"}
    assert all(set(v) >= {"email", "verified_at"} for v in document["email_verifications"])
    assert "code_hash" not in json.dumps(document) and "link_hash" not in json.dumps(document)

    await john.command("delete")
    await john.press("Yes, erase everything")

    assert await stored(services, john.user.id) == (None, None)
    assert await _rows(services, Invitation) == []
    assert await _rows(services, OutboxEmail) == []
    assert await _rows(services, EmailVerification) == []
    # The opt-out is honoured after the erasure: the address, why and when, nothing else.
    [kept] = await _rows(services, Suppression)
    assert (kept.email, kept.reason) == (JOHN, "unsubscribed")
    async with services.db.session() as session:
        assert await store.is_suppressed(session, JOHN)


async def test_the_privacy_notice_says_the_opt_out_outlives_delete_in_both_languages(john, kari):
    await john.command("start")
    assert "do-not-email list, also after /delete" in john.last().text
    await kari.command("start")
    assert "også etter /delete" in kari.last().text
