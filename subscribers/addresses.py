"""Email addresses: syntax check and normalization (no DNS lookups)."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence

from email_validator import EmailNotValidError, validate_email

from digest.errors import SubscriberError
from digest.text import visible


def normalize_address(raw: str) -> str:
    """The address in the one form we store and compare: validated, lower-cased."""
    candidate = raw.strip()
    if not candidate:
        raise SubscriberError("empty address")
    if any(c in candidate for c in "\r\n\0"):
        raise SubscriberError(f"{candidate!r} contains a line break")
    try:
        valid = validate_email(candidate, check_deliverability=False, allow_smtputf8=False)
    except EmailNotValidError as e:
        raise SubscriberError(f"{candidate!r} is not a valid address: {e}") from None
    return valid.normalized.lower()


# The joiners `visible` keeps where they do a job (an emoji sequence, Persian and Indic
# writing); every other invisible or control character is not part of a name.
JOINERS = "\u200c\u200d"


def clean_name(raw: str) -> str:
    """A display name safe for a header and a page: bidi overrides and isolates and
    zero-width characters removed (`Invoice \u202egpj.exe` would show as "Invoice exe.jpg"),
    control characters and line breaks made spaces, spaces collapsed. (How it is written
    into To: is `digest.send.message`'s business: encoded, never raw.)"""
    shown = "".join(c if c.isprintable() or c in JOINERS else " " for c in visible(raw))
    return " ".join(shown.split())[:200]


def address_hash(key: str, email: str) -> str:
    """The keyed hash a forgotten address is kept as: it names nobody without the key."""
    return hmac.new(key.encode(), email.encode(), hashlib.sha256).hexdigest()


def address_hashes(keys: Sequence[str], email: str) -> list[str]:
    """The address's hash under every signing key, so a key rotation keeps it recognised."""
    return [address_hash(key, email) for key in keys]
