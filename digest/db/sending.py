"""The issues table as a send changes it: draft -> sending -> sent, where a send stands, and
failed deliveries put back in the queue."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select, update

from digest.db import ledger
from digest.db.engine import Database
from digest.db.schema import Delivery, Issue, IssueItem, Item
from digest.db.subscribers import active_count
from digest.model import DeliveryStatus, IssueStatus, ItemKind, ItemState


@dataclass(frozen=True, slots=True, kw_only=True)
class SendCounts:
    """Who an issue goes to, as a send starts or ends."""

    active: int  # subscribers an issue would go to: active and not pausing
    deliveries: dict[str, int]  # the issue's deliveries per status
    due: int  # deliveries a send would make now or later, rows still to make included


def send_counts(db: Database, issue_id: int) -> SendCounts:
    with db.session() as session:
        return SendCounts(
            active=active_count(session),
            deliveries=ledger.counts(session, issue_id),
            due=ledger.due_count(session, issue_id),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class SendRecord:
    """What the database knows of one issue's send, for a watcher in another process."""

    counts: dict[str, int]  # deliveries per status
    owner: str | None  # who holds the send lease
    heartbeat_at: datetime | None
    started_at: datetime | None
    sent_at: datetime | None
    recent: int  # deliveries accepted since the `since` asked for
    next_retry_at: datetime | None
    failed_replies: tuple[str, ...]  # the latest first
    deferred_replies: tuple[str, ...]


def start_sending(db: Database, issue_id: int, now: datetime) -> None:
    """A draft becomes `sending`, its send starting now; any other issue stays as it is."""
    with db.session() as session:
        session.execute(
            update(Issue)
            .where(Issue.id == issue_id, Issue.status == IssueStatus.DRAFT)
            .values(status=IssueStatus.SENDING, send_started_at=now)
        )


def mark_sent(db: Database, issue_id: int, now: datetime) -> None:
    """The issue is `sent`: its news are published (they appear once); its events and calls
    go back to the queue, rolling on into the next issues until the event starts or the
    call closes (then `expire_items` retires them)."""
    with db.session() as session:
        session.execute(
            update(Issue).where(Issue.id == issue_id).values(status=IssueStatus.SENT, sent_at=now)
        )
        items = select(IssueItem.item_id).where(IssueItem.issue_id == issue_id)
        session.execute(
            update(Item)
            .where(Item.id.in_(items), Item.kind == ItemKind.NEWS)
            .values(state=ItemState.PUBLISHED, updated_at=now)
        )
        session.execute(
            update(Item)
            .where(
                Item.id.in_(items),
                Item.kind.in_((ItemKind.EVENT, ItemKind.CALL)),
                Item.state == ItemState.IN_ISSUE,
            )
            .values(state=ItemState.QUEUED, updated_at=now)
        )


def send_record(db: Database, issue_id: int, *, since: datetime, latest: int) -> SendRecord:
    """Where the issue's send stands; `latest` failure and deferral replies of each kind."""
    with db.session() as session:
        by_state = ledger.counts(session, issue_id)
        row = session.execute(
            select(
                Issue.send_owner, Issue.send_heartbeat_at, Issue.send_started_at, Issue.sent_at
            ).where(Issue.id == issue_id)
        ).one()
        recent = session.scalar(
            select(func.count()).where(Delivery.issue_id == issue_id, Delivery.sent_at >= since)
        )
        next_retry = session.scalar(
            select(func.min(Delivery.next_attempt_at)).where(
                Delivery.issue_id == issue_id, Delivery.status == DeliveryStatus.DEFERRED
            )
        )

        def replies(status: DeliveryStatus) -> tuple[str, ...]:
            return tuple(
                reply or ""
                for reply in session.scalars(
                    select(Delivery.last_reply)
                    .where(Delivery.issue_id == issue_id, Delivery.status == status)
                    .order_by(Delivery.updated_at.desc())
                    .limit(latest)
                )
            )

        return SendRecord(
            counts=by_state,
            owner=row.send_owner,
            heartbeat_at=row.send_heartbeat_at,
            started_at=row.send_started_at,
            sent_at=row.sent_at,
            recent=int(recent or 0),
            next_retry_at=next_retry,
            failed_replies=replies(DeliveryStatus.FAILED),
            deferred_replies=replies(DeliveryStatus.DEFERRED),
        )


def requeue_failed(db: Database, issue_id: int, now: datetime, *, everything: bool) -> int:
    """Failed deliveries of a temporary cause (or all failed ones) back to pending, with a
    fresh retry deadline, and the issue back to `sending`; sent and skipped rows are never
    touched. Returns how many."""
    with db.session() as session:
        which = update(Delivery).where(
            Delivery.issue_id == issue_id, Delivery.status == DeliveryStatus.FAILED
        )
        if not everything:
            which = which.where(Delivery.temporary.is_(True))
        result = session.execute(
            which.values(
                status=DeliveryStatus.PENDING,
                temporary=False,
                first_attempt_at=None,
                next_attempt_at=None,
                updated_at=now,
            )
        )
        count = int(getattr(result, "rowcount", 0) or 0)
        if count:
            session.execute(
                update(Issue)
                .where(Issue.id == issue_id)
                .values(status=IssueStatus.SENDING, sent_at=None)
            )
    return count
