"""The outbox repository: mails the web pages queue (confirmations, notices) and a sender
takes out, in the database so a queued mail outlives the process and every process sees
how many mails an address got lately."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, delete, func, select, update

from digest.db.engine import Database
from digest.db.schema import OutboxMessage as Outbox
from digest.db.schema import Subscriber


@dataclass(frozen=True, slots=True, kw_only=True)
class OutgoingMail:
    """One queued mail as the sender needs it."""

    id: int
    kind: str
    to_address: str
    envelope_from: str
    message: bytes
    created_at: datetime
    attempts: int


@dataclass(frozen=True, slots=True, kw_only=True)
class NewMail:
    """What the web pages queue; the message is complete (built at queue time)."""

    kind: str
    to_address: str
    subscriber_id: int
    envelope_from: str


def enqueue_limited(
    db: Database,
    mail: NewMail,
    now: datetime,
    since: datetime,
    allow: Callable[[Sequence[datetime]], bool],
    build: Callable[[], bytes],
) -> bool:
    """Queue `mail` when `allow` (given the creation times of the mails queued to the same
    address since `since`) says so; `build` makes the message then. True when queued.

    The subscriber's record is locked first, so two processes queueing to one address at
    once take turns and the second sees the first's row.
    """
    with db.session() as session:
        if session.get_bind().dialect.name == "sqlite":
            # SQLite ignores FOR UPDATE; a write takes the database's write lock instead.
            session.execute(
                update(Subscriber)
                .where(Subscriber.id == mail.subscriber_id)
                .values(updated_at=Subscriber.updated_at)
            )
        else:
            session.get(Subscriber, mail.subscriber_id, with_for_update=True)
        recent = session.scalars(
            select(Outbox.created_at).where(
                Outbox.to_address == mail.to_address, Outbox.created_at >= since
            )
        ).all()
        if not allow(list(recent)):
            return False
        session.add(
            Outbox(
                kind=mail.kind,
                to_address=mail.to_address,
                subscriber_id=mail.subscriber_id,
                envelope_from=mail.envelope_from,
                message=build(),
                created_at=now,
                attempts=0,
                next_attempt_at=now,
                sent_at=None,
                last_error="",
            )
        )
        return True


def claim_next(db: Database, now: datetime, lease: timedelta) -> OutgoingMail | None:
    """The oldest mail due at `now`, claimed for `lease`: its next attempt moves to
    now + lease and its attempts go up by one, so another sender (the daemon, a second
    `digest serve`) skips it meanwhile, and takes it again if this one dies mid-send."""
    while True:
        with db.session() as session:
            row = session.execute(
                select(Outbox.id, Outbox.next_attempt_at, Outbox.attempts)
                .where(
                    Outbox.sent_at.is_(None),
                    Outbox.next_attempt_at.is_not(None),
                    Outbox.next_attempt_at <= now,
                )
                .order_by(Outbox.next_attempt_at, Outbox.id)
                .limit(1)
            ).first()
            if row is None:
                return None
            claimed = session.execute(
                update(Outbox)
                .where(
                    Outbox.id == row.id,
                    Outbox.sent_at.is_(None),
                    Outbox.next_attempt_at == row.next_attempt_at,
                )
                .values(next_attempt_at=now + lease, attempts=row.attempts + 1)
            )
            if claimed.rowcount != 1:  # type: ignore[attr-defined]
                continue  # another sender took it first: look for the next one
            mail = session.get_one(Outbox, row.id)
            return OutgoingMail(
                id=mail.id,
                kind=mail.kind,
                to_address=mail.to_address,
                envelope_from=mail.envelope_from,
                message=mail.message,
                created_at=mail.created_at,
                attempts=mail.attempts,
            )


def mark_sent(db: Database, mail_id: int, now: datetime) -> None:
    with db.session() as session:
        session.execute(
            update(Outbox)
            .where(Outbox.id == mail_id)
            .values(sent_at=now, next_attempt_at=None, last_error="")
        )


def mark_failed(db: Database, mail_id: int, error: str, retry_at: datetime | None) -> None:
    """Record a failed attempt: tried again at `retry_at`, or never (None: given up)."""
    with db.session() as session:
        session.execute(
            update(Outbox)
            .where(Outbox.id == mail_id)
            .values(next_attempt_at=retry_at, last_error=error[:1000])
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class OutboxCounts:
    queued: int  # waiting for a first or next attempt
    sent: int
    given_up: int


def outbox_counts(db: Database) -> OutboxCounts:
    unsent = Outbox.sent_at.is_(None)
    with db.session() as session:

        def count(*where: ColumnElement[bool]) -> int:
            return session.scalar(select(func.count(Outbox.id)).where(*where)) or 0

        return OutboxCounts(
            queued=count(unsent, Outbox.next_attempt_at.is_not(None)),
            sent=count(Outbox.sent_at.is_not(None)),
            given_up=count(unsent, Outbox.next_attempt_at.is_(None)),
        )


def prune_outbox(db: Database, before: datetime) -> int:
    """Delete the mails sent or given up before `before` (the daily cap looks back one day);
    returns how many."""
    with db.session() as session:
        done = Outbox.sent_at.is_not(None) | Outbox.next_attempt_at.is_(None)
        result = session.execute(delete(Outbox).where(done, Outbox.created_at < before))
        return int(result.rowcount)  # type: ignore[attr-defined]


def forget_outbox(db: Database, address: str) -> int:
    """Delete every queued or sent mail to `address` (for `subscribers forget`)."""
    with db.session() as session:
        result = session.execute(delete(Outbox).where(Outbox.to_address == address))
        return int(result.rowcount)  # type: ignore[attr-defined]
