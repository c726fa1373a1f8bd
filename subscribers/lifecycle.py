"""A subscriber's life as the operator sees it: added, unsubscribed, shown, exported,
forgotten (erased, suppressed). Addresses are normalized here; the records are in
`digest.db.subscribers`."""

from __future__ import annotations

import csv
import re
import unicodedata
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from digest.db import subscribers as repo
from digest.db.engine import Database
from digest.db.subscribers import StoredSubscriber, SubscriberRecord
from digest.errors import SubscriberError
from digest.files import open_private
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


def forget(db: Database, email: str, now: datetime) -> None:
    """Erase the person's data; keep only a keyed hash so no import can add them back (under
    the suppression key kept in the database, which no rotation of the signing keys
    touches: the erasure cannot be undone, and the refusal outlives any key)."""
    repo.forget(db, normalize_address(email), now)


# What makes a spreadsheet read a cell as a formula when it starts it (OWASP's CSV injection
# advice), checked after folding full-width and small forms (＝, ＋, －, ＠, ﹦, …) to ASCII,
# which some spreadsheets do; and the minus sign, which some read as "-".
FORMULA_STARTS = frozenset("=+-@\t\r\n\u2212")
# Where a spreadsheet that splits on another separator than ours would cut a cell, each
# piece then read on its own: "x;=1+1;y" holds a formula for one that splits on ";".
SEPARATORS = re.compile(r"([,;|\t\r\n\uff0c\uff1b\uff5c\ufe50\ufe54])")


def _starts_formula(piece: str) -> bool:
    return unicodedata.normalize("NFKC", piece).lstrip(" \"'")[:1] in FORMULA_STARTS


def _cell(value: object) -> str:
    """A CSV cell no spreadsheet will run as a formula, however it splits it: every piece
    that could start one (the whole cell is the first) gets a leading `'`, which makes a
    spreadsheet take it as text."""
    text = "" if value is None else str(value)
    pieces = SEPARATORS.split(text)  # separators at the odd places
    cell = "".join(
        "'" + piece if n % 2 == 0 and piece and _starts_formula(piece) else piece
        for n, piece in enumerate(pieces)
    )
    if cell[:1] in ("\t", "\r", "\n"):
        cell = "'" + cell
    return cell


def export_csv(db: Database, path: Path, status: SubscriberStatus | None = None) -> int:
    """Write subscribers to `path`, every field quoted; returns how many."""
    count = 0
    # Addresses and names: readable by the owner only (0600), from the first byte.
    with open_private(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, quoting=csv.QUOTE_ALL)
        writer.writerow(EXPORT_FIELDS)
        for person in repo.each_subscriber(db, status):
            writer.writerow([_cell(getattr(person, f)) for f in EXPORT_FIELDS])
            count += 1
    return count
