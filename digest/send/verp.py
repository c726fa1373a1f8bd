"""VERP: each delivery gets its own signed envelope sender, so a bounce names its delivery.

`envelope_sender("bounces@example.org", 1234, keys)` is `bounces+ya-<mac>@example.org`: the
delivery id in base 36 and a 50-bit HMAC-SHA256 in lowercase base 32, joined by "-". Every
character survives a receiving MTA that lowercases the local part, and none of them ("+",
"=", "/") has a meaning of its own in an address. The MAC covers the id and the base address,
so a token copied onto another address, or an id swapped under a MAC, is refused; the last
key signs and every key verifies, as for link tokens, so `security.secret_key` can be rotated
while bounces of mail already sent are still coming back.

This is hmac + hashlib from the standard library, not itsdangerous or a VERP/SRS package:
those produce mixed-case base64 with "." and "=" and a 27-character signature, too long and
not case-proof for a local part, and the whole scheme is one HMAC over a short string.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Sequence
from dataclasses import dataclass

from digest.errors import ConfigError
from digest.settings import Settings

# 50 bits: a forger has to send about 10**15 bounces to hit one delivery by chance.
MAC_CHARS = 10
SEPARATOR = "-"
_PURPOSE = b"digest.verp.v1\x00"
_DIGITS = "0123456789abcdefghijklmnopqrstuvwxyz"
# An address longer than SMTP allows (RFC 5321: 64 + 1 + 255) was not made here.
_MAX_ADDRESS = 320
_TOKEN = re.compile(rf"([0-9a-z]{{1,13}}){SEPARATOR}([a-z2-7]{{{MAC_CHARS}}})")
# The base is our own setting; it must be a plain address, so that LOCAL+TOKEN@DOMAIN is one,
# with a local part short enough to stay within 64 characters after the token (RFC 5321).
_LOCAL_MAX = 64 - len("+") - 13 - len(SEPARATOR) - MAC_CHARS
_BASE = re.compile(rf"[A-Za-z0-9!#$%&'*+/=?^_`{{|}}~.-]{{1,{_LOCAL_MAX}}}@[A-Za-z0-9.-]{{1,253}}")


def envelope_sender(base: str, delivery_id: int, keys: Sequence[str]) -> str:
    """`LOCAL+TOKEN@DOMAIN` for one delivery; `base` is the configured envelope address.

    ValueError for a base that is not a plain address, a negative id or no key.
    """
    if not _BASE.fullmatch(base):
        raise ValueError(f"envelope sender {base!r} is not a plain address (local@domain)")
    if delivery_id < 0:
        raise ValueError(f"delivery id {delivery_id} is negative")
    if not keys:
        raise ValueError("no signing key for the envelope sender")
    local, _, domain = base.rpartition("@")
    number = _base36(delivery_id)
    mac = _mac(keys[-1], local.lower(), domain.lower(), number)
    return f"{local}+{number}{SEPARATOR}{mac}@{domain}"


@dataclass(frozen=True, slots=True)
class EnvelopeSenders:
    """MAIL FROM for each delivery: its own signed address when `keys` are given (VERP), so
    that a bounce names the delivery; else `base` for every one."""

    base: str
    keys: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.keys:
            envelope_sender(self.base, 0, self.keys)  # a base VERP cannot use fails now

    def of(self, delivery_id: int) -> str:
        if not self.keys:
            return self.base
        return envelope_sender(self.base, delivery_id, self.keys)


def envelope_senders(base: str, settings: Settings) -> EnvelopeSenders:
    """The senders for a send from `base` (the relay's envelope sender), VERP as smtp.verp
    says; ConfigError when VERP cannot use `base`."""
    keys = tuple(settings.signing_keys) if settings.smtp.verp else ()
    try:
        return EnvelopeSenders(base, keys)
    except ValueError as e:
        raise ConfigError(f"smtp.envelope_from: {e}") from None


def delivery_of(address: str, keys: list[str]) -> int | None:
    """The delivery id of an address made by `envelope_sender` with one of `keys`; None for
    anything else (no token, a forged or altered one, another base address, garbage).

    Any case, surrounding whitespace and one pair of angle brackets are accepted, as a bounce
    may carry the address in any of these forms.
    """
    if not isinstance(address, str) or len(address) > _MAX_ADDRESS + 2:
        return None
    text = address.strip()
    # Lowercasing would turn a few non-ASCII letters (the Kelvin sign) into ASCII ones.
    if not text.isascii():
        return None
    if text.startswith("<") and text.endswith(">"):
        text = text[1:-1]
    local_part, at, domain = text.lower().rpartition("@")
    local, plus, token = local_part.rpartition("+")
    if not (at and plus and local and domain) or not _BASE.fullmatch(f"{local}@{domain}"):
        return None
    match = _TOKEN.fullmatch(token)
    if match is None:
        return None
    number, mac = match.groups()
    delivery_id = int(number, 36)
    if _base36(delivery_id) != number:  # leading zeros: not a token we wrote
        return None
    for key in keys:
        if hmac.compare_digest(_mac(key, local, domain, number), mac):
            return delivery_id
    return None


def _mac(key: str, local: str, domain: str, number: str) -> str:
    message = _PURPOSE + f"{local}@{domain}\x00{number}".encode()
    digest = hmac.new(key.encode(), message, hashlib.sha256).digest()
    return base64.b32encode(digest[:10]).decode("ascii")[:MAC_CHARS].lower()


def _base36(number: int) -> str:
    digits = []
    while True:
        number, rest = divmod(number, 36)
        digits.append(_DIGITS[rest])
        if not number:
            return "".join(reversed(digits))
