"""The subscriber repository's bulk import: CSV rows in batches, one transaction."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from digest.db.engine import Database
from digest.db.schema import Subscriber
from digest.db.subscribers import suppressed
from digest.model import SubscriberStatus
from subscribers.status import Event, changed_from, transition


@dataclass(frozen=True, slots=True, kw_only=True)
class NewSubscriber:
    """One row of an import, already normalized."""

    email: str
    name: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Imported:
    added: int = 0
    already: int = 0
    suppressed: int = 0
    reactivated: int = 0


def import_batches(
    db: Database,
    batches: Iterable[Sequence[NewSubscriber]],
    now: datetime,
    *,
    origin: str,
    source: str,
    keys: Sequence[str],
    reactivate: bool,
) -> Imported:
    """Add each batch's addresses in one transaction (Event.ADD).

    Existing records keep their status, unless `reactivate` (the operator's --force): then
    the statuses only a forced ADD changes (left, bounced, complained, suppressed) become
    active again. A forgotten address is never added (`keys`: the signing keys, under which
    entries from before the suppression key are still found).
    """
    totals = Imported()
    with db.session() as session:
        for batch in batches:
            counts = _import_batch(session, batch, now, origin, source, keys, reactivate)
            totals = Imported(
                added=totals.added + counts.added,
                already=totals.already + counts.already,
                suppressed=totals.suppressed + counts.suppressed,
                reactivated=totals.reactivated + counts.reactivated,
            )
    return totals


def _import_batch(
    session: Session,
    batch: Sequence[NewSubscriber],
    now: datetime,
    origin: str,
    source: str,
    keys: Sequence[str],
    reactivate: bool,
) -> Imported:
    if not batch:
        return Imported()
    gone = suppressed(session, keys, (r.email for r in batch))
    rows = [r for r in batch if r.email not in gone]
    found = session.execute(
        select(Subscriber.email, Subscriber.status).where(
            Subscriber.email.in_([r.email for r in rows])
        )
    )
    existing = {str(email): SubscriberStatus(status) for email, status in found}
    status = transition(None, Event.ADD).status
    fresh = [
        {
            "email": r.email,
            "name": r.name,
            "status": status,
            "origin": origin,
            "consent_at": now,
            "consent_source": source,
            "created_at": now,
            "updated_at": now,
        }
        for r in rows
        if r.email not in existing
    ]
    if fresh:
        insert = (
            postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
        )
        session.execute(insert(Subscriber).on_conflict_do_nothing(index_elements=["email"]), fresh)
    reactivated = 0
    if reactivate:
        # Only what --force adds to a plain ADD: a pending signup stays unconfirmed.
        forced = changed_from(Event.ADD, force=True) - changed_from(Event.ADD)
        back: dict[SubscriberStatus, list[str]] = {}
        for email, current in existing.items():
            if current in forced:
                back.setdefault(transition(current, Event.ADD, force=True).status, []).append(email)
        for new_status, emails in back.items():
            session.execute(
                update(Subscriber)
                .where(Subscriber.email.in_(emails), Subscriber.status.in_(forced))
                .values(status=new_status, updated_at=now, unsubscribed_at=None)
            )
            reactivated += len(emails)
    return Imported(
        added=len(fresh),
        already=len(rows) - len(fresh),
        suppressed=len(gone),
        reactivated=reactivated,
    )
