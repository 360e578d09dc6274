"""Coordinators' digests: when one is due (pure, property-tested), what it reports (on SQLite and
PostgreSQL), how it reads (HTML bars, text bars, escaping), that an empty one is not sent, that
one period never gets two, and `python -m bot digest preview`."""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, time, timedelta
from email import message_from_string, policy
from email.message import EmailMessage
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlmodel import col, select

from bot.cli import digest as cli_digest
from bot.core.settings import Settings
from bot.domain import periods
from bot.domain.clock import FrozenClock
from bot.domain.digest import (
    AwaitingTask,
    Digest,
    Failure,
    NewSupervisor,
    OfferCounts,
    SlotLine,
    by_month,
    mask_email,
    referrers,
    text_bar,
)
from bot.domain.periods import DAILY, WEEKLY
from bot.services import digests
from storage import coordinators
from storage.db import Database
from storage.models import (
    Coordinator,
    DigestRun,
    Offer,
    OfferStatus,
    OutboxEmail,
    OutboxStatus,
    SlotStatus,
    SupervisorStatus,
    Suppression,
    TaskStatus,
)
from tests.support import slots as make

OSLO = ZoneInfo("Europe/Oslo")
AT = time(7, 30)
# Monday 23 November 2026, 07:30 in Oslo (CET, UTC+1): week 48's digest is due.
MONDAY = datetime(2026, 11, 23, 6, 30, tzinfo=UTC)
LAST_MONDAY = MONDAY - timedelta(days=7)
IN_WINDOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
BEFORE = datetime(2026, 11, 10, 12, 0, tzinfo=UTC)
REASON = "550 5.1.1 <x>: no such\n user"


def local(*args: int) -> datetime:
    return datetime(*args, tzinfo=OSLO).astimezone(UTC)  # type: ignore[misc]


@pytest.fixture
async def db(settings: Settings) -> AsyncIterator[Database]:
    database = Database(settings.database)
    yield database
    await database.close()


async def coordinator(db: Database, email: str, role: str, kind: str, city: str, **changes):
    """A coordinator who bound their account with the invitation (unless `bound_at=None`)."""
    changes = {"bound_at": BEFORE} | changes
    async with db.session() as s:
        row = Coordinator(email=email, role=role, exchange_type=kind, city=city,
                          invited_at=BEFORE, **changes)  # fmt: skip
        s.add(row)
        await s.flush()
        return row


async def outbox(db: Database) -> list[OutboxEmail]:
    async with db.session() as s:
        result = await s.execute(
            select(OutboxEmail)
            .where(col(OutboxEmail.kind) == "digest")
            .order_by(col(OutboxEmail.id))
        )
        return list(result.scalars())


async def runs(db: Database) -> list[DigestRun]:
    async with db.session() as s:
        result = await s.execute(select(DigestRun).order_by(col(DigestRun.id)))
        return list(result.scalars())


def parsed(email: OutboxEmail) -> EmailMessage:
    return message_from_string(email.message, _class=EmailMessage, policy=policy.default)  # type: ignore[arg-type]


def part(message: EmailMessage, subtype: str) -> str:
    body = message.get_body(preferencelist=(subtype,))
    assert body is not None
    return str(body.get_content())


# ---- periods and due logic (pure) --------------------------------------------------------------


def test_period_keys_are_the_local_date_or_the_iso_week():
    assert periods.period_key(date(2026, 11, 24), DAILY) == "2026-11-24"
    assert periods.period_key(date(2026, 11, 24), WEEKLY) == "2026-W48"
    assert periods.period_key(date(2027, 1, 1), WEEKLY) == "2026-W53"  # ISO: a Friday of 2026's
    assert periods.period_key(date(2027, 1, 4), WEEKLY) == "2027-W01"


