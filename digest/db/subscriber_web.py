"""The subscriber repository's writes for the public pages: a signup, and a locked
read-decide-write of one record whose decision (confirm, preferences, resubscribe) is a pure
function in `subscribers.web_actions`."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from digest.db.engine import Database
from digest.db.schema import Subscriber
from digest.db.subscribers import StoredSubscriber, holds, suppressed, to_stored
from digest.errors import StorageError
from subscribers.status import Event, transition

# What a decision may change; the id, the address, the link key and the creation time never
# change.
WRITABLE = (
    "name",
    "language",
    "status",
    "origin",
    "wants_news",
    "wants_events",
    "wants_calls",
    "paused",
    "consent_at",
    "consent_source",
    "confirmed_at",
    "confirm_source",
    "unsubscribed_at",
    "updated_at",
)


@dataclass(frozen=True, slots=True, kw_only=True)
class SignedUp:
    """The record a signup found or made; `new` when this signup made it."""

    person: StoredSubscriber
    new: bool


def sign_up(
    db: Database,
    keys: Sequence[str],
    email: str,
    now: datetime,
    *,
    name: str,
    sections: Sequence[str],
    source: str,
) -> SignedUp | None:
    """A pending record for the normalized `email` (Event.SIGNUP), or the existing one left
    as it is; None when the address was forgotten (nothing is stored)."""
    try:
        return _sign_up(db, keys, email, now, name, sections, source)
    except StorageError as e:
        # Two posts of the same new address at once (a double click): the second insert
        # breaks the unique address; by now the record is there and the answer is the same.
        if not isinstance(e.__cause__, IntegrityError):
            raise
        return _sign_up(db, keys, email, now, name, sections, source)


def _sign_up(
    db: Database,
    keys: Sequence[str],
    email: str,
    now: datetime,
    name: str,
    sections: Sequence[str],
    source: str,
) -> SignedUp | None:
    with db.session() as session:
        if suppressed(session, keys, [email]):
            return None
        row = session.scalars(select(Subscriber).where(Subscriber.email == email)).first()
        if row is not None:
            # The form changes no existing record (transition answers the same status).
            return SignedUp(person=to_stored(row), new=False)
        chosen = set(sections)
        row = Subscriber(
            email=email,
            name=name,
            status=transition(None, Event.SIGNUP).status,
            origin="web",
            wants_news="news" in chosen,
            wants_events="events" in chosen,
            wants_calls="calls" in chosen,
            consent_at=now,
            consent_source=source[:300],
            created_at=now,
            updated_at=now,
        )
        session.add(row)
        session.flush()
        return SignedUp(person=to_stored(row), new=True)


def update_locked(
    db: Database,
    subscriber_id: int,
    link_key: str,
    decide: Callable[[StoredSubscriber], StoredSubscriber],
) -> tuple[StoredSubscriber, StoredSubscriber] | None:
    """Lock the record a link names (by id and link key), ask `decide` what it becomes,
    store the fields that differ; returns (before, after), or None when there is no such
    subscriber, or the record is not the one the link was made for.

    `decide` is pure and must take any new status from `subscribers.status.transition`.
    """
    with db.session() as session:
        row = session.get(Subscriber, subscriber_id, with_for_update=True)
        if row is None or not holds(row, link_key):
            return None
        before = to_stored(row)
        changed = decide(before)
        fixed = ("id", "email", "link_key", "created_at")
        if any(getattr(changed, f) != getattr(before, f) for f in fixed):
            raise ValueError(
                "a decision may not change a subscriber's id, address, link key or creation"
            )
        for field in WRITABLE:
            value = getattr(changed, field)
            if value != getattr(before, field):
                setattr(row, field, value)
        return before, changed
