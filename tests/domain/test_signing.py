"""Callback data and link tokens: short enough for Telegram, bound to one person and one purpose,
unforgeable, and no input a person can send makes a decoder raise."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from bot.domain.signing import (
    CALLBACK_LIMIT,
    LEGACY_WINDOW,
    Callback,
    Purpose,
    Verdict,
    check,
    decode_callback,
    encode_callback,
    is_token,
    parse_id,
    sign,
    within_legacy_window,
)
from bot.services import campaigns, links, referrals, unsubscribe

SECRET = b"test-secret-key-of-at-least-32-bytes"
parts = st.text(alphabet="abcdefghijklmnopqrstuvwxyz_", min_size=1, max_size=12)
ids = st.integers(1, 10**12)
# Arbitrary unicode, and text shaped like our payloads with odd characters in them.
anything = st.one_of(
    st.text(max_size=80),
    st.builds(
        lambda prefix, middle, tail: prefix + middle + tail,
        st.sampled_from(
            ["o_", "u_", "i_", "n_", "s_", "v_", "c_", "j_", "cr:t:ok:", "o:1:accept:"]
        ),
        st.text(alphabet="0123456789_²³¹٣۳߃०১੧૧୧௧౧೧൧๑໑༡၁႑០᠑᥇᧑᪁᪑᭑᮱᱁᱑꘠꣐꤀꧐꧰꩐꯰０", max_size=12),
        st.text(max_size=20),
    ),
    st.from_regex(r"[ousinj]_[0-9]{1,5}_[^\x00-\x7f]{1,8}", fullmatch=True),
)


def legacy_signature(user_id: int, body: str) -> str:
    """A signature as made before per-purpose keys: the raw secret for everything."""
    mac = hmac.new(SECRET, f"{user_id}:{body}".encode(), hashlib.sha256).digest()[:6]
    return base64.urlsafe_b64encode(mac).decode().rstrip("=")


@given(scope=parts, step=parts, action=parts, value=parts, user_id=ids)
def test_a_button_round_trips_for_its_owner_only(scope, step, action, value, user_id):
    callback = Callback(scope, step, action, value)
    data = encode_callback(callback, secret=SECRET, user_id=user_id)
    assert len(data.encode()) <= CALLBACK_LIMIT
    assert decode_callback(data, secret=SECRET, user_id=user_id) == callback
    assert decode_callback(data, secret=SECRET, user_id=user_id + 1) is None
    assert decode_callback(data, secret=b"other", user_id=user_id) is None


@given(st.text(max_size=80))
def test_arbitrary_callback_data_is_rejected_without_raising(data):
    assert decode_callback(data, secret=SECRET, user_id=1) is None


def test_a_tampered_value_is_rejected():
    data = encode_callback(Callback("r", "city", "pick", "oslo"), secret=SECRET, user_id=5)
    assert decode_callback(data.replace("oslo", "bergen"), secret=SECRET, user_id=5) is None


@given(st.sampled_from(list(Purpose)), st.sampled_from(list(Purpose)), ids, st.text(max_size=40))
def test_a_signature_for_one_purpose_never_verifies_for_another(made_for, tried_as, user_id, body):
    signature = sign(SECRET, made_for, user_id, body)
    expected = Verdict.VALID if made_for == tried_as else Verdict.INVALID
    assert check(SECRET, tried_as, user_id, body, signature) == expected


@given(ids, st.integers(2020, 2099))
def test_no_link_opens_as_a_link_of_another_kind(some_id, season):
    """Each payload re-prefixed as every other kind (same ids, same signature) is refused."""
    made = {
        "o_": links.offer_payload(SECRET, some_id, some_id),
        "u_": unsubscribe.payload(SECRET, some_id),
        "i_": campaigns.invite_payload(SECRET, some_id),
        "n_": campaigns.decline_payload(SECRET, some_id),
        "j_": referrals.payload(SECRET, some_id),
    }
    for prefix, payload in made.items():
        for other in made:
            forged = other + payload.removeprefix(prefix)
            accepted = {
                "o_": links.parse_offer(SECRET, forged, some_id) is not None,
                "u_": unsubscribe.parse(SECRET, forged) is not None,
                "i_": campaigns.parse_invite(SECRET, forged) is not None,
                "n_": campaigns.parse_invite(SECRET, forged, decline=True) is not None,
                "j_": referrals.parse(SECRET, forged) is not None,
            }[other]
            assert accepted == (other == prefix), (prefix, other)
    season_link = campaigns.season_payload(SECRET, some_id, season)
    assert campaigns.parse_season(SECRET, season_link) is not None
    button = encode_callback(Callback("sc", str(season), "same"), secret=SECRET, user_id=some_id)
    signature = button.rsplit(":", 1)[1]
    assert campaigns.parse_season(SECRET, f"s_{some_id}_{season}_{signature}") is None


@given(anything, ids)
def test_every_decoder_answers_arbitrary_unicode_with_none_never_raising(payload, user_id):
    assert links.parse_offer(SECRET, payload, user_id) is None
    assert unsubscribe.parse(SECRET, payload) is None
    assert campaigns.parse_invite(SECRET, payload) is None
    assert campaigns.parse_invite(SECRET, payload, decline=True) is None
    assert campaigns.parse_season(SECRET, payload) is None
    assert referrals.parse(SECRET, payload) is None
    assert decode_callback(payload, secret=SECRET, user_id=user_id) is None
    assert decode_callback(payload, secret=SECRET, user_id=user_id, accept_legacy=True) is None
    assert check(SECRET, Purpose.OFFER, user_id, payload, payload) == Verdict.INVALID


def test_a_valid_link_with_one_odd_character_is_refused_not_a_crash():
    good = links.offer_payload(SECRET, 1, 5)
    for odd in (good[:-1] + "ø", "o_²_" + good.split("_", 2)[2], good.replace("1", "١", 1)):
        assert links.parse_offer(SECRET, odd, 5) is None
    assert unsubscribe.parse(SECRET, "u_²_AAAAAAAA") is None
    assert decode_callback("cr:t:ok:1:ø", secret=SECRET, user_id=5) is None


@given(st.text(max_size=30))
def test_ids_are_ascii_digits_only(text):
    number = parse_id(text)
    if number is None:
        assert not (text.isascii() and text.isdigit() and text[0] != "0" and len(text) <= 18)
    else:
        assert str(number) == text


def test_superscripts_and_other_scripts_digits_are_not_ids():
    assert [parse_id(t) for t in ("²", "١٢", "０", "012", "-1", " 1", "1")] == [None] * 6 + [1]


@given(st.text(max_size=80))
def test_a_token_is_url_safe_ascii(text):
    if is_token(text):
        assert text.isascii() and 16 <= len(text) <= 64


def test_an_old_unsubscribe_link_works_forever():
    old = f"u_42_{legacy_signature(42, 'unsubscribe')}"
    assert old != unsubscribe.payload(SECRET, 42)
    assert unsubscribe.parse(SECRET, old) == 42


def test_old_links_and_buttons_say_they_are_legacy():
    offer = links.parse_offer(SECRET, f"o_7_{legacy_signature(5, 'offer:7')}", 5)
    assert offer is not None and offer.legacy and offer.id == 7
    assert links.parse_offer(SECRET, links.offer_payload(SECRET, 7, 5), 5).legacy is False
    season = campaigns.parse_season(SECRET, f"s_3_2027_{legacy_signature(3, 'season:2027')}")
    assert season is not None and season.legacy and season.ids == (3, 2027)
    invite = campaigns.parse_invite(SECRET, f"i_9_{legacy_signature(9, 'invite')}")
    assert invite is not None and invite.legacy
    body = "cr:t:ok:1"
    data = f"{body}:{legacy_signature(5, body)}"
    assert decode_callback(data, secret=SECRET, user_id=5) is None
    assert decode_callback(data, secret=SECRET, user_id=5, accept_legacy=True) == Callback(
        "cr", "t", "ok", "1"
    )


def test_the_legacy_window_is_ninety_days_from_issue():
    issued = datetime(2026, 11, 1, tzinfo=UTC)
    assert within_legacy_window(issued, issued + LEGACY_WINDOW)
    assert not within_legacy_window(issued, issued + LEGACY_WINDOW + timedelta(seconds=1))
    assert not within_legacy_window(None, issued)
    link = links.parse_offer(SECRET, f"o_7_{legacy_signature(5, 'offer:7')}", 5)
    assert link is not None
    assert link.usable(issued, issued + timedelta(days=89))
    assert not link.usable(issued, issued + timedelta(days=91))


@given(st.integers(1, 10**18 - 1))
def test_a_referral_link_fits_telegrams_start_parameter_and_names_its_supervisor(supervisor_id):
    payload = referrals.payload(SECRET, supervisor_id)
    assert len(payload) <= 64 and re.fullmatch(r"[A-Za-z0-9_-]+", payload, re.ASCII)
    assert referrals.parse(SECRET, payload) == supervisor_id
    assert referrals.parse(b"another-secret-key-of-at-least-32-bytes", payload) is None


def test_a_referral_link_with_a_legacy_signature_is_refused():
    """Referral links were signed with their own key from the start: no legacy one exists."""
    assert referrals.parse(SECRET, f"j_7_{legacy_signature(7, 'referral')}") is None
