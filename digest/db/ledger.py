"""The delivery ledger in the database: one row per (issue, subscriber), written with Core
statements; `SqlLedger` is the send stage's `DeliveryLedger` over it.

Rows become final (`sent`, `failed`, `skipped`) only through `record`, with what the relay
said; a refusal at send time is a bounce event (hard for a 5.1.x, soft for any other
permanent refusal) and the bounce policy decides, through the status rule, what it changes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import cast

from sqlalchemy import Table, bindparam, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from digest.db.bounces import record_bounce
from digest.db.engine import Database
from digest.db.lease import renew_lease
from digest.db.schema import Delivery, Subscriber
from digest.model import (
    FINAL,
    INACTIVE_REPLY,
    BounceKind,
    DeliveryStatus,
    Recipient,
    Settled,
    SubscriberStatus,
)
from digest.settings import BounceSettings

CHUNK = 1000


class SqlLedger:
    """The ledger in the database, for one issue, held by one lease owner."""

    def __init__(self, db: Database, issue_id: int, owner: str, *, rules: BounceSettings) -> None:
        self.db, self.issue_id, self.owner, self.rules = db, issue_id, owner, rules

    def add_missing(self, now: datetime, message_id: Callable[[int], str]) -> int:
        with self.db.session() as session:
            return add_missing_rows(session, self.issue_id, now, message_id)

    def replay(self, rows: Sequence[Settled]) -> int:
        if not rows:
            return 0
        with self.db.session() as session:
            ids = [row.delivery_id for row in rows]
            final: set[int] = set()
            for start in range(0, len(ids), CHUNK):
                final.update(
                    session.scalars(
                        select(Delivery.id).where(
                            Delivery.id.in_(ids[start : start + CHUNK]), Delivery.status.in_(FINAL)
                        )
                    )
                )
            open_rows = [row for row in rows if row.delivery_id not in final]
            _write(session, open_rows, self.issue_id, self.rules)
        return len(open_rows)

    def requeue_interrupted(self, now: datetime) -> frozenset[int]:
        with self.db.session() as session:
            ids = session.scalars(
                update(Delivery)
                .where(
                    Delivery.issue_id == self.issue_id, Delivery.status == DeliveryStatus.SENDING
                )
                .values(status=DeliveryStatus.PENDING, updated_at=now)
                .returning(Delivery.id)
            )
            return frozenset(ids)

    def claim(self, now: datetime, limit: int) -> list[Recipient]:
        with self.db.session() as session:
            renew_lease(session, self.issue_id, self.owner, now)
            recipients = claim(session, self.issue_id, now, limit)
            if not recipients:
                # Rows of subscribers who left are never claimed; once nothing else is due
                # they are closed as skipped. (Doing it before every claim would scan every
                # waiting row each time: quadratic in the size of the list.)
                skip_inactive(session, self.issue_id, now)
            return recipients

    def record(self, rows: Sequence[Settled]) -> None:
        if rows:
            with self.db.session() as session:
                renew_lease(session, self.issue_id, self.owner, max(r.at for r in rows))
                _write(session, rows, self.issue_id, self.rules)

    def renew(self, now: datetime) -> None:
        with self.db.session() as session:
            renew_lease(session, self.issue_id, self.owner, now)

    def next_due(self) -> datetime | None:
        with self.db.session() as session:
            return session.scalar(
                select(func.min(Delivery.next_attempt_at)).where(
                    Delivery.issue_id == self.issue_id, Delivery.status == DeliveryStatus.DEFERRED
                )
            )

    def inactive(self, subscriber_ids: Sequence[int]) -> frozenset[int]:
        with self.db.session() as session:
            return frozenset(
                session.scalars(
                    select(Subscriber.id).where(
                        Subscriber.id.in_(subscriber_ids),
                        or_(
                            Subscriber.status != SubscriberStatus.ACTIVE,
                            Subscriber.paused.is_(True),
                        ),
                    )
                )
            )

    def counts(self) -> dict[str, int]:
        with self.db.session() as session:
            return counts(session, self.issue_id)


def _wanting(issue_id: int) -> tuple[ColumnElement[bool], ...]:
    """Active subscribers, not pausing, who have no row for the issue yet."""
    return (
        Subscriber.status == SubscriberStatus.ACTIVE,
        Subscriber.paused.is_(False),
        ~select(Delivery.id)
        .where(Delivery.issue_id == issue_id, Delivery.subscriber_id == Subscriber.id)
        .exists(),
    )


def add_missing_rows(
    session: Session, issue_id: int, now: datetime, message_id: Callable[[int], str]
) -> int:
    """Give every active subscriber who is not pausing and has no row for this issue a
    pending row."""
    missing = select(Subscriber.id).where(*_wanting(issue_id)).order_by(Subscriber.id)
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


def skip_inactive(session: Session, issue_id: int, now: datetime) -> int:
    """Rows whose subscriber left, bounced or paused since the row was made are skipped;
    run before every claim, so an unsubscribe takes effect before the next message."""
    inactive = select(Subscriber.id).where(
        or_(Subscriber.status != SubscriberStatus.ACTIVE, Subscriber.paused.is_(True))
    )
    result = session.execute(
        update(Delivery)
        .where(
            Delivery.issue_id == issue_id,
            Delivery.status.in_([DeliveryStatus.PENDING, DeliveryStatus.DEFERRED]),
            Delivery.subscriber_id.in_(inactive),
        )
        .values(status=DeliveryStatus.SKIPPED, updated_at=now, last_reply=INACTIVE_REPLY)
    )
    return int(getattr(result, "rowcount", 0) or 0)


def claim(session: Session, issue_id: int, now: datetime, limit: int) -> list[Recipient]:
    """Mark up to `limit` due rows `sending` and return them as recipients: pending rows
    first, then deferred ones whose retry is due.

    One query per status: each walks the (issue, status) index in id order and stops at
    the limit, where one query with an OR would read every row of the issue and sort them,
    on every claim (quadratic in the size of the list)."""
    columns = select(
        Delivery.id,
        Delivery.subscriber_id,
        Delivery.message_id,
        Delivery.attempts,
        Delivery.first_attempt_at,
        Subscriber.email,
        Subscriber.name,
        Subscriber.link_key,
        Subscriber.wants_news,
        Subscriber.wants_events,
        Subscriber.wants_calls,
    ).join(Subscriber, Subscriber.id == Delivery.subscriber_id)
    rows = list(
        session.execute(
            columns.where(
                Delivery.issue_id == issue_id,
                Delivery.status == DeliveryStatus.PENDING,
                Subscriber.status == SubscriberStatus.ACTIVE,
            )
            .order_by(Delivery.id)
            .limit(limit)
        )
    )
    if len(rows) < limit:
        rows += session.execute(
            columns.where(
                Delivery.issue_id == issue_id,
                Delivery.status == DeliveryStatus.DEFERRED,
                Delivery.next_attempt_at <= now,
                Subscriber.status == SubscriberStatus.ACTIVE,
            )
            .order_by(Delivery.id)
            .limit(limit - len(rows))
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
            link_key=r.link_key,
            message_id=r.message_id,
            attempts=r.attempts,
            first_attempt_at=r.first_attempt_at,
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


def _write(session: Session, rows: Sequence[Settled], issue_id: int, rules: BounceSettings) -> None:
    """Answers in one executemany. A refusal is recorded as a bounce event of the issue and
    the bounce policy applied: a hard bounce marks an active (or pending) subscriber `bounced`
    at once, so no later issue is sent to the address; soft ones only after the limit."""
    values = [
        {
            "b_id": row.delivery_id,
            "status": row.status.value,
            "attempts": row.attempts,
            "last_reply": row.reply,
            "updated_at": row.at,
            "first_attempt_at": row.first_attempt_at,
            "next_attempt_at": row.next_attempt_at,
            "sent_at": row.at if row.status is DeliveryStatus.SENT else None,
            "temporary": row.temporary,
        }
        for row in rows
    ]
    for row in rows:
        if row.bounce:
            record_bounce(
                session,
                subscriber_id=row.subscriber_id,
                delivery_id=row.delivery_id,
                issue_id=issue_id,
                kind=BounceKind(row.bounce),
                status_code=row.enhanced,
                smtp_code=_code(row.reply),
                diagnostic=row.reply,
                origin="smtp",
                at=row.at,
                rules=rules,
            )
    if values:
        # One Core executemany for the whole group: the ORM's bulk update costs several
        # times more per row, and a send writes every row at least once.
        session.execute(_WRITE, values)


def _code(reply: str) -> int | None:
    """The basic code a reply starts with ("550 5.1.1 ..." -> 550)."""
    head = reply[:3]
    return int(head) if head.isdigit() and reply[3:4] in ("", " ", "-") else None


_DELIVERIES = cast(Table, Delivery.__table__)
_WRITE = (
    update(_DELIVERIES)
    .where(_DELIVERIES.c.id == bindparam("b_id"))
    .values(
        {
            name: bindparam(name)
            for name in (
                "status",
                "attempts",
                "last_reply",
                "updated_at",
                "first_attempt_at",
                "next_attempt_at",
                "sent_at",
                "temporary",
            )
        }
    )
)


def due_count(session: Session, issue_id: int) -> int:
    """Deliveries a send would make now or later: rows not final, and active subscribers
    who have no row yet."""
    waiting = session.scalar(
        select(func.count())
        .select_from(Delivery)
        .where(Delivery.issue_id == issue_id, Delivery.status.not_in(FINAL))
    )
    missing = session.scalar(
        select(func.count()).select_from(Subscriber).where(*_wanting(issue_id))
    )
    return int(waiting or 0) + int(missing or 0)


def counts(session: Session, issue_id: int) -> dict[str, int]:
    rows = session.execute(
        select(Delivery.status, func.count())
        .where(Delivery.issue_id == issue_id)
        .group_by(Delivery.status)
    ).all()
    return {str(status): int(n) for status, n in rows}
