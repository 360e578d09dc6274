"""No secrets or personal data in the logs of a whole season.

With logging configured as production does it at its most verbose (`LOG_LEVEL=DEBUG`, see
`bot.core.logs.configure`), one supervisor registers (name from Telegram, work email, phone,
the emailed code), defines a task, a coordinator approves it and offers a place, the supervisor
accepts, the emails go out, the coordinator's digest is sent, and the supervisor asks for their
data and deletes it. Every line written, from every logger, is then searched for the bot token,
any email address, the phone number, the code and the person's name.
"""

from __future__ import annotations

import io
import logging
import re
from collections.abc import Iterator
from datetime import date, timedelta

import pytest

from bot.core.logs import LogfmtFormatter, configure
from bot.core.settings import Settings
from bot.services import offer_courier
from bot.services.digests import send_due_digests
from tests.chat.test_tasks import define_research_task
from tests.helpers import code_in, mails
from tests.support.chat import Chat, TgUser
from tests.support.coordinator_fixtures import app, fake  # noqa: F401 (fixtures)
from tests.support.coordinators import add_slot, bound_coordinator

TOKEN = "123456789:AAHlogTestTokenThatMustNeverBeLogged_x"
INGRID = TgUser(id=5553001, first_name="Ingrid", last_name="Solbakken", language_code="en")
NORA = TgUser(id=5553010, first_name="Nora", last_name="Koordinator", language_code="en")
EMAIL = "ingrid.solbakken@ous-hf.no"
PHONE = "+4791234567"
ADDRESS = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")


@pytest.fixture
def database_url(sqlite_url: str) -> str:
    return sqlite_url


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"telegram_bot_token": TOKEN})


@pytest.fixture
def written() -> Iterator[io.StringIO]:
    """What production's logging (at DEBUG) writes, for the duration of the test."""
    root = logging.getLogger()
    saved = (root.level, list(root.handlers))
    levels = {name: logging.getLogger(name).level for name in logging.root.manager.loggerDict}
    configure("DEBUG")
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(LogfmtFormatter())
    root.handlers[:] = [handler]
    try:
        yield stream
    finally:
        root.setLevel(saved[0])
        root.handlers[:] = saved[1]
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)


async def test_a_season_leaves_no_token_address_phone_code_or_name_in_the_logs(
    app,  # noqa: F811
    fake,  # noqa: F811
    services,
    settings,
    clock,
    written,
):
    ingrid = Chat.in_process(fake, INGRID, app)
    nora = Chat.in_process(fake, NORA, app)
    await bound_coordinator(
        services, nora, role="LORE", exchange_type="research", city="oslo", email="nora@nmf.no"
    )
    # Registration, with the code from the email and the phone on the summary.
    await ingrid.command("start")
    await ingrid.press("I agree")
    await ingrid.press("Research")
    await ingrid.press("Researcher / PhD")
    await ingrid.send("Oslo University Hospital")
    await ingrid.press("Oslo")
    await ingrid.press("Epidemiology")
    await ingrid.send(EMAIL)
    await services.sender.run_once()
    [verification] = mails(settings.mail_dir)
    code = code_in(verification)
    await ingrid.send(code)
    await ingrid.press("Phone")
    await ingrid.share_contact(PHONE)
    await ingrid.press("Confirm")
    assert "you are registered as a supervisor" in " ".join(ingrid.texts()[-2:])
    # A task, approved; a place offered and accepted.
    await define_research_task(ingrid)
    await nora.command("pending")
    await nora.press("Approve")
    await add_slot(
        services, "SCORE-2027-02-OSL-1", exchange_type="research", start=date(2027, 2, 1), weeks=8
    )
    await nora.command("propose", "SCORE-2027-02-OSL-1")
    await offer_courier.deliver_pending(services)
    await ingrid.press("Yes, I'll supervise")
    await services.sender.run_once()
    # The digest, then the person's data and its erasure.
    clock.advance(timedelta(days=7))
    assert await send_due_digests(services.db, settings, clock.now()) == 1
    await services.sender.run_once()
    await ingrid.command("mydata")
    await ingrid.command("delete")
    await ingrid.press("Yes, erase everything")

    log = written.getvalue()
    assert "erased a person's data" in log and "digest" in log  # the season was logged
    found = {
        "the bot token": TOKEN in log or TOKEN.split(":")[1] in log,
        "an email address": ADDRESS.findall(log),
        "the phone number": PHONE in log or PHONE[3:] in log,
        "the code": re.findall(rf"\b{code}\b", log),
        "the name": [n for n in ("Ingrid", "Solbakken", "Nora", "Koordinator") if n in log],
    }
    assert not any(found.values()), {k: v for k, v in found.items() if v}