def test_a_weekly_digest_is_due_from_monday_0730_local_to_the_end_of_the_week():
    due = periods.due_period
    assert due(local(2026, 11, 23, 7, 29), WEEKLY, AT, OSLO, set()) is None
    assert due(local(2026, 11, 23, 7, 30), WEEKLY, AT, OSLO, set()) == "2026-W48"
    assert due(local(2026, 11, 29, 23, 59), WEEKLY, AT, OSLO, set()) == "2026-W48"  # catches up
    assert due(local(2026, 11, 29, 23, 59), WEEKLY, AT, OSLO, {"2026-W48"}) is None
    assert due(local(2026, 11, 30, 0, 0), WEEKLY, AT, OSLO, {"2026-W48"}) is None


def test_the_send_time_is_local_on_both_sides_of_a_clock_change():
    # 07:30 in Oslo is 06:30 UTC in winter and 05:30 UTC in summer.
    assert periods.due_moment(date(2026, 3, 28), DAILY, AT, OSLO).hour == 6
    assert periods.due_moment(date(2026, 3, 29), DAILY, AT, OSLO).hour == 5
    assert periods.due_moment(date(2026, 10, 25), DAILY, AT, OSLO).hour == 6
    # A time the spring change skips counts as the hour after it, once.
    assert periods.due_moment(date(2026, 3, 29), DAILY, time(2, 30), OSLO) == local(
        2026, 3, 29, 3, 30
    )


@given(
    start=st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2027, 12, 31)),
    steps=st.lists(st.integers(min_value=1, max_value=600), min_size=1, max_size=200),
    frequency=st.sampled_from([DAILY, WEEKLY]),
    at=st.times().map(lambda t: t.replace(second=0, microsecond=0)),
)
def test_stepping_time_forward_makes_each_period_once_at_its_first_chance(
    start, steps, frequency, at
):
    now = start.replace(tzinfo=UTC)
    done: set[str] = set()
    made: list[tuple[str, datetime]] = []
    previous: datetime | None = None
    for minutes in steps:
        key = periods.due_period(now, frequency, at, OSLO, done)
        if key is not None:
            done.add(key)
            made.append((key, now))
            moment = periods.due_moment(periods.local_day(now, OSLO), frequency, at, OSLO)
            assert now >= moment
            # at its first chance: the step before was earlier than the moment, or in an
            # earlier period
            if previous is not None:
                earlier = periods.period_key(periods.local_day(previous, OSLO), frequency)
                assert previous < moment or earlier != key
        previous = now
        now += timedelta(minutes=minutes)
    keys = [key for key, _ in made]
    assert len(keys) == len(set(keys))


@given(st.integers(min_value=0, max_value=40), st.integers(min_value=1, max_value=40))
def test_a_text_bar_is_ten_cells_and_full_only_when_every_place_is_filled(filled, places):
    bar = text_bar(filled, places)
    cells, _, percent = bar.partition(" ")
    assert len(cells) == 10 and set(cells) <= {"█", "░"}
    assert (cells == "█" * 10) == (filled >= places)
    assert (percent == "100%") == (filled >= places)


def test_addresses_are_masked():
    assert mask_email("kari.nordmann@uio.no") == "k***@uio.no"
    assert mask_email("x@y.no") == "x***@y.no"


# ---- rendering ---------------------------------------------------------------------------------


def _digest(**changes) -> Digest:
    slot = SlotLine(reference="SCOPE-2027-01-OSL-1", exchange_type="clinical", city="oslo",
                    start=date(2027, 1, 4), weeks=4, places=2, filled=1,
                    reply_by=date(2026, 10, 26), at_risk=True, overdue=True)  # fmt: skip
    values = {
        "period": "2026-W48",
        "frequency": WEEKLY,
        "since": LAST_MONDAY,
        "until": MONDAY,
        "new_supervisors": (
            NewSupervisor(
                "Kari <i>Nordmann</i>",
                "gp",
                "Majorstuen legesenter",
                "oslo",
                ("clinical",),
                False,
                date(2026, 11, 20),
            ),
        ),
        "awaiting": (AwaitingTask("<b>x</b>", "Ola Berg", "clinical", "oslo", date(2026, 11, 19)),),
        "months": by_month([slot]),
        "offers": OfferCounts(sent=3, accepted=1, declined=1, expired=0),
        "failures": (
            Failure("k***@uio.no", "offer", "550 5.1.1 no such user", date(2026, 11, 20)),
        ),
    }
    values.update(changes)
    return Digest(**values)  # type: ignore[arg-type]


