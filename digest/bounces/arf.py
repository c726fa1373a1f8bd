"""RFC 5965 feedback reports (ARF): a reader's complaint, and whom the complained-about
message was sent to."""

from __future__ import annotations

import re
from dataclasses import dataclass

from digest.bounces.addresses import all_in, header_addresses, is_system
from digest.bounces.message import Parsed, header, headers

_FIELD = re.compile(r"^([A-Za-z][A-Za-z0-9-]*)\s*:\s*(.*)$", re.MULTILINE)
_RECIPIENT_FIELDS = ("original-rcpt-to", "removal-recipient")


@dataclass(slots=True)
class Complaint:
    feedback_type: str
    recipients: list[str]


def is_feedback(parsed: Parsed) -> bool:
    """An ARF report, Microsoft's older JMRP form of one (the reported message attached, its
    recipient in X-HmXmrOriginalRecipient), or a mail client's one-click unsubscribe."""
    if parsed.feedback or parsed.report_type == "feedback-report":
        return True
    if any(header(m, "x-hmxmroriginalrecipient") for m in parsed.original):
        return True
    return is_unsubscribe(parsed)


def is_unsubscribe(parsed: Parsed) -> bool:
    """Apple Mail's unsubscribe message: sent by the reader to the List-Unsubscribe mailto."""
    return header(parsed.headers, "x-apple-unsubscribe").strip().lower() == "true"


def complaint(parsed: Parsed) -> Complaint:
    """The feedback type and the complained-about recipients of an ARF report."""
    fields: dict[str, list[str]] = {}
    for text in parsed.feedback:
        for match in _FIELD.finditer(text):
            fields.setdefault(match.group(1).lower(), []).append(match.group(2).strip())
    feedback_type = (fields.get("feedback-type") or ["abuse"])[0].lower().split()[0:1]
    recipients: list[str] = []
    for name in _RECIPIENT_FIELDS:
        for value in fields.get(name, []):
            recipients.extend(a for a in all_in(value) if a not in recipients)
    if not recipients:
        for original in parsed.original:
            recipients.extend(all_in(header(original, "x-hmxmroriginalrecipient")))
    if not recipients:
        recipients = _original_recipients(parsed)
    if is_unsubscribe(parsed):
        recipients = header_addresses(headers(parsed.headers, "from"))
        feedback_type = ["opt-out"]
    return Complaint(feedback_type=(feedback_type or ["abuse"])[0], recipients=recipients)


def _original_recipients(parsed: Parsed) -> list[str]:
    """The To of the reported message: attached whole, or as headers only."""
    found: list[str] = []
    for original in parsed.original:
        found.extend(header_addresses(headers(original, "to")))
        if found:
            return _unique(found)
    for text in parsed.original_text:
        for match in re.finditer(r"^to:(.*(?:\n[ \t].*)*)", text, re.I | re.M):
            found.extend(all_in(match.group(1)))
        if found:
            return _unique(found)
    return []


def _unique(addresses: list[str]) -> list[str]:
    return [a for i, a in enumerate(addresses) if a not in addresses[:i] and not is_system(a)]
