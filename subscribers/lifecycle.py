"""A subscriber's life: added, unsubscribed, shown, exported, forgotten (erased, suppressed)."""

from __future__ import annotations

import csv
import hashlib
import hmac
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from digest.db.engine import Database
from digest.db.schema import BounceEvent, Delivery, Subscriber, Suppression
from digest.errors import SubscriberError
from subscribers.addresses import clean_name, normalize_address

# Statuses that record a person's own choice or a bad address: an import never undoes them.
FINAL = ("unsubscribed", "bounced", "complained", "suppressed")
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


def address_hash(key: str, email: str) -> str:
    return hmac.new(key.encode(), email.encode(), hashlib.sha256).hexdigest()


def is_suppressed(session: Session, keys: Sequence[str], email: str) -> bool:
    """True when `email` was forgotten; every signing key is tried, so rotation keeps it."""
    hashes = [address_hash(key, email) for key in keys]
    found = session.scalars(select(Suppression.id).where(Suppression.address_hash.in_(hashes)))
    return found.first() is not None


def find(session: Session, email: str) -> Subscriber:
    address = normalize_address(email)
    person = session.scalars(select(Subscriber).where(Subscriber.email == address)).first()
    if person is None:
        raise SubscriberError(f"{address} is not a subscriber")
    return person


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
) -> Subscriber:
    """Add an active subscriber. An address that left, bounced or complained is re-activated
    only with `force`; a forgotten address never."""
    address = normalize_address(email)
    with db.session() as session:
        if is_suppressed(session, keys, address):
            raise SubscriberError(f"{address} asked to be forgotten and cannot be added again")
        person = session.scalars(select(Subscriber).where(Subscriber.email == address)).first()
        if person is not None:
            if person.status in FINAL and not force:
                raise SubscriberError(
                    f"{address} is {person.status}; use --force to "
                    "subscribe them again (only with their new consent)"
                )
            if person.status == "active":
                raise SubscriberError(f"{address} is already subscribed")
        else:
            person = Subscriber(email=address, created_at=now)
            session.add(person)
        person.name, person.language = clean_name(name), language
        person.status, person.origin, person.updated_at = "active", origin, now
        person.consent_at, person.consent_source = now, origin
        person.unsubscribed_at = None
        session.flush()
        return person


def unsubscribe(db: Database, email: str, now: datetime, *, source: str = "cli") -> Subscriber:
    with db.session() as session:
        person = find(session, email)
        if person.status != "unsubscribed":
            person.status, person.unsubscribed_at, person.updated_at = "unsubscribed", now, now
            person.origin = person.origin or source
        return person


def show(db: Database, email: str) -> dict[str, object]:
    with db.session() as session:
        person = find(session, email)
        sent = session.scalars(
            select(Delivery.status).where(Delivery.subscriber_id == person.id)
        ).all()
        bounces = session.scalars(
            select(BounceEvent).where(BounceEvent.subscriber_id == person.id)
        ).all()
        record: dict[str, object] = {f: getattr(person, f) for f in EXPORT_FIELDS}
        record["origin"] = person.origin
        record["deliveries"] = {s: sent.count(s) for s in sorted(set(sent))}
        record["bounces"] = [
            f"{b.received_at:%Y-%m-%d} {b.kind} {b.status_code or ''} {b.diagnostic}".strip()
            for b in bounces
        ]
        return record


def forget(db: Database, keys: Sequence[str], email: str, now: datetime) -> None:
    """Erase the person's data; keep only a keyed hash so no import can add them back."""
    address = normalize_address(email)
    with db.session() as session:
        person = session.scalars(select(Subscriber).where(Subscriber.email == address)).first()
        digest = address_hash(keys[-1], address)
        if (
            session.scalars(select(Suppression).where(Suppression.address_hash == digest)).first()
            is None
        ):
            session.add(Suppression(address_hash=digest, reason="forgotten", created_at=now))
        if person is None:
            return
        session.execute(
            update(BounceEvent)
            .where(BounceEvent.subscriber_id == person.id)
            .values(subscriber_id=None, diagnostic="")
        )
        ids = select(Delivery.id).where(Delivery.subscriber_id == person.id)
        session.execute(
            update(BounceEvent).where(BounceEvent.delivery_id.in_(ids)).values(delivery_id=None)
        )
        session.execute(delete(Delivery).where(Delivery.subscriber_id == person.id))
        session.delete(person)


def _cell(value: object) -> str:
    """A CSV cell a spreadsheet will not run as a formula (OWASP's CSV injection advice)."""
    text = "" if value is None else str(value)
    if text and text[0] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + text
    return text


def export_csv(db: Database, path: Path, status: str | None = None) -> int:
    """Write subscribers to `path`; returns how many."""
    count = 0
    with db.session() as session, path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(EXPORT_FIELDS)
        query = select(Subscriber).order_by(Subscriber.id).execution_options(yield_per=1000)
        if status:
            query = query.where(Subscriber.status == status)
        for person in session.scalars(query):
            writer.writerow([_cell(getattr(person, f)) for f in EXPORT_FIELDS])
            count += 1
    return count


def purge_unconfirmed(db: Database, older_than: datetime) -> int:
    """Delete signups never confirmed since `older_than` (their link has expired anyway):
    an unconfirmed address is not a subscriber and its data is not kept."""
    with db.session() as session:
        stale = select(Subscriber.id).where(
            Subscriber.status == "pending",
            Subscriber.created_at < older_than,
            Subscriber.confirmed_at.is_(None),
        )
        ids = list(session.scalars(stale))
        if ids:
            session.execute(delete(Delivery).where(Delivery.subscriber_id.in_(ids)))
            session.execute(delete(Subscriber).where(Subscriber.id.in_(ids)))
        return len(ids)