def _rows(language: str = "en") -> list[Coordinator]:
    return [
        Coordinator(id=7, email="nora@nmf.example", role="LEO", exchange_type="clinical",
                    city="oslo", language=language, invited_at=BEFORE),
        Coordinator(id=9, email="nora@nmf.example", role="LORE", exchange_type="research",
                    city="bergen", language=language, invited_at=BEFORE),
    ]  # fmt: skip


def _settings(**changes) -> Settings:
    return Settings(_env_file=None, secret_key="k" * 32,
                    mail_from="Veileder <veileder@nmf.example>",
                    **changes)  # type: ignore[call-arg]  # fmt: skip


def test_fill_rates_are_table_bars_in_html_and_characters_in_text():
    subject, message = digests.render(_digest(), _rows(), settings=_settings(), now=MONDAY)
    html, text = part(message, "html"), part(message, "plain")
    assert subject == "Veileder digest, week 48 of 2026"
    assert 'width="50%" bgcolor="#2e7d32"' in html and 'width="50%" bgcolor="#e3e6ea"' in html
    assert "<img" not in html and "<svg" not in html
    assert "max-width:560px" in html
    assert "█████░░░░░ 50%" in text
    assert "1 of 2 filled (50%)" in html


def test_a_full_month_has_one_green_cell_and_an_empty_one_one_grey_cell():
    full = SlotLine("A", "clinical", "oslo", date(2027, 3, 1), 4, 1, 1, date(2026, 12, 21),
                    False, False)  # fmt: skip
    none = SlotLine("B", "clinical", "oslo", date(2027, 4, 5), 4, 3, 0, date(2027, 1, 25),
                    False, False)  # fmt: skip
    digest = _digest(months=by_month([full, none]))
    _, message = digests.render(digest, _rows(), settings=_settings(), now=MONDAY)
    html, text = part(message, "html"), part(message, "plain")
    assert 'width="100%" bgcolor="#2e7d32"' in html and 'width="100%" bgcolor="#e3e6ea"' in html
    assert 'width="0%"' not in html
    assert "██████████ 100%" in text and "░░░░░░░░░░ 0%" in text


def test_what_people_typed_is_escaped_in_html_and_left_alone_in_text():
    _, message = digests.render(_digest(), _rows(), settings=_settings(), now=MONDAY)
    html, text = part(message, "html"), part(message, "plain")
    assert "&lt;b&gt;x&lt;/b&gt;" in html and "<b>x</b>" not in html
    assert "Kari &lt;i&gt;Nordmann&lt;/i&gt;" in html
    assert "“<b>x</b>” – Ola Berg" in text


def test_every_section_and_why_the_coordinator_receives_it():
    _, message = digests.render(_digest(), _rows(), settings=_settings(), now=MONDAY)
    text = part(message, "plain")
    assert "SCOPE-2027-01-OSL-1: 1 open – Oslo, Clinical, starts 2027-01-04" in text
    assert "the reply-by date 2026-10-26 has passed" in text
    assert "3 sent, 1 accepted, 1 declined, 0 expired" in text
    assert "Kari <i>Nordmann</i>, GP, Majorstuen legesenter (Oslo) – Clinical" in text
    assert "(email not verified yet)" in text
    assert "k***@uio.no (offer, 2026-11-20): 550 5.1.1 no such user" in text
    assert "since 2026-11-16 07:30" in text
    assert "because you are LEO · Clinical · Oslo; LORE · Research · Bergen" in text
    assert "every Monday at 07:30" in text and "/digest" in text
    assert message["Reply-To"] is None
    assert message["To"] == "nora@nmf.example"


