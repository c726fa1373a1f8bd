"""The subscriber repository: every query and write on subscriber records, returning values.

Each status it writes is the answer of `subscribers.status.transition`; the web pages' own
writes are in `digest.db.subscriber_web`, the CSV import in `digest.db.subscriber_import`.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, fields
from datetime import datetime

from sqlalchemy import ColumnElement, delete, func, select, update
from sqlalchemy.orm import Session

from digest.db import keys as app_keys
from digest.db.engine import Database, checkpoint
from digest.db.schema import (
    BounceEvent,
    BounceMessage,
    Delivery,
    OutboxMessage,
    StatusChange,
    Subscriber,
    Suppression,
)
from digest.errors import SubscriberError
from digest.model import SubscriberStatus
from subscribers.addresses import address_hash
from subscribers.status import Event, changed_from, transition


@dataclass(frozen=True, slots=True, kw_only=True)
class StoredSubscriber:
    """A subscriber record as stored."""

    id: int
    email: str
    link_key: str  # what the links mailed to them are bound to (subscribers.tokens)
    name: str
    language: str
    status: SubscriberStatus
    origin: str
    wants_news: bool
    wants_events: bool
    wants_calls: bool
    paused: bool
    consent_at: datetime | None
    consent_source: str
    confirmed_at: datetime | None
    confirm_source: str
    unsubscribed_at: datetime | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class SubscriberRecord:
    """Everything stored about one person, as `subscribers show` prints it (in this order)."""

    email: str
    name: str
    status: SubscriberStatus
    language: str
    wants_news: bool
    wants_events: bool
    wants_calls: bool
    paused: bool
    consent_at: datetime | None
    consent_source: str
    confirmed_at: datetime | None
    created_at: datetime
    unsubscribed_at: datetime | None
    origin: str
    deliveries: dict[str, int]  # delivery status -> how many
    bounces: list[str]  # one line per bounce: date, kind, code, diagnostic


def to_stored(row: Subscriber) -> StoredSubscriber:
    return StoredSubscriber(
        id=row.id,
        email=row.email,
        link_key=row.link_key,
        name=row.name,
        language=row.language,
        status=SubscriberStatus(row.status),
        origin=row.origin,
        wants_news=row.wants_news,
        wants_events=row.wants_events,
        wants_calls=row.wants_calls,
        paused=row.paused,
        consent_at=row.consent_at,
        consent_source=row.consent_source,
        confirmed_at=row.confirmed_at,
        confirm_source=row.confirm_source,
        unsubscribed_at=row.unsubscribed_at,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


# Reading --------------------------------------------------------------------------------


def active_count(session: Session) -> int:
    """Subscribers an issue would go to: active and not pausing."""
    return int(
        session.scalar(
            select(func.count())
            .select_from(Subscriber)
            .where(Subscriber.status == SubscriberStatus.ACTIVE, Subscriber.paused.is_(False))
        )
        or 0
    )


def status_counts(session: Session) -> dict[str, int]:
    """How many subscribers have each status (statuses nobody has are left out)."""
    rows = session.execute(select(Subscriber.status, func.count()).group_by(Subscriber.status))
    return {SubscriberStatus(status): int(n) for status, n in rows}


def get(
    db: Database, subscriber_id: int, *, link_key: str | None = None
) -> StoredSubscriber | None:
    """The record with `subscriber_id`; with `link_key` (a link's target), only while the
    record has that link key."""
    with db.session() as session:
        row = session.get(Subscriber, subscriber_id)
        return None if row is None or not holds(row, link_key) else to_stored(row)


def holds(row: Subscriber, link_key: str | None) -> bool:
    """Whether a link bound to `link_key` (None: no link, the operator) reaches `row`."""
    return link_key is None or hmac.compare_digest(row.link_key.encode(), link_key.encode())


def list_subscribers(
    db: Database, status: SubscriberStatus | None = None, limit: int | None = None
) -> list[StoredSubscriber]:
    query = select(Subscriber).order_by(Subscriber.id)
    if status:
        query = query.where(Subscriber.status == status)
    if limit:
        query = query.limit(limit)
    with db.session() as session:
        return [to_stored(row) for row in session.scalars(query)]


def each_subscriber(
    db: Database, status: SubscriberStatus | None = None
) -> Iterator[StoredSubscriber]:
    """Every subscriber (of `status`) in id order, streamed: memory stays flat."""
    query = select(Subscriber).order_by(Subscriber.id).execution_options(yield_per=1000)
    if status:
        query = query.where(Subscriber.status == status)
    with db.session() as session:
        for row in session.scalars(query):
            yield to_stored(row)


def record(db: Database, email: str) -> SubscriberRecord | None:
    """Everything stored about the normalized `email`; None when nobody has it."""
    with db.session() as session:
        row = _by_email(session, email)
        if row is None:
            return None
        sent = session.scalars(
            select(Delivery.status).where(Delivery.subscriber_id == row.id)
        ).all()
        bounces = session.scalars(
            select(BounceEvent).where(BounceEvent.subscriber_id == row.id)
        ).all()
        stored = to_stored(row)
        shared = {f.name: getattr(stored, f.name) for f in fields(SubscriberRecord)[:-2]}
        return SubscriberRecord(
            **shared,
            deliveries={s: sent.count(s) for s in sorted(set(sent))},
            bounces=[
                f"{b.received_at:%Y-%m-%d} {b.kind} {b.status_code or ''} {b.diagnostic}".strip()
                for b in bounces
            ],
        )


def _by_email(session: Session, email: str, *, lock: bool = False) -> Subscriber | None:
    query = select(Subscriber).where(Subscriber.email == email)
    return session.scalars(query.with_for_update() if lock else query).first()


def suppressed(session: Session, keys: Sequence[str], emails: Iterable[str]) -> set[str]:
    """Which of the normalized `emails` were forgotten.

    An address is kept as its hash under the suppression key (`app_keys`), which no rotation
    of the signing keys touches. Before that key existed, `forget` hashed with the newest
    signing key: such older entries are still found under every signing key in `keys`, and
    one found that way is hashed again under the suppression key in the caller's
    transaction (when it commits), so from then on it no longer depends on the signing keys.
    """
    wanted = set(emails)
    key = app_keys.read(session, app_keys.SUPPRESSION)
    current = {address_hash(key, email): email for email in wanted} if key else {}
    legacy = {address_hash(k, email): email for email in wanted for k in keys}
    if not current and not legacy:
        return set()
    rows = session.execute(
        select(Suppression.address_hash, Suppression.reason, Suppression.created_at).where(
            Suppression.address_hash.in_([*current, *legacy])
        )
    ).all()
    gone = {current[row.address_hash] for row in rows if row.address_hash in current}
    for row in rows:
        email = legacy.get(row.address_hash)
        if email is None or email in gone:
            continue
        gone.add(email)
        if key:
            rehashed = address_hash(key, email)
            session.add(
                Suppression(address_hash=rehashed, reason=row.reason, created_at=row.created_at)
            )
    return gone


# Writing ------------------------------------------------------------------------------


def add(
    db: Database,
    keys: Sequence[str],
    email: str,
    now: datetime,
    *,
    name: str,
    language: str,
    origin: str,
    force: bool,
) -> StoredSubscriber:
    """The operator adds the normalized `email` (Event.ADD); SubscriberError when refused."""
    with db.session() as session:
        if suppressed(session, keys, [email]):
            raise SubscriberError(f"{email} asked to be forgotten and cannot be added again")
        row = _by_email(session, email, lock=True)
        current = None if row is None else SubscriberStatus(row.status)
        step = transition(current, Event.ADD, force=force)
        if step.refused:
            raise SubscriberError(f"{email} {step.refused}")
        if row is None:
            row = Subscriber(email=email, created_at=now)
            session.add(row)
        row.name, row.language = name, language
        row.status, row.origin, row.updated_at = step.status, origin, now
        row.consent_at, row.consent_source = now, origin
        row.unsubscribed_at = None
        session.flush()
        return to_stored(row)


def unsubscribe(
    db: Database,
    key: int | str,
    now: datetime,
    *,
    link_key: str | None = None,
    source: str = "",
    reason: str = "",
) -> StoredSubscriber | None:
    """Stop all mail to the subscriber with id `key` (or normalized address `key`); None when
    there is none, or (for a link, bound to `link_key`) when the record is not the one the
    link was made for. The row is locked and Event.UNSUBSCRIBE applied: a bounced, complained or
    suppressed status says more and is kept, and a second call changes nothing. `source`
    becomes the record's origin if it had none; a change is recorded with `reason` (default:
    `source`)."""
    with db.session() as session:
        if isinstance(key, str):
            row = _by_email(session, key, lock=True)
        else:
            row = session.get(Subscriber, key, with_for_update=True)
        if row is None or not holds(row, link_key):
            return None
        step = transition(SubscriberStatus(row.status), Event.UNSUBSCRIBE)
        if step.changed:
            record_change(
                session,
                row.id,
                now,
                before=SubscriberStatus(row.status),
                after=step.status,
                event=Event.UNSUBSCRIBE,
                reason=reason or source,
            )
            row.status, row.unsubscribed_at, row.updated_at = step.status, now, now
            row.origin = row.origin or source
        return to_stored(row)


def record_change(
    session: Session,
    subscriber_id: int,
    at: datetime,
    *,
    before: SubscriberStatus | None,
    after: SubscriberStatus,
    event: Event,
    reason: str = "",
    bounce_event_id: int | None = None,
) -> None:
    """Record why a subscriber's status changed and on what evidence, in the caller's
    transaction (the change itself is `transition`'s answer, written by the caller)."""
    session.add(
        StatusChange(
            subscriber_id=subscriber_id,
            at=at,
            before=before or "",
            after=after,
            event=event,
            reason=reason,
            bounce_event_id=bounce_event_id,
        )
    )


def mark_bounced(session: Session, subscriber_ids: Sequence[int], at: datetime) -> int:
    """Record hard bounces for `subscriber_ids` inside the caller's transaction; returns how
    many records changed. Only statuses Event.HARD_BOUNCE changes are touched: someone who
    left, complained or was suppressed keeps that status."""
    if not subscriber_ids:
        return 0
    return _apply(session, Event.HARD_BOUNCE, Subscriber.id.in_(list(subscriber_ids)), at)


def _apply(
    session: Session, event: Event, where: ColumnElement[bool], at: datetime, *, force: bool = False
) -> int:
    """Apply `event` to every row matching `where` in a few bulk updates, one per status the
    event leads to, each writing the status `transition` answers for the rows' statuses."""
    by_after: dict[SubscriberStatus, list[SubscriberStatus]] = {}
    for status in sorted(changed_from(event, force=force)):
        by_after.setdefault(transition(status, event, force=force).status, []).append(status)
    changed = 0
    for status, befores in by_after.items():
        result = session.execute(
            update(Subscriber)
            .where(where, Subscriber.status.in_(befores))
            .values(status=status, updated_at=at)
        )
        changed += int(getattr(result, "rowcount", 0) or 0)
    return changed


def forget(db: Database, email: str, now: datetime) -> None:
    """Erase the normalized `email`'s record, deliveries, bounce details, the raw bounce
    messages tied to them, their status history and the web pages' mail to them; keep only
    its hash under the suppression key on the suppression list.

    On SQLite, deleted rows are overwritten (`secure_delete`) and the write-ahead log is
    checkpointed and emptied afterwards, so the address is not left in either file.
    """
    key = app_keys.ensure(db, app_keys.SUPPRESSION, now)
    with db.session() as session:
        digest = address_hash(key, email)
        known = session.scalars(select(Suppression).where(Suppression.address_hash == digest))
        if known.first() is None:
            session.add(Suppression(address_hash=digest, reason="forgotten", created_at=now))
        session.execute(delete(OutboxMessage).where(OutboxMessage.to_address == email))
        row = _by_email(session, email)
        if row is not None:
            _erase(session, row)
    checkpoint(db.engine)


def _erase(session: Session, row: Subscriber) -> None:
    session.execute(
        update(BounceEvent)
        .where(BounceEvent.subscriber_id == row.id)
        .values(subscriber_id=None, diagnostic="")
    )
    ids = select(Delivery.id).where(Delivery.subscriber_id == row.id)
    session.execute(
        update(BounceEvent).where(BounceEvent.delivery_id.in_(ids)).values(delivery_id=None)
    )
    # The raw messages name the address and the status history is about the person.
    session.execute(
        delete(BounceMessage).where(
            (BounceMessage.subscriber_id == row.id) | BounceMessage.delivery_id.in_(ids)
        )
    )
    session.execute(delete(StatusChange).where(StatusChange.subscriber_id == row.id))
    session.execute(delete(Delivery).where(Delivery.subscriber_id == row.id))
    session.execute(delete(OutboxMessage).where(OutboxMessage.subscriber_id == row.id))
    session.delete(row)


def purge_unconfirmed(db: Database, older_than: datetime) -> int:
    """Delete signups never confirmed since `older_than` (their link has expired anyway):
    an unconfirmed address is not a subscriber and its data is not kept."""
    with db.session() as session:
        stale = select(Subscriber.id).where(
            Subscriber.status == SubscriberStatus.PENDING,
            Subscriber.created_at < older_than,
            Subscriber.confirmed_at.is_(None),
        )
        ids = list(session.scalars(stale))
        if ids:
            session.execute(delete(Delivery).where(Delivery.subscriber_id.in_(ids)))
            session.execute(delete(Subscriber).where(Subscriber.id.in_(ids)))
        return len(ids)
