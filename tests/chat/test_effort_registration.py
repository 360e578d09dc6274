"""What registering costs a supervisor, counted through the real application (issue 9).

The typical path: /start, consent, one exchange type, a title from the list, the workplace, a
listed city, one field, the work email and its code, confirm. From a past supervisor's
invitation ("Yes" in the email opens the bot): consent, type, title, workplace, confirm; the
name, the address (proved by the signed link), the city and the field come from the invitation.
"""

from __future__ import annotations

import argparse
import re

import pytest

from bot.cli.supervisors import add_commands, dispatch
from tests.helpers import code_in, mails, stored
from tests.support.effort import measure

REGISTRATION_TARGET = 10
INVITED_TARGET = 5


@pytest.fixture
def database_url(sqlite_url: str) -> str:
    return sqlite_url


def _cli(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bot")
    add_commands(parser.add_subparsers(dest="command", required=True))
    return parser.parse_args(["supervisors", *argv])


async def test_registration_on_the_typical_path(john, services, settings):
    async with measure(john, "registration (typical path)", REGISTRATION_TARGET) as count:
        await john.command("start")
        await john.press("I agree")
        await john.press("Research")
        await john.press("Researcher / PhD")
        await john.send("Institute of Health and Society")
        await john.press("Oslo")
        await john.press("Epidemiology")
        await john.send("john.smith@uio.no")
        await services.sender.run_once()
        [verification] = mails(settings.mail_dir)
        await john.send(code_in(verification))
        assert "Please check your details" in john.last().text
        await john.press("Confirm")
    _, supervisor = await stored(services, john.user.id)
    assert supervisor is not None and supervisor.email_verified_at is not None
    assert (supervisor.name, supervisor.city, supervisor.fields) == (
        "John Smith",
        "oslo",
        ["epidemiology"],
    )
    assert supervisor.phone is None
    assert count.answers <= REGISTRATION_TARGET


async def test_registration_from_an_invitation(kari, services, settings, clock, tmp_path):
    people = tmp_path / "former.csv"
    people.write_text("name,email,field,city\nKari Nordmann,kari@ous-hf.no,cardiology,bergen\n")
    assert await dispatch(_cli("invite", str(people)), settings, clock=clock) == 0
    await services.sender.run_once()
    [message] = [m for m in mails(settings.mail_dir) if m["To"] == "kari@ous-hf.no"]
    body = message.get_body(preferencelist=("plain",))
    assert body is not None
    found = re.search(r"\?start=(i_[A-Za-z0-9_-]+)", str(body.get_content()))
    assert found
    await kari.command("start", found.group(1))  # the "Yes" tap opens the bot
    async with measure(kari, "registration from an invitation's Yes", INVITED_TARGET) as count:
        await kari.press("Jeg samtykker")
        await kari.press("Klinisk")
        await kari.press("Overlege")
        await kari.send("Haukeland universitetssjukehus")
        assert "Se over opplysningene dine" in kari.last().text
        await kari.press("Bekreft")
    _, supervisor = await stored(services, kari.user.id)
    assert supervisor is not None
    assert (supervisor.name, supervisor.email, supervisor.city, supervisor.fields) == (
        "Kari Nordmann",
        "kari@ous-hf.no",
        "bergen",
        ["cardiology"],
    )
    assert supervisor.email_verified_at is not None
    assert count.answers <= INVITED_TARGET