def test_in_bokmal_with_the_configured_reply_to():
    settings = _settings(reply_to="utveksling@nmf.example")
    subject, message = digests.render(
        _digest(frequency=DAILY, period="2026-11-23"), _rows("nb"), settings=settings, now=MONDAY
    )
    text = part(message, "plain")
    assert subject == "Veileder-oversikt for 2026-11-23"
    assert "Oppgaver som venter på godkjenning (1)" in text
    assert "hver morgen kl. 07:30" in text and "LEO · Klinisk" in text
    assert message["Reply-To"] == "utveksling@nmf.example"
    assert '<html lang="nb">' in part(message, "html")


def test_long_lists_are_cut_with_a_count_of_the_rest():
    many = tuple(
        AwaitingTask(f"Task {i}", "Ola", "clinical", "oslo", date(2026, 11, 1)) for i in range(30)
    )
    _, message = digests.render(_digest(awaiting=many), _rows(), settings=_settings(), now=MONDAY)
    text = part(message, "plain")
    assert "Task 24" in text and "Task 25" not in text
    assert "… and 5 more" in text


def test_a_month_lists_25_slots_then_how_many_more_and_where_to_see_them_all():
    # A national digest at 100,000 supervisors had 10,000 slot lines (1.5 MB): the month's bar
    # still counts every place, the list stops at 25.
    slots = [
        SlotLine(reference=f"SCOPE-2027-01-OSL-{i:02d}", exchange_type="clinical", city="oslo",
                 start=date(2027, 1, 4), weeks=4, places=1, filled=i % 2,
                 reply_by=date(2026, 12, 7), at_risk=False, overdue=False)
        for i in range(40)
    ]  # fmt: skip
    digest = _digest(months=by_month(slots))
    for language, more, bar in (
        ("en", "… and 15 more this month: /slots in the bot lists them all", "20 of 40 filled"),
        ("nb", "… og 15 til denne måneden: /slots i boten viser alle", "20 av 40"),
    ):
        _, message = digests.render(digest, _rows(language), settings=_settings(), now=MONDAY)
        html, text = part(message, "html"), part(message, "plain")
        for body in (html, text):
            assert "SCOPE-2027-01-OSL-24:" in body and "SCOPE-2027-01-OSL-25:" not in body
            assert more in body and "python -m bot slots list" in body
        assert bar in text  # the month's bar counts them all


def test_supervisors_who_came_through_colleagues_are_counted_per_referrer_in_both_languages():
    came = NewSupervisor("Ola Berg", "gp", "Ullevål", "oslo", ("clinical",), True,
                         date(2026, 11, 20), referred=True)  # fmt: skip
    digest = _digest(
        new_supervisors=(*_digest().new_supervisors, came, came, came),
        referrers=referrers(["Kari <i>N</i>", "Per", "Kari <i>N</i>"]),
    )
    assert digest.referred == 3
    _, message = digests.render(digest, _rows(), settings=_settings(), now=MONDAY)
    html, text = part(message, "html"), part(message, "plain")
    assert "3 new supervisors came through colleagues." in text
    assert "- Kari <i>N</i>: 2 colleagues\n- Per: 1 colleague\n" in text
    assert "Kari &lt;i&gt;N&lt;/i&gt;: 2 colleagues" in html and "<i>N</i>" not in html
    _, message = digests.render(digest, _rows("nb"), settings=_settings(), now=MONDAY)
    text = part(message, "plain")
    assert "3 nye veiledere kom via kolleger." in text
    assert "- Kari <i>N</i>: 2 kolleger\n- Per: 1 kollega\n" in text
    # Nobody came through a colleague: nothing is said about it.
    _, message = digests.render(_digest(), _rows(), settings=_settings(), now=MONDAY)
    assert "colleague" not in part(message, "plain")


def test_a_digest_with_nothing_new_and_nothing_to_do_is_empty():
    assert _digest(new_supervisors=(), awaiting=(), months=(), offers=OfferCounts(),
                   failures=()).empty  # fmt: skip
    full = SlotLine("A", "clinical", "oslo", date(2027, 3, 1), 4, 1, 1, date(2026, 12, 21),
                    False, False)  # fmt: skip
    assert _digest(new_supervisors=(), awaiting=(), months=by_month([full]),
                   offers=OfferCounts(), failures=()).empty  # fmt: skip
    assert not _digest(new_supervisors=(), awaiting=(), months=(), offers=OfferCounts(expired=1),
                       failures=()).empty  # fmt: skip


