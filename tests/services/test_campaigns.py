"""Bringing supervisors back, the parts without a chat: the invitation file, the season calendar,
the signed links, and `python -m bot supervisors invite` writing one email per person, once."""

from __future__ import annotations

import argparse
import re
from datetime import UTC, date, datetime, timedelta
from email.message import EmailMessage

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy.exc import IntegrityError
from sqlmodel import select

from bot.chat.flows.registration.steps import CONSENT_VERSION
from bot.cli.supervisors import add_commands, dispatch
from bot.domain.season import season_months
from bot.domain.signing import Link
from bot.services import campaigns
from storage import campaigns as store
from storage.models import Invitation, OutboxEmail, Supervisor, Suppression, Task, TaskStatus
from tests.helpers import mails

NOW = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
SECRET = b"test-secret"


def cli(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bot")
    add_commands(parser.add_subparsers(dest="command", required=True))
    return parser.parse_args(["supervisors", *argv])


def _plain(message: EmailMessage) -> str:
    body = message.get_body(preferencelist=("plain",))
    assert body is not None
    return str(body.get_content())


def _html(message: EmailMessage) -> str:
    body = message.get_body(preferencelist=("html",))
    assert body is not None
    return str(body.get_content())


# ---- the file: pure ------------------------------------------------------------------------------


def test_a_file_with_problems_names_each_line():
    data = (
        b"name,email,field,city\n"
        b"Kari Nordmann,Kari.Nordmann@OUS-HF.no,Hjertesykdommer,Oslo\n"
        b"X,not-an-address,,\n"
        b"Ola Berg,ola@uib.no,astrology,Atlantis\n"
        b"\n"
        b"Per Hansen,per@unn.no\n"
        b"Kari again,kari.nordmann@ous-hf.no,,\n"
    )
    rows, errors = campaigns.parse_invitations(data)
    assert [(r.line, r.name, r.email, r.field, r.city) for r in rows] == [
        (2, "Kari Nordmann", "kari.nordmann@ous-hf.no", "cardiology", "oslo"),
        (6, "Per Hansen", "per@unn.no", None, None),  # empty optional columns may be left out
    ]
    assert [(e.line, e.reason_id) for e in errors] == [
        (3, "invite.error.name"),
        (3, "invite.error.email"),
        (4, "slots.error.field"),
        (4, "slots.error.city"),
        (7, "invite.error.duplicate"),
    ]


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "invite.error.header"),
        (b"navn,epost\nKari,kari@x.no\n", "invite.error.header"),
        (b"name,email,name\n", "invite.error.header"),
        (b"name,email\n\xff\xfe", "slots.error.encoding"),
        (b"name,email\nKari Nordmann,kari@x.no,extra\n", "invite.error.columns"),
    ],
)
def test_a_file_that_cannot_be_used_says_why(data, reason):
    _, errors = campaigns.parse_invitations(data)
    assert errors and errors[0].reason_id == reason


def test_excel_with_norwegian_settings_semicolons_and_a_bom_is_read():
    data = "\ufeffemail;name;city\nola@uib.no;Ola Berg;Tromsø\n".encode()
    [row], errors = campaigns.parse_invitations(data)
    assert errors == [] and (row.name, row.email, row.city) == ("Ola Berg", "ola@uib.no", "tromso")


@given(st.binary(max_size=300) | st.text(max_size=300))
def test_the_parser_never_raises_and_every_row_is_clean(data):
    rows, errors = campaigns.parse_invitations(data)
    assert all(e.line >= 1 for e in errors)
    assert len({r.email for r in rows}) == len(rows)
    assert all(r.email == r.email.lower() and "@" in r.email for r in rows)


# ---- the calendar and the links: pure ------------------------------------------------------------


@pytest.mark.parametrize(
    ("today", "season"),
    [
        (date(2027, 1, 31), None),
        (date(2027, 2, 1), 2027),
        (date(2027, 3, 31), 2027),
        (date(2027, 4, 1), None),
        (date(2026, 11, 24), None),
    ],
)
def test_the_question_is_asked_from_the_first_of_february_until_the_season_starts(today, season):
    assert campaigns.season_to_ask(today, "02-01") == season


def test_a_check_date_in_the_autumn_belongs_to_the_next_april():
    assert campaigns.check_opens(2027, "11-15") == date(2026, 11, 15)
    assert campaigns.season_to_ask(date(2026, 11, 20), "11-15") == 2027


@given(st.integers(2020, 2040), st.integers(1, 3), st.lists(st.integers(0, 11), max_size=12))
def test_months_move_with_the_season_and_stay_inside_it(season, years, picks):
    months = [season_months(season)[i] for i in picks]
    moved = campaigns.shifted({"season": season, "months": months, "title": "t"}, season + years)
    assert moved["season"] == season + years and moved["title"] == "t"
    assert set(moved["months"]) <= set(season_months(season + years))
    assert [m[5:] for m in moved["months"]] == [m[5:] for m in months]


