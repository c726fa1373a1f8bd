"""Signed link tokens (round trip, tampering, key rotation, purposes) and address checks."""

from __future__ import annotations

import pytest
from itsdangerous.encoding import base64_encode

from digest.errors import SubscriberError
from subscribers.addresses import clean_name, normalize_address
from subscribers.tokens import PREFERENCES, UNSUBSCRIBE, LinkTarget, TokenSigner, _serializer

KEY = "current-key-0123456789abcdef"
OLD_KEY = "former-key-0123456789abcdef"
LINK_KEY = "aB3dE5gH7jK9mN1pQ3sT5v"


def test_sign_and_verify_round_trip() -> None:
    signer = TokenSigner([KEY], UNSUBSCRIBE)
    for subscriber_id in (1, 42, 10**9):
        token = signer.sign(subscriber_id, LINK_KEY)
        assert signer.verify(token) == LinkTarget(subscriber_id, LINK_KEY)


def test_tokens_are_url_safe_and_differ_per_subscriber_and_link_key() -> None:
    signer = TokenSigner([KEY], UNSUBSCRIBE)
    first, second = signer.sign(1, LINK_KEY), signer.sign(2, LINK_KEY)
    assert len({first, second, signer.sign(1, "another-link-key")}) == 3
    allowed = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.")
    assert set(first) <= allowed


def test_a_changed_payload_is_refused() -> None:
    signer = TokenSigner([KEY], UNSUBSCRIBE)
    payload, signature = signer.sign(42, LINK_KEY).split(".")
    assert payload == base64_encode(f'[42,"{LINK_KEY}"]'.encode()).decode()
    # Another subscriber's id, or another link key, under the signature of this one.
    for changed in (f'[43,"{LINK_KEY}"]', '[42,"guessed"]', "42"):
        forged = f"{base64_encode(changed.encode()).decode()}.{signature}"
        with pytest.raises(SubscriberError, match="unsubscribe"):
            signer.verify(forged)


def test_a_changed_signature_is_refused() -> None:
    signer = TokenSigner([KEY], UNSUBSCRIBE)
    payload, signature = signer.sign(42, LINK_KEY).split(".")
    # Change the first character: unlike the last one, all of its bits are significant.
    swapped = ("B" if signature[0] == "A" else "A") + signature[1:]
    with pytest.raises(SubscriberError):
        signer.verify(f"{payload}.{swapped}")


@pytest.mark.parametrize("token", ["", "garbage", "NDI", "NDI.", ".abc", "a.b.c"])
def test_malformed_tokens_are_refused(token: str) -> None:
    with pytest.raises(SubscriberError):
        TokenSigner([KEY], UNSUBSCRIBE).verify(token)


def test_a_token_of_another_key_is_refused() -> None:
    token = TokenSigner(["someone-elses-key-0123456789"], UNSUBSCRIBE).sign(42, LINK_KEY)
    with pytest.raises(SubscriberError):
        TokenSigner([KEY], UNSUBSCRIBE).verify(token)


@pytest.mark.parametrize(
    "value", ["42", [42], ["42", LINK_KEY], [True, LINK_KEY], [42, ""], [42, 7], [42, LINK_KEY, 1]]
)
def test_a_validly_signed_token_of_another_shape_is_refused(value: object) -> None:
    token = str(_serializer([KEY], UNSUBSCRIBE).dumps(value))
    with pytest.raises(SubscriberError):
        TokenSigner([KEY], UNSUBSCRIBE).verify(token)


def test_a_token_from_before_link_keys_is_refused() -> None:
    """Links sent before this version carry the id alone: nothing can tell whether that id
    is still the person they were sent to, so they no longer work (README, "Security")."""
    token = str(_serializer([KEY], UNSUBSCRIBE).dumps(42))
    with pytest.raises(SubscriberError):
        TokenSigner([KEY], UNSUBSCRIBE).verify(token)


def test_an_old_key_still_verifies_while_it_is_listed() -> None:
    token = TokenSigner([OLD_KEY], UNSUBSCRIBE).sign(42, LINK_KEY)
    rotated = TokenSigner([OLD_KEY, KEY], UNSUBSCRIBE)
    assert rotated.verify(token) == LinkTarget(42, LINK_KEY)


def test_the_newest_key_signs_after_rotation() -> None:
    rotated = TokenSigner([OLD_KEY, KEY], UNSUBSCRIBE)
    token = rotated.sign(7, LINK_KEY)
    assert TokenSigner([KEY], UNSUBSCRIBE).verify(token) == LinkTarget(7, LINK_KEY)
    with pytest.raises(SubscriberError):
        TokenSigner([OLD_KEY], UNSUBSCRIBE).verify(token)


def test_an_old_key_no_longer_listed_fails() -> None:
    token = TokenSigner([OLD_KEY], UNSUBSCRIBE).sign(42, LINK_KEY)
    with pytest.raises(SubscriberError):
        TokenSigner([KEY], UNSUBSCRIBE).verify(token)


def test_purposes_do_not_cross() -> None:
    unsubscribe = TokenSigner([KEY], UNSUBSCRIBE)
    preferences = TokenSigner([KEY], PREFERENCES)
    unsubscribe_token = unsubscribe.sign(42, LINK_KEY)
    preferences_token = preferences.sign(42, LINK_KEY)
    assert unsubscribe_token != preferences_token
    with pytest.raises(SubscriberError, match="preferences"):
        preferences.verify(unsubscribe_token)
    with pytest.raises(SubscriberError, match="unsubscribe"):
        unsubscribe.verify(preferences_token)
    assert preferences.verify(preferences_token) == LinkTarget(42, LINK_KEY)


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
