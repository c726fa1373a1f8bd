"""The queue's storage: items stored once each (dedupe, update), expired, listed, rejected and
restored; rows read back as the values of digest.model."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, delete, func, or_, select, update

from digest.db.engine import Database
from digest.db.schema import Issue, IssueItem, Item
from digest.errors import ItemError
from digest.model import (
    Entry,
    IssueStatus,
    ItemKind,
    ItemState,
    QueuedItem,
    StoredItem,
)
from digest.queue import OPEN_STATES, content_hash, dedupe_key


def _story(item: Item) -> dict[str, Any]:
    """The fields an item has in every view of it."""
    return {
        "id": item.id,
        "kind": ItemKind(item.kind),
        "title": item.title,
        "link": item.link,
        "summary": item.summary,
        "published_at": item.published_at,
        "event_start": item.event_start,
        "event_end": item.event_end,
        "location": item.location,
        "deadline": item.deadline,
    }


def to_queued(item: Item) -> QueuedItem:
    return QueuedItem(**_story(item))


def to_stored_item(item: Item) -> StoredItem:
    return StoredItem(
        **_story(item),
        state=ItemState(item.state),
        guid=item.guid,
        needs_review=item.needs_review,
        source_id=item.source_id,
    )


def store_entries(
    db: Database, source_id: int | None, entries: Sequence[Entry], now: datetime
) -> tuple[int, int]:
    """Insert new entries and update changed ones that are still open, in one transaction;
    returns (new, updated)."""
    by_key: dict[str, Entry] = {}
    for entry in entries:
        # A feed that repeats a guid: the first occurrence wins.
        by_key.setdefault(dedupe_key(source_id, entry), entry)
    if not by_key:
        return 0, 0
    new = updated = 0
    with db.session() as session:
        existing = {
            item.dedupe_key: item
            for item in session.scalars(select(Item).where(Item.dedupe_key.in_(list(by_key))))
        }
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
            elif item.content_hash != digest and item.state in OPEN_STATES:
                for name, value in _fields(entry).items():
                    setattr(item, name, value)
                item.content_hash = digest
                item.updated_at = now
                if entry.published_at:
                    item.published_at = entry.published_at
                updated += 1
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


def expire_items(db: Database, now: datetime) -> int:
    """Queued events that have started and calls whose deadline passed become `expired`."""
    with db.session() as session:
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


def list_items(
    db: Database, kind: ItemKind | None = None, state: ItemState | None = None
) -> list[StoredItem]:
    """Items of `kind` in `state` (default: all), newest first."""
    query = select(Item).order_by(Item.published_at.desc(), Item.id.desc())
    if kind:
        query = query.where(Item.kind == kind)
    if state:
        query = query.where(Item.state == state)
    with db.session() as session:
        return [to_stored_item(row) for row in session.scalars(query)]


def get_item(db: Database, item_id: int) -> StoredItem:
    """The item with `item_id`; ItemError when there is none."""
    with db.session() as session:
        row = session.get(Item, item_id)
        if row is None:
            raise ItemError(f"there is no item {item_id}")
        return to_stored_item(row)


@dataclass(frozen=True, slots=True, kw_only=True)
class Rejected:
    """An item rejected, and the number of the draft it was taken out of, if any."""

    item: StoredItem
    draft_number: int | None = None


def reject_item(db: Database, item_id: int, now: datetime) -> Rejected:
    """A queued item (or one in the draft) becomes `rejected` and leaves the draft."""
    with db.session() as session:
        item = session.get(Item, item_id)
        if item is None:
            raise ItemError(f"there is no item {item_id}")
        if item.state not in OPEN_STATES:
            raise ItemError(f"item {item_id} is {item.state} and cannot be rejected")
        draft = session.scalars(
            select(Issue)
            .join(IssueItem)
            .where(IssueItem.item_id == item_id, Issue.status == IssueStatus.DRAFT)
        ).first()
        item.state, item.updated_at = ItemState.REJECTED, now
        if draft is not None:
            session.execute(
                delete(IssueItem).where(
                    IssueItem.item_id == item_id, IssueItem.issue_id == draft.id
                )
            )
        return Rejected(
            item=to_stored_item(item), draft_number=draft.number if draft is not None else None
        )


def restore_item(db: Database, item_id: int, now: datetime) -> StoredItem:
    """A rejected item goes back to the queue."""
    with db.session() as session:
        item = session.get(Item, item_id)
        if item is None:
            raise ItemError(f"there is no item {item_id}")
        if item.state != ItemState.REJECTED:
            raise ItemError(f"item {item_id} is {item.state}, not rejected")
        item.state, item.updated_at = ItemState.QUEUED, now
        return to_stored_item(item)


def flagged_items(db: Database) -> list[StoredItem]:
    """Queued items flagged for the editor's review (an event without a date, a call whose
    deadline was not read): no issue can list them until they are fixed."""
    query = (
        select(Item)
        .where(Item.state == ItemState.QUEUED, Item.needs_review.is_not(None))
        .order_by(Item.kind, Item.id)
    )
    with db.session() as session:
        return [to_stored_item(row) for row in session.scalars(query)]


def queue_counts(db: Database) -> dict[str, int]:
    """How many items of each kind there are: {"news": 3, ...}."""
    with db.session() as session:
        return {
            str(kind): int(n)
            for kind, n in session.execute(select(Item.kind, func.count()).group_by(Item.kind))
        }