# ---- contents, on both databases ---------------------------------------------------------------


async def _area(db: Database) -> dict[str, int]:
    """Nora holds LEO clinical Oslo and LORE research Bergen; Per is NEO (clinical, national).
    Around them: what falls in and out of their scopes and of the week's window."""
    nora = await coordinator(db, "nora@nmf.example", "LEO", "clinical", "oslo", language="en")
    await coordinator(db, "Nora@NMF.example", "LORE", "research", "bergen", language="nb")
    per = await coordinator(db, "per@nmf.example", "NEO", "clinical", "national")
    ids: dict[str, int] = {"nora": nora.id or 0, "per": per.id or 0}
    async with db.session() as s:
        oslo = await make.supervisor(s, 1, exchange_types=["clinical"], created_at=IN_WINDOW,
                                     email_verified_at=None)  # fmt: skip
        bergen = await make.supervisor(s, 2, city="bergen", exchange_types=["research"],
                                       created_at=IN_WINDOW)  # fmt: skip
        trondheim = await make.supervisor(s, 3, city="trondheim", exchange_types=["clinical"],
                                          created_at=IN_WINDOW)  # fmt: skip
        await make.supervisor(s, 4, exchange_types=["clinical"], created_at=BEFORE)
        await make.supervisor(s, 5, exchange_types=["clinical"], created_at=IN_WINDOW,
                              status=SupervisorStatus.LEFT)  # fmt: skip
        ids |= {"oslo": oslo.id or 0, "bergen": bergen.id or 0}

        def task(owner, **changes):
            values = {"exchange_type": "clinical", "status": TaskStatus.APPROVED,
                      "submitted_at": IN_WINDOW}  # fmt: skip
            return make.task(s, owner, **(values | changes))

        await task(oslo, title="<b>Akutten</b>", status=TaskStatus.SUBMITTED)
        await task(oslo, title="Forskning i Oslo", exchange_type="research",
                   status=TaskStatus.SUBMITTED)  # fmt: skip
        await task(trondheim, title="Trondheim", city="trondheim", status=TaskStatus.SUBMITTED)
        tasks = [await task(oslo, title=f"Approved {i}") for i in range(5)]
        t_tasks = [await task(trondheim, title="T approved", city="trondheim")]

        def slot(reference, **changes):
            values = {"exchange_type": "clinical", "places": 1}
            return make.slot(s, reference, **(values | changes))

        jan = await slot("OSL-JAN", start_date=date(2027, 1, 4), places=2, filled=1)  # overdue
        await slot("OSL-MAR", start_date=date(2027, 3, 1), filled=1)  # full
        await slot("BRG-FEB", exchange_type="research", city="bergen", start_date=date(2027, 2, 1))
        await slot("OSL-JUN", start_date=date(2027, 6, 7))  # not at risk yet
        await slot("OSL-CX", start_date=date(2027, 1, 11), status=SlotStatus.CANCELLED)
        trd = await slot("TRD-JAN", city="trondheim", start_date=date(2027, 1, 4))
        await slot("OSL-PAST", start_date=date(2026, 11, 2))  # started already

        def offer(slot_id, task_id, status, **changes):
            values = {"created_at": BEFORE, "reply_by": date(2026, 12, 1), "supervisor_id": oslo.id}
            s.add(Offer(slot_id=slot_id, task_id=task_id, status=status, **(values | changes)))

        offer(jan.id, tasks[0].id, OfferStatus.SENT, created_at=IN_WINDOW)
        offer(jan.id, tasks[1].id, OfferStatus.ACCEPTED, answered_at=IN_WINDOW)
        offer(jan.id, tasks[2].id, OfferStatus.DECLINED, answered_at=IN_WINDOW)
        offer(jan.id, tasks[3].id, OfferStatus.EXPIRED, reply_by=date(2026, 11, 20))
        offer(jan.id, tasks[4].id, OfferStatus.EXPIRED, reply_by=date(2026, 11, 10))
        offer(trd.id, t_tasks[0].id, OfferStatus.DECLINED, answered_at=IN_WINDOW,
              supervisor_id=trondheim.id)  # fmt: skip

        def failed(recipient, user_id, when, status=OutboxStatus.FAILED):
            s.add(OutboxEmail(idempotency_key=f"test:{recipient}:{when}:{status}", kind="offer",
                              telegram_user_id=user_id, recipient=recipient, subject="-",
                              message="-", status=status, next_attempt_at=when,
                              created_at=when, last_error=REASON))  # fmt: skip

        failed(oslo.email, oslo.telegram_user_id, IN_WINDOW)
        failed(trondheim.email, trondheim.telegram_user_id, IN_WINDOW)
        failed("old.supervisor@uio.no", None, IN_WINDOW)  # an invitation: nobody's supervisor
        failed(oslo.email, oslo.telegram_user_id, BEFORE)
        failed(oslo.email, oslo.telegram_user_id, IN_WINDOW, status=OutboxStatus.PENDING)
    return ids


