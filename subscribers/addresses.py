"""Email addresses: syntax check and normalization (no DNS lookups)."""

from __future__ import annotations

from email_validator import EmailNotValidError, validate_email

from digest.errors import SubscriberError


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


def clean_name(raw: str) -> str:
    """A display name safe for a header: control characters and line breaks become spaces."""
    return " ".join("".join(c if c.isprintable() else " " for c in raw).split())[:200]
