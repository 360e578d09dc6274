"""Callback data and link tokens: short enough for Telegram, bound to one person, unforgeable."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from bot.signing import CALLBACK_LIMIT, Callback, decode_callback, encode_callback

SECRET = b"test-secret"
parts = st.text(alphabet="abcdefghijklmnopqrstuvwxyz_", min_size=1, max_size=12)


@given(scope=parts, step=parts, action=parts, value=parts, user_id=st.integers(1, 10**12))
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
