"""The delivery a bounce belongs to: our signed VERP envelope sender, read back from the
headers the receiving side writes the envelope recipient into."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from email.message import Message

from digest.bounces.addresses import all_in
from digest.bounces.message import headers
from digest.send.verp import delivery_of

# Where MTAs and mailbox hosts record the envelope recipient of the bounce, which is the
# envelope sender (the VERP address) of the message that bounced.
ENVELOPE_HEADERS = (
    "delivered-to",
    "x-original-to",
    "envelope-to",
    "x-envelope-to",
    "x-delivered-to",
    "x-rcpt-to",
    "x-actual-recipient",
    "original-recipient",
    "return-path",
    "to",
)


def delivery_id(messages: Iterable[Message], keys: Sequence[str]) -> int | None:
    """The first delivery id whose token verifies with `keys`; a forged or altered token is
    ignored, never trusted."""
    if not keys:
        return None
    key_list = list(keys)
    for message in messages:
        for name in ENVELOPE_HEADERS:
            for value in headers(message, name)[:8]:
                for address in all_in(value)[:8]:
                    if "+" not in address:
                        continue
                    found = delivery_of(address, key_list)
                    if found is not None:
                        return found
    return None
