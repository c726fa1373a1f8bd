"""A subscriber's life as the operator sees it: added, unsubscribed, shown, exported,
forgotten (erased, suppressed). Addresses are normalized here; the records are in
`digest.db.subscribers`."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from digest.db import subscribers as repo
from digest.db.engine import Database
from digest.db.subscribers import StoredSubscriber, SubscriberRecord
from digest.errors import SubscriberError
from digest.model import SubscriberStatus
from subscribers.addresses import clean_name, normalize_address

EXPORT_FIELDS = (
    "email",
    "name",
    "status",
    "language",
    "wants_news",
    "wants_events",
    "wants_calls",
    "paused",
    "consent_at",
    "consent_source",
    "confirmed_at",
    "created_at",
    "unsubscribed_at",
)


def add_subscriber(
    db: Database,
    keys: Sequence[str],
    email: str,
    now: datetime,
    *,
    name: str = "",
    language: str = "",
    origin: str = "cli",
    force: bool = False,
) -> StoredSubscriber:
    """Add an active subscriber. An address that left, bounced or complained is re-activated
    only with `force`; a forgotten address never."""
    return repo.add(
        db,
        keys,
        normalize_address(email),
        now,
        name=clean_name(name),
        language=language,
        origin=origin,
        force=force,
    )


def unsubscribe(
    db: Database, email: str, now: datetime, *, source: str = "cli"
) -> StoredSubscriber:
    """Stop all mail to `email`, as the unsubscribe link does: a bounced, complained or
    suppressed status is kept."""
    address = normalize_address(email)
    person = repo.unsubscribe(db, address, now, source=source)
    if person is None:
        raise SubscriberError(f"{address} is not a subscriber")
    return person


def show(db: Database, email: str) -> SubscriberRecord:
    address = normalize_address(email)
    found = repo.record(db, address)
    if found is None:
        raise SubscriberError(f"{address} is not a subscriber")
    return found


def forget(db: Database, keys: Sequence[str], email: str, now: datetime) -> None:
    """Erase the person's data; keep only a keyed hash so no import can add them back."""
    repo.forget(db, keys, normalize_address(email), now)


def _cell(value: object) -> str:
    """A CSV cell a spreadsheet will not run as a formula (OWASP's CSV injection advice)."""
    text = "" if value is None else str(value)
    if text and text[0] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + text
    return text


def export_csv(db: Database, path: Path, status: SubscriberStatus | None = None) -> int:
    """Write subscribers to `path`; returns how many."""
    count = 0
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(EXPORT_FIELDS)
        for person in repo.each_subscriber(db, status):
            writer.writerow([_cell(getattr(person, f)) for f in EXPORT_FIELDS])
            count += 1
    return count