@given(st.integers(1, 10**9), st.integers(2020, 2099))
def test_links_are_short_signed_and_not_interchangeable(some_id, season):
    for payload in (
        campaigns.invite_payload(SECRET, some_id),
        campaigns.decline_payload(SECRET, some_id),
        campaigns.season_payload(SECRET, some_id, season),
    ):
        assert re.fullmatch(r"[A-Za-z0-9_-]{1,64}", payload)
    assert campaigns.parse_invite(SECRET, campaigns.invite_payload(SECRET, some_id)) == Link(
        (some_id,), legacy=False
    )
    no = campaigns.decline_payload(SECRET, some_id)
    assert campaigns.parse_invite(SECRET, no, decline=True) == Link((some_id,), legacy=False)
    forged_no = "n_" + campaigns.invite_payload(SECRET, some_id).removeprefix("i_")
    assert campaigns.parse_invite(SECRET, forged_no, decline=True) is None
    assert campaigns.parse_invite(b"other", campaigns.invite_payload(SECRET, some_id)) is None
    payload = campaigns.season_payload(SECRET, some_id, season)
    assert campaigns.parse_season(SECRET, payload) == Link((some_id, season), legacy=False)
    other_season = payload.replace(f"_{season}_", f"_{season + 1}_", 1)
    assert campaigns.parse_season(SECRET, other_season) is None


# ---- the command line ----------------------------------------------------------------------------


async def _registered(services, email: str) -> None:
    async with services.db.session() as s:
        s.add(
            Supervisor(
                telegram_user_id=424242,
                chat_id=424242,
                language="nb",
                name="Registered Already",
                title="gp",
                workplace="Legekontoret",
                city="oslo",
                email=email,
                consent_version=CONSENT_VERSION,
                consent_at=NOW,
                created_at=NOW,
                updated_at=NOW,
            )
        )


async def _invitations(services) -> list[Invitation]:
    async with services.db.session() as s:
        return list((await s.execute(select(Invitation).order_by(Invitation.id))).scalars())


async def test_invite_reports_bad_lines_and_invites_nobody_until_the_file_is_right(
    settings, services, clock, tmp_path, capsys
):
    people = tmp_path / "former.csv"
    people.write_text("name,email\nKari Nordmann,kari@ous-hf.no\nOla,ola-at-uib\n")
    assert await dispatch(cli("invite", str(people)), settings, clock=clock) == 1
    out = capsys.readouterr()
    assert "Line 3: “ola-at-uib” is not an email address." in out.err
    assert "Nobody was invited" in out.err and "--skip-bad" in out.err
    assert await _invitations(services) == []

    assert await dispatch(cli("invite", str(people), "--skip-bad"), settings, clock=clock) == 0
    out = capsys.readouterr()
    assert "Line 3:" in out.err
    assert "1 invited, 0 invited before, 0 on the suppression list" in out.out
    assert "1 bad rows" in out.out
    assert [i.email for i in await _invitations(services)] == ["kari@ous-hf.no"]


async def test_a_person_is_invited_once_ever_and_no_and_registered_are_honoured(
    settings, services, clock, tmp_path, capsys
):
    await _registered(services, "Per.Hansen@unn.no")
    async with services.db.session() as s:
        await store.suppress(s, "said.no@helse-bergen.no", "unsubscribed", NOW)
    people = tmp_path / "former.csv"
    people.write_text(
        "name,email,field,city\n"
        "Kari Nordmann,kari@ous-hf.no,cardiology,oslo\n"
        "Per Hansen,per.hansen@unn.no,,tromso\n"
        "Siri Said-No,Said.No@helse-bergen.no,,bergen\n"
        "John Smith,john@uio.no,epidemiology,\n"
    )
    args = cli("invite", str(people), "--bot-username", "veileder_test_bot")
    assert await dispatch(args, settings, clock=clock) == 0
    out = capsys.readouterr().out
    assert (
        "2 invited, 0 invited before, 1 on the suppression list (each named below with the "
        "reason), 1 already registered, 0 bad rows." in out
    )
    assert (
        "Not invited, on the suppression list: said.no@helse-bergen.no – unsubscribed "
        "(2026-11-24)." in out
    )
    assert await services.sender.run_once() == 2
    assert sorted(m["To"] for m in mails(settings.mail_dir)) == ["john@uio.no", "kari@ous-hf.no"]

    clock.advance(timedelta(days=400))  # a year later, the same list again
    assert await dispatch(args, settings, clock=clock) == 0
    assert "0 invited, 2 invited before" in capsys.readouterr().out
    assert await services.sender.run_once() == 0
    assert len(mails(settings.mail_dir)) == 2
    async with services.db.session() as s:
        keys = (await s.execute(select(OutboxEmail.idempotency_key))).scalars().all()
    invitations = await _invitations(services)
    assert sorted(keys) == sorted(f"invite:{i.id}" for i in invitations)
    assert {(i.email, i.field, i.city) for i in invitations} == {
        ("kari@ous-hf.no", "cardiology", "oslo"),
        ("john@uio.no", "epidemiology", None),
    }


