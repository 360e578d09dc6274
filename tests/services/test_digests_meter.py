"""The digest opens with the reciprocity meter: "hosted X of Y needed" per exchange type, a table
bar in HTML and a text bar in the plain text, in both languages; a national coordinator without
a target gets a line saying how to set one; computed from the database on both backends."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from email.message import EmailMessage

import pytest

from bot.core.settings import Settings
from bot.domain.digest import Digest
from bot.domain.periods import WEEKLY
from bot.domain.reciprocity import Meter
from bot.services import digests
from bot.services.reciprocity import CLI, set_targets
from storage.db import Database
from storage.models import Coordinator, SlotStatus
from tests.support import slots as make

# Monday 23 November 2026, 07:30 in Oslo: week 48's digest is due.
MONDAY = datetime(2026, 11, 23, 6, 30, tzinfo=UTC)
BEFORE = datetime(2026, 11, 10, 12, 0, tzinfo=UTC)
CLINICAL = Meter(2027, "clinical", 10, 4, open_places=2, open_months=((2027, 9), (2027, 10)),
                 empty_months=((2027, 4), (2027, 5), (2027, 6), (2028, 3)))  # fmt: skip
RESEARCH = Meter(2027, "research", 3, 3)


def _digest(**changes) -> Digest:
    values = {"period": "2026-W48", "frequency": WEEKLY, "since": MONDAY - timedelta(days=7),
              "until": MONDAY} | changes  # fmt: skip
    return Digest(**values)  # type: ignore[arg-type]


def _rows(language: str = "en", city: str = "oslo") -> list[Coordinator]:
    return [Coordinator(id=7, email="nora@nmf.example", role="LEO", exchange_type="clinical",
                        city=city, language=language, invited_at=BEFORE)]  # fmt: skip


def _settings() -> Settings:
    return Settings(_env_file=None, secret_key="k" * 32,
                    mail_from="Veileder <veileder@nmf.example>")  # type: ignore[call-arg]  # fmt: skip


def part(message: EmailMessage, subtype: str) -> str:
    body = message.get_body(preferencelist=(subtype,))
    assert body is not None
    return str(body.get_content())


def rendered(digest: Digest, language: str = "en", city: str = "oslo") -> tuple[str, str]:
    _, message = digests.render(digest, _rows(language, city), settings=_settings(), now=MONDAY)
    return part(message, "html"), part(message, "plain")


def test_the_digest_opens_with_the_meter_as_bars_in_english():
    html, text = rendered(_digest(meters=(CLINICAL, RESEARCH)))
    lines = text.splitlines()
    start = lines.index("== Hosting in return, season 2027/28 ==")
    assert lines[start + 1 : start + 7] == [
        "Clinical: hosted 4 of 10 needed",
        "████░░░░░░ 40%",
        "6 more to host · 2 open places in Sep 2027–Oct 2027 · no places yet in "
        "Apr 2027–Jun 2027, Mar 2028",
        "Research: hosted 3 of 3 needed",
        "██████████ 100%",
        "target met ✔",
    ]
    assert start < lines.index("== Places at risk (0) ==")  # it opens the digest
    assert 'width="40%" bgcolor="#2e7d32"' in html and 'width="60%" bgcolor="#e3e6ea"' in html
    assert "Clinical: hosted 4 of 10 needed" in html and "target met ✔" in html
    assert html.index("Hosting in return, season 2027/28") < html.index("Places at risk")


def test_in_bokmal():
    html, text = rendered(_digest(meters=(CLINICAL,)), language="nb")
    assert "== Mottak av studenter, sesong 2027/28 ==" in text
    assert "Klinisk: tatt imot 4 av 10 som trengs\n████░░░░░░ 40%\n" in text
    assert "6 til må tas imot · 2 ledige plasser i sep 2027–okt 2027" in text
    assert "Klinisk: tatt imot 4 av 10 som trengs" in html


def test_no_target_no_meter_but_a_hint_for_a_national_coordinator():
    html, text = rendered(_digest())
    assert "Hosting in return" not in text and "hosting target" not in text
    html, text = rendered(_digest(meter_hint=2026), city="national")
    hint = "No hosting target for season 2026/27 yet: set one with /target in the bot."
    assert hint in text and hint in html
    _, text = rendered(_digest(meter_hint=2026), language="nb", city="national")
    assert "Ingen mål for mottak i sesong 2026/27 ennå: sett et med /target i boten." in text


def test_the_meter_alone_sends_no_digest():
    assert _digest(meters=(CLINICAL,), meter_hint=None).empty


# ---- from the database -------------------------------------------------------------------------


@pytest.fixture
async def db(settings: Settings) -> AsyncIterator[Database]:
    database = Database(settings.database)
    yield database
    await database.close()


async def _coordinator(db: Database, email: str, role: str, kind: str, city: str) -> None:
    async with db.session() as s:
        s.add(Coordinator(email=email, role=role, exchange_type=kind, city=city,
                          invited_at=BEFORE, bound_at=BEFORE))  # fmt: skip


async def test_hosted_counts_accepted_places_nationwide_in_the_season(db, settings):
    await _coordinator(db, "nora@nmf.example", "LEO", "clinical", "oslo")
    await _coordinator(db, "per@nmf.example", "NEO", "clinical", "national")
    await _coordinator(db, "rita@nmf.example", "LORE", "research", "bergen")
    async with db.session() as s:
        await make.slot(s, "OSL-SEP", exchange_type="clinical", start_date=date(2027, 9, 6),
                        places=3, filled=2)  # fmt: skip
        await make.slot(s, "BGO-OCT", exchange_type="clinical", city="bergen",
                        start_date=date(2027, 10, 4), places=1, filled=1)  # fmt: skip
        await make.slot(s, "OSL-GONE", exchange_type="clinical", start_date=date(2027, 11, 1),
                        places=4, filled=0, status=SlotStatus.CANCELLED)  # fmt: skip
        await make.slot(s, "OSL-LAST", exchange_type="clinical", start_date=date(2026, 9, 7),
                        places=5, filled=5)  # another season  # fmt: skip
        await set_targets(s, 2027, {"clinical": 10}, CLI, MONDAY)

    found = await digests.preview(db, settings, "nora@nmf.example", MONDAY)
    assert found is not None
    digest, message = found
    [meter] = digest.meters
    assert (meter.season, meter.exchange_type, meter.hosted, meter.needed) == (
        2027, "clinical", 3, 10,
    )  # fmt: skip
    assert meter.open_months == ((2027, 9),) and (2027, 11) in meter.empty_months
    assert "Klinisk: tatt imot 3 av 10 som trengs" in part(message, "plain")  # nb: the default

    per, _ = await digests.preview(db, settings, "per@nmf.example", MONDAY) or (None, None)
    assert per is not None and per.meters == digest.meters and per.meter_hint is None

    # Research has no target: Rita (local) sees nothing, no hint either.
    rita, message = await digests.preview(db, settings, "rita@nmf.example", MONDAY) or (None, None)
    assert rita is not None and rita.meters == () and rita.meter_hint is None
    assert message is not None and "Mottak av studenter" not in part(message, "plain")


async def test_a_national_coordinator_without_a_target_is_told_how_to_set_one(db, settings):
    await _coordinator(db, "per@nmf.example", "NEO", "clinical", "national")
    async with db.session() as s:
        await set_targets(s, 2025, {"clinical": 10}, CLI, MONDAY)  # a season gone by
    found = await digests.preview(db, settings, "per@nmf.example", MONDAY)
    assert found is not None
    digest, message = found
    assert digest.meters == () and digest.meter_hint == 2026
    assert "sett et med /target i boten" in part(message, "plain")
