"""The bounce repository: raw messages kept for audit, bounce events, the evidence the policy
reads, the status changes they cause, and the queries behind `digest bounces` reports."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import case, delete, distinct, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from digest.bounces.policy import PastBounce, decide
from digest.db.engine import Database
from digest.db.schema import BounceEvent, BounceMessage, Delivery, Issue, Subscriber
from digest.db.subscribers import record_change
from digest.errors import StorageError
from digest.model import BounceKind, BounceReport, DeliveryStatus, SubscriberStatus
from digest.settings import BounceSettings
from subscribers.status import transition


@dataclass(frozen=True, slots=True, kw_only=True)
class Target:
    """Whom a bounce is about: a subscriber and, when we know it, the delivery it answers."""

    subscriber_id: int
    email: str
    status: SubscriberStatus
    delivery_id: int | None = None  # None: we never mailed this subscriber
    issue_id: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Applied:
    """What recording one bounce did: its event, and the status change it caused if any."""

    message_id: int | None
    event_id: int
    before: SubscriberStatus | None
    after: SubscriberStatus | None  # None: the status did not change
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class StoredBounce:
    """A received message or event as kept, for `bounces list` and `bounces show`."""

    id: int
    key: str
    channel: str
    received_at: datetime
    size: int
    kind: str
    reason: str
    outcome: str
    note: str
    subscriber_id: int | None
    delivery_id: int | None
    email: str | None  # the subscriber's address, while they are on record
    raw: bytes = b""  # only from `get_message`


@dataclass(frozen=True, slots=True, kw_only=True)
class IssueBounces:
    """One issue's deliveries and what came back. Bounce and complaint rates are over the
    deliveries the relay was asked to make (sent or refused at once: `mailed`)."""

    issue_id: int
    number: int
    sent_at: datetime | None
    mailed: int
    delivered: int  # accepted by the relay
    hard: int
    soft: int
    complaints: int

    def rate(self, count: int) -> float:
        return count / self.mailed if self.mailed else 0.0

    @property
    def hard_rate(self) -> float:
        return self.rate(self.hard)

    @property
    def soft_rate(self) -> float:
        return self.rate(self.soft)

    @property
    def complaint_rate(self) -> float:
        return self.rate(self.complaints)


# Reading ------------------------------------------------------------------------------


def has_key(db: Database, key: str) -> bool:
    """Whether a message or event with `key` was already processed."""
    with db.session() as session:
        return session.scalar(select(BounceMessage.id).where(BounceMessage.key == key)) is not None


def target_of_delivery(db: Database, delivery_id: int) -> Target | None:
    """The subscriber and issue of delivery `delivery_id`; None when there is no such row
    (never made, or erased with its subscriber)."""
    with db.session() as session:
        row = session.execute(
            select(Delivery, Subscriber)
            .join(Subscriber, Subscriber.id == Delivery.subscriber_id)
            .where(Delivery.id == delivery_id)
        ).first()
        if row is None:
            return None
        delivery, person = row
        return Target(
            subscriber_id=person.id,
            email=person.email,
            status=SubscriberStatus(person.status),
            delivery_id=delivery.id,
            issue_id=delivery.issue_id,
        )


def target_of_address(db: Database, email: str) -> Target | None:
    """The subscriber with the normalized `email` and the latest delivery we actually made
    to them (one that was tried at least once); None when nobody has the address."""
    with db.session() as session:
        person = session.scalars(select(Subscriber).where(Subscriber.email == email)).first()
        if person is None:
            return None
        delivery = session.scalars(
            select(Delivery)
            .where(Delivery.subscriber_id == person.id, Delivery.attempts > 0)
            .order_by(Delivery.updated_at.desc(), Delivery.id.desc())
            .limit(1)
        ).first()
        return Target(
            subscriber_id=person.id,
            email=person.email,
            status=SubscriberStatus(person.status),
            delivery_id=None if delivery is None else delivery.id,
            issue_id=None if delivery is None else delivery.issue_id,
        )


def list_messages(
    db: Database, *, kind: str | None = None, since: datetime | None = None, limit: int = 50
) -> list[StoredBounce]:
    """Received messages, newest first, without their raw bytes."""
    query = (
        select(BounceMessage, Subscriber.email)
        .outerjoin(Subscriber, Subscriber.id == BounceMessage.subscriber_id)
        .order_by(BounceMessage.received_at.desc(), BounceMessage.id.desc())
        .limit(limit)
    )
    if kind:
        query = query.where(BounceMessage.kind == kind)
    if since is not None:
        query = query.where(BounceMessage.received_at >= since)
    with db.session() as session:
        return [_stored(row, email) for row, email in session.execute(query)]


def get_message(db: Database, message_id: int) -> StoredBounce | None:
    """One received message with its raw bytes; None when there is none (or it was pruned)."""
    with db.session() as session:
        found = session.execute(
            select(BounceMessage, Subscriber.email)
            .outerjoin(Subscriber, Subscriber.id == BounceMessage.subscriber_id)
            .where(BounceMessage.id == message_id)
        ).first()
        if found is None:
            return None
        row, email = found
        return _stored(row, email, raw=True)


def _stored(row: BounceMessage, email: str | None, *, raw: bool = False) -> StoredBounce:
    return StoredBounce(
        id=row.id,
        key=row.key,
        channel=row.channel,
        received_at=row.received_at,
        size=row.size,
        kind=row.kind,
        reason=row.reason,
        outcome=row.outcome,
        note=row.note,
        subscriber_id=row.subscriber_id,
        delivery_id=row.delivery_id,
        email=email,
        raw=bytes(row.raw) if raw else b"",
    )


def issue_stats(db: Database, *, number: int | None = None, limit: int = 10) -> list[IssueBounces]:
    """Per issue that went out (the `limit` latest, or issue `number`), newest first: its
    deliveries and the distinct deliveries that bounced hard or soft or complained."""
    query = (
        select(Issue.id, Issue.number, Issue.sent_at)
        .where(Issue.send_started_at.is_not(None))
        .order_by(Issue.number.desc())
    )
    query = query.where(Issue.number == number) if number is not None else query.limit(limit)
    with db.session() as session:
        issues = session.execute(query).all()
        ids = [issue_id for issue_id, _, _ in issues]
        sent = {DeliveryStatus.SENT.value, DeliveryStatus.FAILED.value}
        mailed: dict[int, dict[str, int]] = {}
        for issue_id, status, n in session.execute(
            select(Delivery.issue_id, Delivery.status, func.count())
            .where(Delivery.issue_id.in_(ids), Delivery.status.in_(sent))
            .group_by(Delivery.issue_id, Delivery.status)
        ):
            mailed.setdefault(issue_id, {})[status] = int(n)
        # A delivery counts once per kind however many reports about it arrived; events of
        # people who were forgotten have lost their delivery and count one each.
        per_delivery = func.count(distinct(BounceEvent.delivery_id)) + func.sum(
            case((BounceEvent.delivery_id.is_(None), 1), else_=0)
        )
        came_back: dict[int, dict[str, int]] = {}
        for of_issue, kind, n in session.execute(
            select(BounceEvent.issue_id, BounceEvent.kind, per_delivery)
            .where(BounceEvent.issue_id.in_(ids))
            .group_by(BounceEvent.issue_id, BounceEvent.kind)
        ):
            if of_issue is not None:
                came_back.setdefault(of_issue, {})[kind] = int(n or 0)
    result = []
    for issue_id, issue_number, sent_at in issues:
        counts, back = mailed.get(issue_id, {}), came_back.get(issue_id, {})
        result.append(
            IssueBounces(
                issue_id=issue_id,
                number=issue_number,
                sent_at=sent_at,
                mailed=sum(counts.values()),
                delivered=counts.get(DeliveryStatus.SENT.value, 0),
                hard=back.get(BounceKind.HARD.value, 0),
                soft=back.get(BounceKind.SOFT.value, 0),
                complaints=back.get(BounceKind.COMPLAINT.value, 0),
            )
        )
    return result


# Writing ------------------------------------------------------------------------------


def store_message(
    db: Database,
    *,
    key: str,
    channel: str,
    raw: bytes,
    at: datetime,
    kind: str,
    reason: str,
    outcome: str,
    note: str,
    subscriber_id: int | None = None,
    delivery_id: int | None = None,
) -> int | None:
    """Keep one message or event with what was made of it; its id, or None when a message
    with `key` is already kept (then nothing is written)."""
    try:
        with db.session() as session:
            if session.scalar(select(BounceMessage.id).where(BounceMessage.key == key)):
                return None
            row = _message(key, channel, raw, at, kind, reason, outcome, note)
            row.subscriber_id, row.delivery_id = subscriber_id, delivery_id
            session.add(row)
            session.flush()
            return row.id
    except StorageError as e:
        if isinstance(e.__cause__, IntegrityError):
            return None  # stored by a concurrent run a moment ago
        raise


def apply_bounce(
    db: Database,
    *,
    key: str,
    channel: str,
    raw: bytes,
    at: datetime,
    report: BounceReport,
    target: Target,
    origin: str,
    rules: BounceSettings,
    note: str = "",
) -> Applied | None:
    """Keep the message, record its bounce event and apply the policy to the subscriber, all
    in one transaction; None (nothing written) when a message with `key` is already kept."""
    try:
        with db.session() as session:
            if session.scalar(select(BounceMessage.id).where(BounceMessage.key == key)):
                return None
            row = _message(key, channel, raw, at, report.kind, report.reason, "applied", note)
            row.subscriber_id, row.delivery_id = target.subscriber_id, target.delivery_id
            session.add(row)
            session.flush()
            applied = record_bounce(
                session,
                subscriber_id=target.subscriber_id,
                delivery_id=target.delivery_id,
                issue_id=target.issue_id,
                kind=report.kind,
                reason=report.reason.value,
                status_code=report.status,
                smtp_code=report.code,
                diagnostic=report.diagnostic,
                origin=origin,
                at=at,
                message_id=row.id,
                rules=rules,
            )
            row.note = "; ".join(part for part in (note, applied.reason) if part)
            return applied
    except StorageError as e:
        if isinstance(e.__cause__, IntegrityError):
            return None  # stored by a concurrent run a moment ago
        raise


def _message(
    key: str,
    channel: str,
    raw: bytes,
    at: datetime,
    kind: str,
    reason: str,
    outcome: str,
    note: str,
) -> BounceMessage:
    return BounceMessage(
        key=key,
        channel=channel,
        received_at=at,
        raw=raw,
        size=len(raw),
        kind=kind,
        reason=reason,
        outcome=outcome,
        note=note,
    )


def record_bounce(
    session: Session,
    *,
    subscriber_id: int,
    delivery_id: int | None,
    issue_id: int | None,
    kind: BounceKind,
    reason: str = "",
    status_code: str | None = None,
    smtp_code: int | None = None,
    diagnostic: str = "",
    origin: str,
    at: datetime,
    message_id: int | None = None,
    rules: BounceSettings,
) -> Applied:
    """Record one bounce event inside the caller's transaction and apply the policy to the
    subscriber (locked): the change goes through `transition` and is recorded with this event
    as its evidence. Used for returned mail, webhook events and send-time refusals alike."""
    event = BounceEvent(
        subscriber_id=subscriber_id,
        delivery_id=delivery_id,
        issue_id=issue_id,
        kind=kind.value,
        reason=reason,
        status_code=status_code,
        smtp_code=smtp_code,
        diagnostic=diagnostic,
        origin=origin,
        received_at=at,
        message_id=message_id,
    )
    session.add(event)
    session.flush()
    person = session.get(Subscriber, subscriber_id, with_for_update=True)
    history: list[PastBounce] = []
    last_delivered = None
    if kind is BounceKind.SOFT:
        history, last_delivered = _soft_evidence(session, subscriber_id, at, rules)
    detail = " ".join(str(part) for part in (smtp_code, status_code, reason) if part)
    decision = decide(
        kind,
        soft_history=history,
        last_delivered=last_delivered,
        now=at,
        rules=rules,
        detail=f"{detail} {diagnostic}".strip()[:300],
    )
    before = None if person is None else SubscriberStatus(person.status)
    if person is None or before is None or decision.event is None:
        return Applied(
            message_id=message_id,
            event_id=event.id,
            before=before,
            after=None,
            reason=decision.reason,
        )
    step = transition(before, decision.event)
    if not step.changed:
        return Applied(
            message_id=message_id,
            event_id=event.id,
            before=before,
            after=None,
            reason=f"{decision.reason}; status stays {before}",
        )
    person.status, person.updated_at = step.status, at
    record_change(
        session,
        subscriber_id,
        at,
        before=before,
        after=step.status,
        event=decision.event,
        reason=decision.reason,
        bounce_event_id=event.id,
    )
    return Applied(
        message_id=message_id,
        event_id=event.id,
        before=before,
        after=step.status,
        reason=f"{decision.reason}; status {before} -> {step.status}",
    )


def _soft_evidence(
    session: Session, subscriber_id: int, now: datetime, rules: BounceSettings
) -> tuple[list[PastBounce], datetime | None]:
    """The subscriber's soft bounces in the window, and when an issue last went through to
    them without anything coming back (the moment the soft count starts over)."""
    start = now - timedelta(days=rules.soft_window_days)
    history = [
        PastBounce(at=at, issue_id=issue_id)
        for at, issue_id in session.execute(
            select(BounceEvent.received_at, BounceEvent.issue_id).where(
                BounceEvent.subscriber_id == subscriber_id,
                BounceEvent.kind == BounceKind.SOFT.value,
                BounceEvent.received_at >= start,
            )
        )
    ]
    bounced_issues = select(BounceEvent.issue_id).where(
        BounceEvent.subscriber_id == subscriber_id, BounceEvent.issue_id.is_not(None)
    )
    last_delivered = session.scalar(
        select(func.max(Delivery.sent_at)).where(
            Delivery.subscriber_id == subscriber_id,
            Delivery.status == DeliveryStatus.SENT,
            Delivery.issue_id.not_in(bounced_issues),
        )
    )
    return history, last_delivered


def prune(db: Database, now: datetime, keep_days: int) -> int:
    """Delete kept messages received more than `keep_days` ago; their bounce events stay
    (without the raw evidence). Returns how many were deleted."""
    with db.session() as session:
        result = session.execute(
            delete(BounceMessage).where(BounceMessage.received_at < now - timedelta(days=keep_days))
        )
        return int(getattr(result, "rowcount", 0) or 0)