async def test_the_invitation_is_personal_bokmal_first_with_both_links(
    settings, services, clock, tmp_path, capsys
):
    people = tmp_path / "former.csv"
    people.write_text("name,email\nKari <Nordmann>,kari@ous-hf.no\n")
    args = cli("invite", str(people), "--bot-username", "veileder_test_bot")
    assert await dispatch(args, settings, clock=clock) == 0
    await services.sender.run_once()
    [message] = mails(settings.mail_dir)
    assert message.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in message.iter_parts()] == ["text/plain", "text/html"]
    assert message["Subject"] == "Vil du veilede en utvekslingsstudent igjen?"
    assert message["To"] == "kari@ous-hf.no"
    assert message["Message-ID"] and message["Date"]
    text, html = _plain(message), _html(message)
    assert "Hei Kari <Nordmann>," in text and "Hei Kari &lt;Nordmann&gt;," in html
    assert "tidligere veiledet en innreisende utvekslingsstudent" in text  # why they get it
    for line in ("4 eller 8 uker", "Ingen spesialisering kreves", "Foreningen ordner reise"):
        assert line in text and line in html  # the commitment in three lines
    assert "In English: you supervised an exchange student" in text
    assert "Du får denne e-posten fordi du står på Norsk medisinstudentforenings liste" in text
    [invitation] = await _invitations(services)
    yes = re.search(r"https://t\.me/veileder_test_bot\?start=(i_[A-Za-z0-9_-]+)", text)
    no = re.search(r"https://t\.me/veileder_test_bot\?start=(n_[A-Za-z0-9_-]+)", text)
    assert yes and no
    assert campaigns.parse_invite(services.secret, yes.group(1)) == Link((invitation.id,), False)
    assert campaigns.parse_invite(services.secret, no.group(1), decline=True) == Link(
        (invitation.id,), False
    )
    assert yes.group(0) in html and no.group(0) in html
    assert "<style" not in html  # CSS inlined
    assert no.group(1) in message["List-Unsubscribe"]


async def test_a_file_that_does_not_exist_is_exit_code_2(settings, clock, tmp_path, capsys):
    assert await dispatch(cli("invite", str(tmp_path / "nope.csv")), settings, clock=clock) == 2
    assert "cannot read" in capsys.readouterr().err


async def test_other_commands_are_not_ours(settings):
    assert await dispatch(argparse.Namespace(command="slots"), settings) is None


async def test_a_declined_address_stays_declined_even_if_invited_again(services, settings):
    async with services.db.session() as s:
        rows, _ = campaigns.parse_invitations("name,email\nSiri Berg,siri@x.no\n")
        await campaigns.invite(
            s, rows, settings=settings, secret=services.secret, bot_username="b", now=NOW
        )
    [invitation] = await _invitations(services)
    async with services.db.session() as s:
        await campaigns.decline_invitation(s, invitation.id or 0, NOW)
        await campaigns.decline_invitation(s, invitation.id or 0, NOW)
    async with services.db.session() as s:
        report = await campaigns.invite(
            s, rows, settings=settings, secret=services.secret, bot_username="b", now=NOW
        )
        suppressions = (await s.execute(select(Suppression))).scalars().all()
    assert report.suppressed == ["siri@x.no"] and report.invited == []
    assert [(x.email, x.reason) for x in suppressions] == [("siri@x.no", "declined")]


# ---- the season check's storage, on both databases ----------------------------------------------


async def test_the_season_check_is_asked_once_and_answered_once(services):
    await _registered(services, "kari@ous-hf.no")
    async with services.db.session() as s:
        [supervisor] = (await s.execute(select(Supervisor))).scalars().all()
        sid = supervisor.id or 0
        for season, status in ((2025, TaskStatus.APPROVED), (2026, TaskStatus.WITHDRAWN)):
            s.add(
                Task(
                    supervisor_id=sid,
                    season=season,
                    exchange_type="clinical",
                    title=f"Ward {season}",
                    field="cardiology",
                    city="oslo",
                    site="OUS",
                    weeks=4,
                    months=[f"{season}-09"],
                    backup_contact="Dr. B",
                    status=status,
                    created_at=NOW,
                    updated_at=NOW,
                )
            )
    start = campaigns.season_start(2027, services.settings.tz)
    async with services.db.session() as s:
        assert [x.id for x in await store.season_candidates(s, 2027, start)] == [sid]
        assert [t.title for t in await store.last_season_tasks(s, sid, 2027)] == ["Ward 2025"]
        check = await store.add_season_check(s, sid, 2027, NOW)
    with pytest.raises(IntegrityError):
        async with services.db.session() as s:
            await store.add_season_check(s, sid, 2027, NOW)
    async with services.db.session() as s:
        assert await store.season_candidates(s, 2027, start) == []
        assert await store.answer_season_check(s, check.id or 0, "no", NOW)
        assert not await store.answer_season_check(s, check.id or 0, "same", NOW)
    async with services.db.session() as s:
        stored = await store.get_season_check(s, sid, 2027)
        assert stored is not None and stored.answer == "no"