async def _preview(db: Database, settings: Settings, email: str, now: datetime = MONDAY):
    found = await digests.preview(db, settings, email, now)
    assert found is not None
    return found[0]


async def test_a_digest_reports_its_scopes_and_its_week(db, settings):
    await _area(db)

    digest = await _preview(db, settings, "NORA@nmf.example")

    assert (digest.period, digest.frequency) == ("2026-W48", WEEKLY)
    assert digest.since == LAST_MONDAY
    assert [p.name for p in digest.new_supervisors] == ["Dr Æsa Øvre 1", "Dr Æsa Øvre 2"]
    assert [p.verified for p in digest.new_supervisors] == [False, True]
    assert [t.title for t in digest.awaiting] == ["<b>Akutten</b>"]
    months = [(m.year, m.month, m.places, m.filled) for m in digest.months]
    assert months == [(2027, 1, 2, 1), (2027, 2, 1, 0), (2027, 3, 1, 1), (2027, 6, 1, 0)]
    risky = [(s.reference, s.overdue) for s in digest.at_risk]
    assert risky == [("OSL-JAN", True), ("BRG-FEB", False)]
    assert digest.offers == OfferCounts(sent=1, accepted=1, declined=1, expired=1)
    assert [(f.recipient, f.reason) for f in digest.failures] == [
        ("d***@example.org", "550 5.1.1 <x>: no such user")
    ]
    assert not digest.empty


async def test_a_national_coordinator_sees_every_city_and_unaddressed_failures(db, settings):
    await _area(db)

    digest = await _preview(db, settings, "per@nmf.example")

    assert [p.city for p in digest.new_supervisors] == ["oslo", "trondheim"]
    assert sorted(t.title for t in digest.awaiting) == ["<b>Akutten</b>", "Trondheim"]
    assert "TRD-JAN" in [s.reference for m in digest.months for s in m.slots]
    assert "BRG-FEB" not in [s.reference for m in digest.months for s in m.slots]
    assert digest.offers.declined == 2
    assert sorted(f.recipient for f in digest.failures) == [
        "d***@example.org",
        "d***@example.org",
        "o***@uio.no",
    ]


