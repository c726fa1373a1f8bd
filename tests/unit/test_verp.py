"""VERP envelope senders: round trip, case, tampering, keys and rotation, hostile input; and
the MAIL FROM of each delivery of a send."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest

from digest.errors import ConfigError
from digest.send.verp import EnvelopeSenders, delivery_of, envelope_sender, envelope_senders
from digest.send.wiring import smtp_relay
from digest.settings import Settings

KEY = "current-key-0123456789abcdef"
OLD_KEY = "former-key-0123456789abcdef"
BASE = "bounces@example.org"


def token_of(address: str) -> str:
    return address.rpartition("@")[0].rpartition("+")[2]


@pytest.mark.parametrize("delivery_id", [0, 1, 35, 36, 1234, 987_654_321, 2**40, 2**63 - 1])
def test_round_trip(delivery_id: int) -> None:
    address = envelope_sender(BASE, delivery_id, [KEY])
    assert address.startswith("bounces+") and address.endswith("@example.org")
    assert delivery_of(address, [KEY]) == delivery_id


def test_the_token_is_short_lowercase_and_plain() -> None:
    for delivery_id in (1, 5000, 10**9):
        token = token_of(envelope_sender(BASE, delivery_id, [KEY]))
        assert len(token) <= 20
        assert re.fullmatch(r"[0-9a-z-]+", token), token
    # Nothing that means something else in an address or in base64.
    assert not set("+=/_.") & set(token_of(envelope_sender(BASE, 10**12, [KEY])))


def test_tokens_differ_per_delivery() -> None:
    tokens = {token_of(envelope_sender(BASE, n, [KEY])) for n in range(200)}
    assert len(tokens) == 200


@pytest.mark.parametrize("change", [str.upper, str.title, str.swapcase])
def test_a_receiver_may_change_the_case(change: Callable[[str], str]) -> None:
    address = envelope_sender(BASE, 4242, [KEY])
    assert delivery_of(change(address), [KEY]) == 4242


def test_the_base_keeps_its_case_and_still_verifies() -> None:
    address = envelope_sender("Bounces@Example.ORG", 7, [KEY])
    assert address.startswith("Bounces+") and address.endswith("@Example.ORG")
    assert delivery_of(address, [KEY]) == 7
    assert delivery_of(address.lower(), [KEY]) == 7


@pytest.mark.parametrize(
    "form", ["<{}>", " {} ", "\t<{}>\r\n", "{}"], ids=["angle", "spaces", "folded", "bare"]
)
def test_angle_brackets_and_whitespace_are_accepted(form: str) -> None:
    address = envelope_sender(BASE, 99, [KEY])
    assert delivery_of(form.format(address), [KEY]) == 99


def test_a_base_with_its_own_plus_works() -> None:
    address = envelope_sender("news+bounces@example.org", 12, [KEY])
    assert address.startswith("news+bounces+")
    assert delivery_of(address, [KEY]) == 12


def test_a_tampered_mac_is_refused() -> None:
    address = envelope_sender(BASE, 1234, [KEY])
    local, _, domain = address.rpartition("@")
    for position in range(len(local) - 10, len(local)):
        replacement = "a" if local[position] != "a" else "b"
        forged = f"{local[:position]}{replacement}{local[position + 1 :]}@{domain}"
        assert delivery_of(forged, [KEY]) is None, forged


def test_a_swapped_id_is_refused() -> None:
    first, second = envelope_sender(BASE, 1234, [KEY]), envelope_sender(BASE, 1235, [KEY])
    number, _, mac = token_of(first).partition("-")
    other_number = token_of(second).partition("-")[0]
    assert delivery_of(first.replace(f"+{number}-", f"+{other_number}-"), [KEY]) is None
    # Nor may an id be written another way (leading zeros) under the same MAC.
    assert delivery_of(first.replace(f"+{number}-", f"+0{number}-"), [KEY]) is None
    assert mac


def test_a_token_on_another_address_is_refused() -> None:
    token = token_of(envelope_sender(BASE, 77, [KEY]))
    assert delivery_of(f"other+{token}@example.org", [KEY]) is None
    assert delivery_of(f"bounces+{token}@evil.example", [KEY]) is None


def test_a_wrong_key_is_refused() -> None:
    address = envelope_sender(BASE, 5, [KEY])
    assert delivery_of(address, ["another-key-entirely"]) is None
    assert delivery_of(address, []) is None


def test_the_last_key_signs_and_every_key_verifies() -> None:
    before = envelope_sender(BASE, 5, [OLD_KEY])
    after = envelope_sender(BASE, 5, [OLD_KEY, KEY])
    assert before != after
    assert after == envelope_sender(BASE, 5, [KEY])
    # After rotation, bounces of mail sent under the old key still name their delivery.
    assert delivery_of(before, [OLD_KEY, KEY]) == 5
    assert delivery_of(after, [OLD_KEY, KEY]) == 5
    # Once the old key is dropped, its addresses are no longer ours.
    assert delivery_of(before, [KEY]) is None


@pytest.mark.parametrize(
    "address",
    [
        "bounces@example.org",
        "bounces+@example.org",
        "alice+newsletter@example.org",
        "alice@example.org",
        "<>",
        "",
        "@",
        "+",
        "MAILER-DAEMON",
    ],
)
def test_addresses_without_a_token_are_not_ours(address: str) -> None:
    assert delivery_of(address, [KEY]) is None


@pytest.mark.parametrize(
    "address",
    [
        "bounces+" + "1" * 5000 + "-aaaaaaaaaa@example.org",
        "bounces+1-aaaaaaaaaa@" + "x" * 100_000,
        "bounces+1-aaaaaaaaaa\r\nBcc: evil@example.com@example.org",
        "bounces+1-aaaaaaaaaa@example.org\x00",
        "bounces+1-aaaaaaaaaa@exa mple.org",
        "bounces+ 1-aaaaaaaaaa@example.org",
        "bounces+-1-aaaaaaaaaa@example.org",
        "bounces+1_0-aaaaaaaaaa@example.org",
        "bounces+1-aaaaaaaaa1@example.org",
        "bounces+１-aaaaaaaaaa@example.org",  # a fullwidth digit: int() would accept it
        "bounces+1-aaaaaaaaaa@@example.org",
        "<<bounces+1-aaaaaaaaaa@example.org>>",
        "\udcff+1-aaaaaaaaaa@example.org",
    ],
)
def test_hostile_input_is_refused_quietly(address: str) -> None:
    assert delivery_of(address, [KEY]) is None


def test_hostile_input_that_looks_right_is_still_checked() -> None:
    address = envelope_sender(BASE, 3, [KEY])
    assert delivery_of(address + "\r\nBcc: evil@example.com", [KEY]) is None
    assert delivery_of(address.replace("@", "@@"), [KEY]) is None
    # The Kelvin sign lowercases to an ASCII "k": a real token written with it is not ours.
    real = next(
        a for a in (envelope_sender(BASE, n, [KEY]) for n in range(1000)) if "k" in token_of(a)
    )
    assert delivery_of(real.replace("k", "\u212a"), [KEY]) is None


@pytest.mark.parametrize(
    "base", ["bounces", "bounces@", "@example.org", "a b@example.org", "x\r\n@example.org"]
)
def test_a_base_that_is_not_a_plain_address_is_an_error(base: str) -> None:
    with pytest.raises(ValueError, match="plain address"):
        envelope_sender(base, 1, [KEY])


def test_a_negative_id_or_no_key_is_an_error() -> None:
    with pytest.raises(ValueError, match="negative"):
        envelope_sender(BASE, -1, [KEY])
    with pytest.raises(ValueError, match="key"):
        envelope_sender(BASE, 1, [])


def senders_for(settings: Settings) -> EnvelopeSenders:
    return envelope_senders(smtp_relay(settings).envelope_from, settings)


def test_each_delivery_gets_its_own_envelope_sender(
    make_settings: Callable[..., Settings],
) -> None:
    settings = make_settings(smtp_envelope_from="bounces@example.org")
    senders = {senders_for(settings).of(n) for n in (1, 2, 3)}
    assert len(senders) == 3
    for n in (1, 2, 3):
        address = senders_for(settings).of(n)
        assert address.startswith("bounces+") and address.endswith("@example.org")
        assert delivery_of(address, settings.signing_keys) == n


def test_the_envelope_sender_falls_back_to_the_from_address(
    make_settings: Callable[..., Settings],
) -> None:
    settings = make_settings(newsletter_from_address="news@example.org")
    address = senders_for(settings).of(9)
    assert address.startswith("news+") and delivery_of(address, settings.signing_keys) == 9


def test_without_verp_the_envelope_sender_is_the_plain_address(
    make_settings: Callable[..., Settings],
) -> None:
    settings = make_settings(smtp_envelope_from="bounces@example.org", smtp_verp="false")
    assert senders_for(settings).of(9) == "bounces@example.org"


def test_an_envelope_address_that_cannot_carry_a_token_is_a_config_error(
    make_settings: Callable[..., Settings],
) -> None:
    # Refused when the settings are read, before anything is sent.
    with pytest.raises(ConfigError, match=r"smtp\.envelope_from: 'bounces' is not a plain"):
        make_settings(smtp_envelope_from="bounces")
