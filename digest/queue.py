"""The item queue: store collected entries once each (dedupe, update), expire stale ones."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import datetime
from urllib.parse import urlsplit, urlunsplit

from sqlalchemy import and_, or_, select, update
from sqlalchemy.orm import Session

from digest.db.schema import Item
from digest.links import strip_tracking
from digest.model import Entry, ItemKind, ItemState, QueuedItem

_OPEN_STATES = (ItemState.QUEUED, ItemState.IN_ISSUE)


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


def store_entries(
    session: Session, source_id: int | None, entries: Sequence[Entry], now: datetime
) -> tuple[int, int]:
    """Insert new entries and update changed ones that are still open; returns (new, updated)."""
    by_key: dict[str, Entry] = {}
    for entry in entries:
        # A feed that repeats a guid: the first occurrence wins.
        by_key.setdefault(dedupe_key(source_id, entry), entry)
    if not by_key:
        return 0, 0
    existing = {
        item.dedupe_key: item
        for item in session.scalars(select(Item).where(Item.dedupe_key.in_(list(by_key))))
    }
    new = updated = 0
    for key, entry in by_key.items():
        digest = content_hash(entry)
        item = existing.get(key)
        if item is None:
            session.add(
                Item(
                    source_id=source_id,
                    kind=entry.kind,
                    dedupe_key=key,
                    guid=entry.guid,
                    published_at=entry.published_at or now,
                    content_hash=digest,
                    state=ItemState.QUEUED,
                    first_seen_at=now,
                    updated_at=now,
                    **_fields(entry),
                )
            )
            new += 1
        elif item.content_hash != digest and item.state in _OPEN_STATES:
            for name, value in _fields(entry).items():
                setattr(item, name, value)
            item.content_hash = digest
            item.updated_at = now
            if entry.published_at:
                item.published_at = entry.published_at
            updated += 1
    session.flush()
    return new, updated


def _fields(entry: Entry) -> dict[str, object]:
    return {
        "title": entry.title,
        "link": entry.link,
        "summary": entry.summary,
        "event_start": entry.event_start,
        "event_end": entry.event_end,
        "location": entry.location,
        "deadline": entry.deadline,
        "needs_review": entry.needs_review,
    }


def expire_items(session: Session, now: datetime) -> int:
    """Queued events that have started and calls whose deadline passed become `expired`."""
    result = session.execute(
        update(Item)
        .where(Item.state == ItemState.QUEUED)
        .where(
            or_(
                and_(Item.kind == ItemKind.EVENT, Item.event_start < now),
                and_(Item.kind == ItemKind.CALL, Item.deadline < now),
            )
        )
        .values(state=ItemState.EXPIRED, updated_at=now)
    )
    return int(getattr(result, "rowcount", 0) or 0)


def to_queued(item: Item) -> QueuedItem:
    return QueuedItem(
        id=item.id,
        kind=ItemKind(item.kind),
        title=item.title,
        link=item.link,
        summary=item.summary,
        published_at=item.published_at,
        event_start=item.event_start,
        event_end=item.event_end,
        location=item.location,
        deadline=item.deadline,
    )