async def test_due_digests_are_queued_once_with_a_stable_key(db, settings):
    ids = await _area(db)

    assert await digests.send_due_digests(db, settings, MONDAY - timedelta(minutes=1)) == 0
    assert await digests.send_due_digests(db, settings, MONDAY) == 2
    assert await digests.send_due_digests(db, settings, MONDAY + timedelta(minutes=1)) == 0
    assert await digests.send_due_digests(db, settings, MONDAY + timedelta(days=3)) == 0

    queued = await outbox(db)
    assert sorted(e.idempotency_key for e in queued) == sorted(
        [f"digest:{ids['nora']}:2026-W48", f"digest:{ids['per']}:2026-W48"]
    )
    nora = next(e for e in queued if e.recipient == "nora@nmf.example")
    message = parsed(nora)
    assert message["Subject"] == nora.subject == "Veileder digest, week 48 of 2026"
    assert "&lt;b&gt;Akutten&lt;/b&gt;" in part(message, "html")
    assert nora.status == OutboxStatus.PENDING and nora.created_at == MONDAY
    made = {(r.coordinator_id, r.period, r.empty) for r in await runs(db)}
    assert len(made) == 3, "a run for each of Nora's two scopes and Per's one"
    assert all(period == "2026-W48" and not empty for _, period, empty in made)


async def test_the_next_digest_reports_from_where_the_last_one_ended(db, settings):
    await _area(db)
    await digests.send_due_digests(db, settings, MONDAY + timedelta(hours=2))  # a late run

    digest = await _preview(db, settings, "nora@nmf.example", MONDAY + timedelta(days=7))

    assert digest.period == "2026-W49"
    assert digest.since == MONDAY + timedelta(hours=2)
    assert digest.new_supervisors == () and digest.offers == OfferCounts()


async def test_an_empty_digest_is_recorded_but_not_sent(db, settings):
    quiet = await coordinator(db, "quiet@nmf.example", "LORE", "research", "tromso",
                              digest_frequency=DAILY)  # fmt: skip

    assert await digests.send_due_digests(db, settings, MONDAY) == 0
    assert await digests.send_due_digests(db, settings, MONDAY + timedelta(minutes=1)) == 0

    assert await outbox(db) == []
    assert [(r.coordinator_id, r.period, r.empty) for r in await runs(db)] == [
        (quiet.id, "2026-11-23", True)
    ]


async def test_daily_if_any_of_a_persons_scopes_says_so(db, settings):
    await coordinator(db, "nora@nmf.example", "LEO", "clinical", "oslo")
    await coordinator(db, "nora@nmf.example", "LORE", "research", "oslo", digest_frequency=DAILY)
    async with db.session() as s:
        await make.slot(s, "OSL-1", exchange_type="clinical", start_date=date(2027, 6, 7))

    tuesday = MONDAY + timedelta(days=1)
    assert await digests.send_due_digests(db, settings, tuesday) == 1
    assert await digests.send_due_digests(db, settings, tuesday + timedelta(days=1)) == 1
    assert [e.idempotency_key.rsplit(":", 1)[1] for e in await outbox(db)] == [
        "2026-11-24",
        "2026-11-25",
    ]


async def test_two_schedulers_at_once_queue_one_digest(settings):
    first, second = Database(settings.database), Database(settings.database)
    try:
        await coordinator(first, "nora@nmf.example", "LEO", "clinical", "oslo",
                          digest_frequency=DAILY)  # fmt: skip
        async with first.session() as s:
            await make.slot(s, "OSL-1", exchange_type="clinical", start_date=date(2027, 6, 7))
        for day in range(5):
            now = MONDAY + timedelta(days=day)
            counts = await asyncio.gather(
                digests.send_due_digests(first, settings, now),
                digests.send_due_digests(second, settings, now),
            )
            assert sorted(counts) == [0, 1]
        assert len(await outbox(first)) == 5
    finally:
        await first.close()
        await second.close()


# ---- python -m bot digest preview ----------------------------------------------------------------


