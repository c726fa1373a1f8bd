"""What an SMTP reply means for a delivery: pure functions, no I/O."""

from __future__ import annotations

import re
from dataclasses import dataclass

from digest.model import DeliveryStatus

# RFC 3463 puts the enhanced code first in a reply line ("550 5.1.1 No such user"), with or
# without the basic code in front; searching anywhere would take part of an IP address
# ("blocked 192.5.1.10" holds "5.1.10") for one. Some servers write it as "#5.1.0".
_ENHANCED = re.compile(r"^[ \t]*(?:\d{3}[ -])?#?([245]\.\d{1,3}\.\d{1,3})(?![\w.])", re.MULTILINE)


@dataclass(frozen=True, slots=True)
class Verdict:
    status: DeliveryStatus
    # hard: the address is bad and must not be mailed again; None: not the address's fault
    bounce: str | None = None
    enhanced: str | None = None


def enhanced_code(reply: str) -> str | None:
    match = _ENHANCED.search(reply)
    return match.group(1) if match else None


def classify_reply(code: int | None, reply: str, *, at_rcpt: bool = False) -> Verdict:
    """2xx sent; 4xx or no reply (connection lost) deferred; 5xx failed.

    RFC 5321 (4.5.3.1.10) asks clients to treat 552 at RCPT as temporary, as if it were 452.
    A 5.1.x permanent failure (no such mailbox, bad address) is a hard bounce; other 5xx
    refusals (policy, content, reputation) are failures of this message, not of the address.
    """
    enhanced = enhanced_code(reply)
    if code is None:
        return Verdict(DeliveryStatus.DEFERRED, enhanced=enhanced)
    if 200 <= code < 300:
        return Verdict(DeliveryStatus.SENT, enhanced=enhanced)
    if 400 <= code < 500 or (code == 552 and at_rcpt):
        return Verdict(DeliveryStatus.DEFERRED, enhanced=enhanced)
    hard = code in (550, 551, 553) and (enhanced is None or enhanced.startswith("5.1."))
    return Verdict(DeliveryStatus.FAILED, bounce="hard" if hard else None, enhanced=enhanced)
