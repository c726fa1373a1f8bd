"""Signed link tokens (round trip, tampering, key rotation, purposes) and address checks."""

from __future__ import annotations

import pytest
from itsdangerous.encoding import base64_encode

from digest.errors import SubscriberError
from subscribers.addresses import clean_name, normalize_address
from subscribers.tokens import PREFERENCES, UNSUBSCRIBE, TokenSigner, _serializer

KEY = "current-key-0123456789abcdef"
OLD_KEY = "former-key-0123456789abcdef"


def test_sign_and_verify_round_trip() -> None:
    signer = TokenSigner([KEY], UNSUBSCRIBE)
    for subscriber_id in (1, 42, 10**9):
        token = signer.sign(subscriber_id)
        assert signer.verify(token) == subscriber_id


def test_tokens_are_url_safe_and_differ_per_subscriber() -> None:
    signer = TokenSigner([KEY], UNSUBSCRIBE)
    first, second = signer.sign(1), signer.sign(2)
    assert first != second
    allowed = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.")
    assert set(first) <= allowed


def test_a_changed_payload_is_refused() -> None:
    signer = TokenSigner([KEY], UNSUBSCRIBE)
    payload, signature = signer.sign(42).split(".")
    assert payload == base64_encode(b"42").decode()
    # Another subscriber's id under the signature of this one.
    forged = f"{base64_encode(b'43').decode()}.{signature}"
    with pytest.raises(SubscriberError, match="unsubscribe"):
        signer.verify(forged)


def test_a_changed_signature_is_refused() -> None:
    signer = TokenSigner([KEY], UNSUBSCRIBE)
    payload, signature = signer.sign(42).split(".")
    # Change the first character: unlike the last one, all of its bits are significant.
    swapped = ("B" if signature[0] == "A" else "A") + signature[1:]
    with pytest.raises(SubscriberError):
        signer.verify(f"{payload}.{swapped}")


@pytest.mark.parametrize("token", ["", "garbage", "NDI", "NDI.", ".abc", "a.b.c"])
def test_malformed_tokens_are_refused(token: str) -> None:
    with pytest.raises(SubscriberError):
        TokenSigner([KEY], UNSUBSCRIBE).verify(token)


def test_a_token_of_another_key_is_refused() -> None:
    token = TokenSigner(["someone-elses-key-0123456789"], UNSUBSCRIBE).sign(42)
    with pytest.raises(SubscriberError):
        TokenSigner([KEY], UNSUBSCRIBE).verify(token)


def test_a_validly_signed_non_integer_is_refused() -> None:
    token = str(_serializer([KEY], UNSUBSCRIBE).dumps("42"))
    with pytest.raises(SubscriberError):
        TokenSigner([KEY], UNSUBSCRIBE).verify(token)


def test_an_old_key_still_verifies_while_it_is_listed() -> None:
    token = TokenSigner([OLD_KEY], UNSUBSCRIBE).sign(42)
    rotated = TokenSigner([OLD_KEY, KEY], UNSUBSCRIBE)
    assert rotated.verify(token) == 42


def test_the_newest_key_signs_after_rotation() -> None:
    rotated = TokenSigner([OLD_KEY, KEY], UNSUBSCRIBE)
    token = rotated.sign(7)
    assert TokenSigner([KEY], UNSUBSCRIBE).verify(token) == 7
    with pytest.raises(SubscriberError):
        TokenSigner([OLD_KEY], UNSUBSCRIBE).verify(token)


def test_an_old_key_no_longer_listed_fails() -> None:
    token = TokenSigner([OLD_KEY], UNSUBSCRIBE).sign(42)
    with pytest.raises(SubscriberError):
        TokenSigner([KEY], UNSUBSCRIBE).verify(token)


def test_purposes_do_not_cross() -> None:
    unsubscribe = TokenSigner([KEY], UNSUBSCRIBE)
    preferences = TokenSigner([KEY], PREFERENCES)
    unsubscribe_token = unsubscribe.sign(42)
    preferences_token = preferences.sign(42)
    assert unsubscribe_token != preferences_token
    with pytest.raises(SubscriberError, match="preferences"):
        preferences.verify(unsubscribe_token)
    with pytest.raises(SubscriberError, match="unsubscribe"):
        unsubscribe.verify(preferences_token)
    assert preferences.verify(preferences_token) == 42


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Foo.Bar@Example.COM", "foo.bar@example.com"),
        ("  someone@example.org\t", "someone@example.org"),
        ("a+tag@sub.example.co.uk", "a+tag@sub.example.co.uk"),
    ],
)
def test_normalize_address_lower_cases_and_trims(raw: str, expected: str) -> None:
    assert normalize_address(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "   ",
        "foo@",
        "@example.com",
        "no-at-sign.example.com",
        "a b@example.com",
        "two@@example.com",
        "a@example.com\r\nBcc: evil@example.com",
        "a@example.com\nBcc: evil@example.com",
        "a\r@example.com",
        "a@exa\nmple.com",
        "a@example.com\x00",
        "Name <a@example.com>",
    ],
)
def test_normalize_address_rejects(raw: str) -> None:
    with pytest.raises(SubscriberError):
        normalize_address(raw)


def test_a_line_break_is_named_in_the_error() -> None:
    with pytest.raises(SubscriberError, match="line break"):
        normalize_address("a@example.com\r\nBcc: evil@example.com")


def test_clean_name_removes_line_breaks_and_control_characters() -> None:
    cleaned = clean_name("  Ada\r\nBcc: evil@example.com\x07 ")
    assert not any(c in cleaned for c in "\r\n\x07")
    assert cleaned.startswith("Ada") and cleaned.endswith("evil@example.com")
    assert clean_name("Zoë  Müller") == "Zoë Müller"
    assert len(clean_name("x" * 500)) == 200