def cli(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bot")
    cli_digest.add_commands(parser.add_subparsers(dest="command", required=True))
    return parser.parse_args(["digest", *argv])


async def test_preview_writes_the_html_and_the_text_and_prints_their_paths(
    db, settings, tmp_path, capsys
):
    await coordinator(db, "nora@nmf.example", "LEO", "clinical", "oslo")
    async with db.session() as s:
        await make.slot(s, "OSL-1", exchange_type="clinical", start_date=date(2027, 6, 7),
                        places=2, filled=1)  # fmt: skip
    out = tmp_path / "preview"

    code = await cli_digest.dispatch(
        cli("preview", "--coordinator", "Nora@nmf.example", "--out", str(out)),
        settings,
        FrozenClock(MONDAY),
    )

    assert code == 0
    printed = capsys.readouterr().out.splitlines()
    assert printed == [
        str(out / "digest-nora-nmf-example-2026-W48.html"),
        str(out / "digest-nora-nmf-example-2026-W48.txt"),
    ]
    html = (out / "digest-nora-nmf-example-2026-W48.html").read_text()
    assert 'width="50%" bgcolor="#2e7d32"' in html and "OSL-1" in html
    assert "█████░░░░░ 50%" in (out / "digest-nora-nmf-example-2026-W48.txt").read_text()
    assert await outbox(db) == [] and await runs(db) == [], "a preview changes nothing"


async def test_preview_of_an_empty_digest_still_writes_it_and_says_it_is_empty(
    db, settings, capsys
):
    await coordinator(db, "nora@nmf.example", "LEO", "clinical", "oslo")

    code = await cli_digest.dispatch(
        cli("preview", "--coordinator", "nora@nmf.example"), settings, FrozenClock(MONDAY)
    )

    assert code == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].endswith(".html") and "would not be sent" in lines[2]
    assert (settings.var_dir / "digests" / "digest-nora-nmf-example-2026-W48.txt").exists()


async def test_preview_for_someone_who_is_not_a_coordinator_is_exit_1(db, settings, capsys):
    code = await cli_digest.dispatch(
        cli("preview", "--coordinator", "nobody@nmf.example"), settings, FrozenClock(MONDAY)
    )
    assert code == 1
    assert "No coordinator has the email nobody@nmf.example" in capsys.readouterr().err


async def test_other_commands_are_not_ours(settings):
    assert await cli_digest.dispatch(argparse.Namespace(command="slots"), settings) is None


async def test_a_run_is_recorded_per_scope_so_removing_one_repeats_nothing(db, settings):
    await _area(db)
    assert await digests.send_due_digests(db, settings, MONDAY) == 2
    async with db.session() as s:
        assert await coordinators.remove_coordinator(s, "nora@nmf.example", role="LEO") == 1

    assert await digests.send_due_digests(db, settings, MONDAY + timedelta(hours=1)) == 0


async def test_a_coordinator_who_never_bound_their_account_gets_no_digest(db, settings):
    """The binding link proves the address reaches them; a mistyped address never gets one."""
    await _area(db)
    await coordinator(db, "nroa@nmf.example", "LEO", "clinical", "bergen", bound_at=None)

    assert await digests.send_due_digests(db, settings, MONDAY) == 2

    assert sorted(e.recipient for e in await outbox(db)) == ["nora@nmf.example", "per@nmf.example"]


async def test_a_suppressed_address_gets_no_digest(db, settings):
    await _area(db)
    async with db.session() as s:
        s.add(Suppression(email="NORA@nmf.example", reason="bounced", created_at=BEFORE))

    assert await digests.send_due_digests(db, settings, MONDAY) == 1

    assert [e.recipient for e in await outbox(db)] == ["per@nmf.example"]


def test_a_task_awaiting_approval_shows_its_english_title_for_the_portal_in_both_languages():
    waiting = AwaitingTask(
        "Søvn og delirium", "Kari", "research", "bergen", date(2026, 11, 19), "Sleep & <delirium>"
    )
    for language, words in (("en", "in English for the exchange portal"), ("nb", "på engelsk")):
        digest = _digest(awaiting=(waiting,))
        _, message = digests.render(digest, _rows(language), settings=_settings(), now=MONDAY)
        html, text = part(message, "html"), part(message, "plain")
        assert words in text and "Sleep & <delirium>" in text
        assert "Sleep &amp; &lt;delirium&gt;" in html and "<delirium>" not in html
    without = _digest()
    _, message = digests.render(without, _rows(), settings=_settings(), now=MONDAY)
    assert "exchange portal" not in part(message, "plain")
