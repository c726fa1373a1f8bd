"""The delivery ledger: one row per (issue, subscriber); a rerun continues from it."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from digest.db.schema import BounceEvent, Delivery, Subscriber
from digest.model import DeliveryStatus, Recipient, SendOutcome
from digest.send.classify import Verdict

CHUNK = 1000


def add_missing_rows(
    session: Session, issue_id: int, now: datetime, message_id: Callable[[int], str]
) -> int:
    """Give every active subscriber who is not pausing and has no row for this issue a
    pending row."""
    missing = (
        select(Subscriber.id)
        .where(
            Subscriber.status == "active",
            Subscriber.paused.is_(False),
            ~select(Delivery.id)
            .where(Delivery.issue_id == issue_id, Delivery.subscriber_id == Subscriber.id)
            .exists(),
        )
        .order_by(Subscriber.id)
    )
    ids = list(session.scalars(missing))
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    for start in range(0, len(ids), CHUNK):
        rows = [
            {
                "issue_id": issue_id,
                "subscriber_id": sid,
                "status": DeliveryStatus.PENDING,
                "attempts": 0,
                "message_id": message_id(sid),
                "created_at": now,
                "updated_at": now,
            }
            for sid in ids[start : start + CHUNK]
        ]
        session.execute(insert(Delivery).on_conflict_do_nothing(), rows)
    return len(ids)


def requeue_interrupted(session: Session, issue_id: int, now: datetime) -> int:
    """Rows left `sending` by a run that stopped: back to pending, to be sent again with the
    Message-ID they already had. Returns how many."""
    result = session.execute(
        update(Delivery)
        .where(Delivery.issue_id == issue_id, Delivery.status == DeliveryStatus.SENDING)
        .values(status=DeliveryStatus.PENDING, updated_at=now)
    )
    return int(getattr(result, "rowcount", 0) or 0)


def skip_inactive(session: Session, issue_id: int, now: datetime) -> int:
    """Rows whose subscriber left, bounced or paused since the row was made are skipped;
    run before every claim, so an unsubscribe takes effect before the next message."""
    inactive = select(Subscriber.id).where(
        or_(Subscriber.status != "active", Subscriber.paused.is_(True))
    )
    result = session.execute(
        update(Delivery)
        .where(
            Delivery.issue_id == issue_id,
            Delivery.status.in_([DeliveryStatus.PENDING, DeliveryStatus.DEFERRED]),
            Delivery.subscriber_id.in_(inactive),
        )
        .values(
            status=DeliveryStatus.SKIPPED,
            updated_at=now,
            last_reply="subscriber no longer active, or pausing",
        )
    )
    return int(getattr(result, "rowcount", 0) or 0)


def still_active(connection: Session | Connection, subscriber_id: int) -> bool:
    """Checked right before each message: someone who left a moment ago gets nothing."""
    row = connection.execute(
        select(Subscriber.status, Subscriber.paused).where(Subscriber.id == subscriber_id)
    ).first()
    return row is not None and row.status == "active" and not row.paused


def claim(session: Session, issue_id: int, now: datetime, limit: int) -> list[Recipient]:
    """Mark up to `limit` due rows `sending` and return them as recipients."""
    due = or_(
        Delivery.status == DeliveryStatus.PENDING,
        and_(Delivery.status == DeliveryStatus.DEFERRED, Delivery.next_attempt_at <= now),
    )
    rows = session.execute(
        select(
            Delivery.id,
            Delivery.subscriber_id,
            Delivery.message_id,
            Delivery.attempts,
            Subscriber.email,
            Subscriber.name,
            Subscriber.wants_news,
            Subscriber.wants_events,
            Subscriber.wants_calls,
        )
        .join(Subscriber, Subscriber.id == Delivery.subscriber_id)
        .where(Delivery.issue_id == issue_id, due, Subscriber.status == "active")
        .order_by(Delivery.id)
        .limit(limit)
    ).all()
    if rows:
        session.execute(
            update(Delivery)
            .where(Delivery.id.in_([r.id for r in rows]))
            .values(status=DeliveryStatus.SENDING, updated_at=now)
        )
    return [
        Recipient(
            delivery_id=r.id,
            subscriber_id=r.subscriber_id,
            email=r.email,
            name=r.name,
            message_id=r.message_id,
            attempts=r.attempts,
            sections=frozenset(
                name
                for name, wanted in (
                    ("news", r.wants_news),
                    ("events", r.wants_events),
                    ("calls", r.wants_calls),
                )
                if wanted
            ),
        )
        for r in rows
    ]


def record(
    session: Session,
    outcomes: Sequence[tuple[Recipient, SendOutcome, Verdict]],
    now: datetime,
    *,
    max_attempts: int,
    delay: Callable[[int], float],
) -> None:
    """Write what the server said, in one statement; a hard bounce marks the subscriber
    `bounced` so no later issue is sent to the address."""
    rows = []
    for recipient, outcome, verdict in outcomes:
        attempts = recipient.attempts + 1
        status = outcome.status
        next_at = None
        if status is DeliveryStatus.DEFERRED:
            if attempts >= max_attempts:
                status = DeliveryStatus.FAILED
            else:
                next_at = now + timedelta(seconds=delay(attempts))
        rows.append(
            {
                "id": recipient.delivery_id,
                "status": status,
                "attempts": attempts,
                "last_reply": outcome.reply,
                "updated_at": now,
                "next_attempt_at": next_at,
                "sent_at": now if status is DeliveryStatus.SENT else None,
            }
        )
        if verdict.bounce:
            session.add(
                BounceEvent(
                    subscriber_id=recipient.subscriber_id,
                    delivery_id=recipient.delivery_id,
                    kind=verdict.bounce,
                    status_code=verdict.enhanced,
                    diagnostic=outcome.reply,
                    origin="smtp",
                    received_at=now,
                )
            )
            session.execute(
                update(Subscriber)
                .where(Subscriber.id == recipient.subscriber_id)
                .values(status="bounced", updated_at=now)
            )
    if rows:
        # An ORM bulk UPDATE by primary key: one executemany for the whole group.
        session.execute(update(Delivery), rows)


def counts(session: Session, issue_id: int) -> dict[str, int]:
    rows = session.execute(
        select(Delivery.status, func.count())
        .where(Delivery.issue_id == issue_id)
        .group_by(Delivery.status)
    ).all()
    return {str(status): int(n) for status, n in rows}


def next_due(session: Session, issue_id: int) -> datetime | None:
    """When the earliest deferred row may be tried again, or None when none waits."""
    return session.scalar(
        select(func.min(Delivery.next_attempt_at)).where(
            Delivery.issue_id == issue_id, Delivery.status == DeliveryStatus.DEFERRED
        )
    )
