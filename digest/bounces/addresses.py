"""Finding mail addresses in the free text of bounces, and telling ours (the sender's, the
reporting system's) from the recipient's."""

from __future__ import annotations

import re
from email.utils import getaddresses

# Deliberately plain: a local part of the usual characters, a domain with a dot or a
# bracketed literal. Quoted local parts are rare in bounces and not worth the false hits.
ADDRESS = re.compile(
    r"(?<![A-Za-z0-9.!#$%&'*+/=?^_`{|}~-])"
    r"([A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
    r"@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}[A-Za-z0-9])?\.)+[A-Za-z][A-Za-z0-9-]{0,62}"
    r"|[A-Za-z0-9._%+-]+@\[[0-9.]+\])"
)
# Addresses that answer for a system, never a subscriber that bounced.
_SYSTEM_LOCAL = re.compile(
    r"^(mailer-daemon|postmaster|post_master|mail-daemon|maildaemon|mailerdaemon|mailer_daemon|"
    r"double-bounce|bounce|bounces|nobody|root|abuse|noreply|no-reply|daemon|mailer|"
    r"majordomo|listserv|mail\.delivery\.system|microsoftexchange[0-9a-f]*)$"
)


def address_in(text: str) -> str:
    """The first address in `text`, lower-cased, or ""."""
    match = ADDRESS.search(text)
    return clean(match.group(1)) if match else ""


def all_in(text: str) -> list[str]:
    return [clean(m.group(1)) for m in ADDRESS.finditer(text)]


def clean(address: str) -> str:
    address = address.strip().strip("<>()[]\"'.,;:").lower()
    if address.startswith("mailto:"):
        address = address[7:]
    return address


def header_addresses(values: list[str]) -> list[str]:
    """The addresses of address headers (To, Delivered-To, ...), lower-cased."""
    found: list[str] = []
    try:
        pairs = getaddresses(values)
    except Exception:
        pairs = []
    for _, addr in pairs:
        addr = clean(addr)
        if "@" in addr and ADDRESS.fullmatch(addr):
            found.append(addr)
    if not found:
        for value in values:
            found.extend(all_in(value))
    return found


def is_system(address: str) -> bool:
    """An address of a mail system (MAILER-DAEMON, postmaster...), not of a person."""
    local = address.partition("@")[0].lower()
    return bool(_SYSTEM_LOCAL.match(local))
