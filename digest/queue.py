"""The item queue's rules: what makes two entries one item (dedupe), and which items are still
open to updates. Storing them is digest.db.items."""

from __future__ import annotations

import hashlib
from urllib.parse import urlsplit, urlunsplit

from digest.links import strip_tracking
from digest.model import Entry, ItemState

# Items an editor may still see change: a feed's update reaches them, a reject takes them out.
OPEN_STATES = (ItemState.QUEUED, ItemState.IN_ISSUE)


def normalize_link(link: str) -> str:
    """Scheme and host lower-cased, fragment and tracking parameters dropped."""
    parts = urlsplit(strip_tracking(link.strip()))
    return urlunsplit(
        (parts.scheme.lower(), parts.netloc.lower(), parts.path or "/", parts.query, "")
    )


def content_hash(entry: Entry) -> str:
    fields = (
        entry.kind,
        entry.title,
        entry.link,
        entry.summary,
        entry.event_start,
        entry.event_end,
        entry.location,
        entry.deadline,
    )
    return hashlib.sha256(repr(fields).encode()).hexdigest()


def dedupe_key(source_id: int | None, entry: Entry) -> str:
    """One item per story: the feed's guid, else the normalized link, else the content."""
    if entry.guid:
        return f"guid:{source_id or 0}:{entry.guid}"[:2100]
    if entry.link:
        return f"link:{normalize_link(entry.link)}"[:2100]
    return f"hash:{content_hash(entry)}"
