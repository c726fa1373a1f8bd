"""RFC 3464 delivery status notifications: the per-recipient fields of a delivery-status part
(or of text that carries the same fields, as hand-made and older reports do)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from digest.bounces.addresses import ADDRESS, address_in

_FIELD = re.compile(r"^([A-Za-z][A-Za-z0-9-]{1,40})\s*:\s*(.*)$")
_RECIPIENT_FIELDS = ("final-recipient", "original-recipient", "x-actual-recipient")
_STATUS = re.compile(r"\b([245])\.(\d{1,3})\.(\d{1,3})\b")
_CODE = re.compile(r"(?<![\d.-])([245][0-5]\d)(?![\d.-])")


@dataclass(slots=True)
class Recipient:
    """One recipient's fields in a delivery-status report."""

    final: str = ""
    original: str = ""
    actual: str = ""
    action: str = ""
    status: str = ""
    diagnostic: str = ""

    @property
    def address(self) -> str:
        # Final-Recipient is what the reporting MTA tried; a local name without a domain
        # (a mailbox after aliasing) is less useful than the address that was sent to.
        for value in (self.final, self.original, self.actual):
            if ADDRESS.fullmatch(value):
                return value
        for value in (self.final, self.original, self.actual):
            if "@" in value and not value.startswith("@"):
                return value
        return self.final or self.original


def status_of(text: str) -> str | None:
    match = _STATUS.search(text)
    return ".".join(match.groups()) if match else None


def code_of(text: str) -> int | None:
    match = _CODE.search(text)
    return int(match.group(1)) if match else None


def recipients(text: str) -> list[Recipient]:
    """The per-recipient groups of delivery-status fields found in `text`."""
    found: list[Recipient] = []
    current: Recipient | None = None
    seen: set[str] = set()
    name = ""
    for line in _unfolded(text):
        match = _FIELD.match(line)
        if match is None:
            if not line.strip():
                seen = set()
            continue
        name = match.group(1).lower()
        value = match.group(2).strip()
        if name in _RECIPIENT_FIELDS:
            # A recipient field already given in this group starts the next recipient.
            if (
                current is None
                or name in seen
                or (name == "final-recipient" and (current.action or current.status))
            ):
                current = Recipient()
                found.append(current)
                seen = set()
            seen.add(name)
            addr = _typed_address(value)
            if name == "final-recipient":
                current.final = addr
            elif name == "original-recipient":
                current.original = addr
            else:
                current.actual = addr
        elif current is not None:
            if name == "action":
                current.action = value.lower().split()[0] if value.split() else ""
            elif name == "status":
                current.status = status_of(value) or current.status
            elif name == "diagnostic-code":
                current.diagnostic = _diagnostic(value)
    return found


def has_fields(text: str) -> bool:
    return bool(re.search(r"^\s*(Final|Original)-Recipient\s*:", text, re.I | re.M))


def _typed_address(value: str) -> str:
    """`rfc822; user@example.org` (or a bare address, or `<...>`) as an address."""
    _, semicolon, rest = value.partition(";")
    text = rest if semicolon else value
    return address_in(text) or text.strip().strip("<>").strip().lower()


def _diagnostic(value: str) -> str:
    _, semicolon, rest = value.partition(";")
    kind = value.split(";", 1)[0].strip().lower()
    if semicolon and kind in ("smtp", "x-unix", "x-postfix", "x-local", "x-notes", "x-exchange"):
        return rest.strip()
    if semicolon and " " not in value.split(";", 1)[0].strip():
        return rest.strip()
    return value.strip()


def _unfolded(text: str) -> list[str]:
    lines: list[str] = []
    for raw in text.splitlines():
        if raw[:1] in (" ", "\t") and lines and lines[-1].strip():
            lines[-1] = lines[-1].rstrip() + " " + raw.strip()
        else:
            lines.append(raw.rstrip())
    return lines
