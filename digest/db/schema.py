"""The database schema: SQLAlchemy 2 typed models. Every time is stored in UTC."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    false,
    text,
    true,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp that goes in as an aware datetime and comes out as an aware UTC datetime.

    SQLite has no time zones, so the value is stored as naive UTC there and made aware again
    on the way out; PostgreSQL stores `timestamp with time zone`.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r} given to the database; pass UTC")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: UTCDateTime}


class Source(Base):
    __tablename__ = "sources"

    id: Mapped[int] = mapped_column(primary_key=True)
    url: Mapped[str] = mapped_column(String(2048), unique=True)
    name: Mapped[str] = mapped_column(String(300), default="")
    kind: Mapped[str] = mapped_column(String(16))  # news | events | calls
    dayfirst: Mapped[bool] = mapped_column(default=True)  # 08/11/2017 is 8 November
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")  # of times without one
    etag: Mapped[str | None] = mapped_column(String(500))
    last_modified: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime]
    last_fetch_at: Mapped[datetime | None]
    last_success_at: Mapped[datetime | None]
    last_status: Mapped[int | None]
    items_found: Mapped[int] = mapped_column(default=0)
    consecutive_failures: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    # A disabled source is kept, with its history, but not collected.
    enabled: Mapped[bool] = mapped_column(default=True, server_default=true())


class Item(Base):
    __tablename__ = "items"
    __table_args__ = (Index("ix_items_kind_state", "kind", "state"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    source_id: Mapped[int | None] = mapped_column(ForeignKey("sources.id", ondelete="SET NULL"))
    kind: Mapped[str] = mapped_column(String(16))  # news | event | call
    # One item per story: the guid, else the normalized link, else the content hash.
    dedupe_key: Mapped[str] = mapped_column(String(2100), unique=True)
    guid: Mapped[str | None] = mapped_column(String(2048))
    title: Mapped[str] = mapped_column(Text)
    link: Mapped[str] = mapped_column(String(2048), default="")
    summary: Mapped[str] = mapped_column(Text, default="")
    published_at: Mapped[datetime]
    event_start: Mapped[datetime | None]
    event_end: Mapped[datetime | None]
    location: Mapped[str | None] = mapped_column(String(500))
    deadline: Mapped[datetime | None]
    content_hash: Mapped[str] = mapped_column(String(64))
    # queued | in_issue | published | rejected | expired
    state: Mapped[str] = mapped_column(String(16), default="queued")
    needs_review: Mapped[str | None] = mapped_column(String(300))
    first_seen_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class Issue(Base):
    __tablename__ = "issues"

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[int] = mapped_column(unique=True)
    subject: Mapped[str] = mapped_column(String(500))
    preheader: Mapped[str] = mapped_column(String(500), default="")
    status: Mapped[str] = mapped_column(String(16), default="draft")  # draft | sending | sent
    html: Mapped[str] = mapped_column(Text, default="")
    text: Mapped[str] = mapped_column(Text, default="")
    # The random key the per-subscriber markers in html and text carry ("": fixed markers).
    placeholder_key: Mapped[str] = mapped_column(String(64), default="")
    # The editor's own words for this issue.
    intro: Mapped[str] = mapped_column(Text, default="")
    spotlight_kind: Mapped[str] = mapped_column(String(16), default="")  # quote|interview|link
    spotlight_title: Mapped[str] = mapped_column(String(300), default="")
    spotlight_text: Mapped[str] = mapped_column(Text, default="")
    spotlight_by: Mapped[str] = mapped_column(String(300), default="")
    spotlight_url: Mapped[str] = mapped_column(String(2048), default="")
    created_at: Mapped[datetime]
    composed_at: Mapped[datetime]
    send_started_at: Mapped[datetime | None]
    # The lease of the process that is sending: one sender per issue at a time.
    send_owner: Mapped[str | None] = mapped_column(String(200))
    send_heartbeat_at: Mapped[datetime | None]
    sent_at: Mapped[datetime | None]
    # The weekly time (schedule.send_cron) the daemon made this issue for: one issue a week.
    week_slot: Mapped[datetime | None] = mapped_column(unique=True)
    # The approval gate: an editor holds an issue back, or approves it for sending.
    held_at: Mapped[datetime | None]
    approved_at: Mapped[datetime | None]
    proof_sent_at: Mapped[datetime | None]


class IssueItem(Base):
    __tablename__ = "issue_items"

    issue_id: Mapped[int] = mapped_column(
        ForeignKey("issues.id", ondelete="CASCADE"), primary_key=True
    )
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id"), primary_key=True)
    section: Mapped[str] = mapped_column(String(16))
    position: Mapped[int] = mapped_column(Integer)


class IssueEdit(Base):
    """An editor's decision about one item in one issue; kept when the draft is refreshed."""

    __tablename__ = "issue_edits"

    issue_id: Mapped[int] = mapped_column(
        ForeignKey("issues.id", ondelete="CASCADE"), primary_key=True
    )
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id"), primary_key=True)
    pinned: Mapped[bool] = mapped_column(default=False)
    excluded: Mapped[bool] = mapped_column(default=False)
    position: Mapped[int | None]  # 1-based place in its section
    title: Mapped[str | None] = mapped_column(Text)
    summary: Mapped[str | None] = mapped_column(Text)


class Subscriber(Base):
    __tablename__ = "subscribers"
    # Ids are never reused, even on SQLite after the highest one is deleted (`forget`).
    __table_args__ = {"sqlite_autoincrement": True}  # noqa: RUF012 - SQLAlchemy reads it

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)  # normalized
    # A random value made with the record and never reused: the links mailed to this person
    # are bound to it, so no link outlives the record it was made for.
    link_key: Mapped[str] = mapped_column(String(32), default=lambda: secrets.token_urlsafe(16))
    name: Mapped[str] = mapped_column(String(200), default="")
    language: Mapped[str] = mapped_column(String(16), default="")
    # pending | active | unsubscribed | bounced | complained | suppressed
    status: Mapped[str] = mapped_column(String(16), default="active")
    origin: Mapped[str] = mapped_column(String(200), default="")  # how they joined
    # What they want: the sections of the issue, or a pause.
    wants_news: Mapped[bool] = mapped_column(default=True)
    wants_events: Mapped[bool] = mapped_column(default=True)
    wants_calls: Mapped[bool] = mapped_column(default=True)
    paused: Mapped[bool] = mapped_column(default=False)
    # The consent record: when and from where they joined and confirmed.
    consent_at: Mapped[datetime | None]
    consent_source: Mapped[str] = mapped_column(String(300), default="")
    confirmed_at: Mapped[datetime | None]
    confirm_source: Mapped[str] = mapped_column(String(300), default="")
    unsubscribed_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class Suppression(Base):
    """Addresses that must never be added again, kept only as a keyed hash (`forget`)."""

    __tablename__ = "suppressions"

    id: Mapped[int] = mapped_column(primary_key=True)
    address_hash: Mapped[str] = mapped_column(String(64), unique=True)
    reason: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime]


class Delivery(Base):
    """The send ledger: one row per issue and subscriber; `sent` only after the server's 250."""

    __tablename__ = "deliveries"
    __table_args__ = (
        UniqueConstraint("issue_id", "subscriber_id"),
        Index("ix_deliveries_issue_status", "issue_id", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    issue_id: Mapped[int] = mapped_column(ForeignKey("issues.id"))
    subscriber_id: Mapped[int] = mapped_column(ForeignKey("subscribers.id"))
    # pending | sending | deferred | sent | failed | skipped
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(default=0)
    last_reply: Mapped[str | None] = mapped_column(Text)
    message_id: Mapped[str] = mapped_column(String(300))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    next_attempt_at: Mapped[datetime | None]
    sent_at: Mapped[datetime | None]
    # The retry deadline (smtp.retry_for_hours) runs from the first attempt.
    first_attempt_at: Mapped[datetime | None]
    # A `failed` row whose cause was temporary (retries ran out): `issue retry` requeues it.
    temporary: Mapped[bool] = mapped_column(default=False, server_default=false())


class BounceMessage(Base):
    """A bounce, complaint or webhook event as received, kept for audit with what was made of
    it; one that could not be used is kept aside with the reason (`outcome` set_aside)."""

    __tablename__ = "bounce_messages"
    __table_args__ = (Index("ix_bounce_messages_received_at", "received_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    # The message's identity across channels and restarts: a provider's event id, else a
    # hash of the raw bytes; the same key is processed once.
    key: Mapped[str] = mapped_column(String(300), unique=True)
    channel: Mapped[str] = mapped_column(String(32))  # imap|maildir|mbox|stdin|ses|sendgrid|...
    received_at: Mapped[datetime]
    raw: Mapped[bytes] = mapped_column(LargeBinary)
    size: Mapped[int]
    kind: Mapped[str] = mapped_column(String(16))  # hard|soft|complaint|not_bounce|unsubscribe
    reason: Mapped[str] = mapped_column(String(32), default="")
    outcome: Mapped[str] = mapped_column(String(16))  # applied | ignored | set_aside
    note: Mapped[str] = mapped_column(Text, default="")  # what was done, or why not
    subscriber_id: Mapped[int | None] = mapped_column(
        ForeignKey("subscribers.id", ondelete="SET NULL")
    )
    delivery_id: Mapped[int | None] = mapped_column(
        ForeignKey("deliveries.id", ondelete="SET NULL")
    )


class StatusChange(Base):
    """Why a subscriber's status changed, and on what evidence (a bounce, a click, a command)."""

    __tablename__ = "status_changes"

    id: Mapped[int] = mapped_column(primary_key=True)
    subscriber_id: Mapped[int | None] = mapped_column(
        ForeignKey("subscribers.id", ondelete="CASCADE"), index=True
    )
    at: Mapped[datetime]
    before: Mapped[str] = mapped_column(String(16), default="")
    after: Mapped[str] = mapped_column(String(16))
    event: Mapped[str] = mapped_column(String(32))  # subscribers.status.Event
    reason: Mapped[str] = mapped_column(Text, default="")
    bounce_event_id: Mapped[int | None] = mapped_column(
        ForeignKey("bounce_events.id", ondelete="SET NULL")
    )


class BounceEvent(Base):
    __tablename__ = "bounce_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    subscriber_id: Mapped[int | None] = mapped_column(
        ForeignKey("subscribers.id", ondelete="SET NULL")
    )
    delivery_id: Mapped[int | None] = mapped_column(
        ForeignKey("deliveries.id", ondelete="SET NULL")
    )
    kind: Mapped[str] = mapped_column(String(16))  # hard | soft | complaint
    status_code: Mapped[str | None] = mapped_column(String(16))  # e.g. 5.1.1
    diagnostic: Mapped[str] = mapped_column(Text, default="")
    origin: Mapped[str] = mapped_column(String(16))  # smtp | dsn | arf | webhook
    received_at: Mapped[datetime]
    reason: Mapped[str] = mapped_column(String(32), default="", server_default=text("''"))
    smtp_code: Mapped[int | None]
    issue_id: Mapped[int | None] = mapped_column(ForeignKey("issues.id", ondelete="SET NULL"))
    message_id: Mapped[int | None] = mapped_column(
        ForeignKey("bounce_messages.id", ondelete="SET NULL")
    )


class JobRun(Base):
    """One run of a daemon job: when, how it ended, and its one line for the operator."""

    __tablename__ = "job_runs"
    __table_args__ = (Index("ix_job_runs_job_started_at", "job", "started_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    job: Mapped[str] = mapped_column(String(32))  # collect | weekly | deliveries | bounces | ...
    started_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]
    outcome: Mapped[str] = mapped_column(String(16))  # running | ok | failed | skipped
    line: Mapped[str] = mapped_column(Text, default="")


class DaemonHolder(Base):
    """Who runs the daemon now (one row): the lock itself is a PostgreSQL advisory lock or a
    file lock beside the SQLite database; this row says who holds it, for `digest status`."""

    __tablename__ = "daemon_holder"

    id: Mapped[int] = mapped_column(primary_key=True)  # always 1
    host: Mapped[str] = mapped_column(String(255))
    pid: Mapped[int]
    since: Mapped[datetime]
    heartbeat_at: Mapped[datetime]


class OutboxMessage(Base):
    """Mail the web pages send (confirmations, notices), queued so that no request waits on
    SMTP; a worker sends it with its own timeouts and retries."""

    __tablename__ = "outbox"
    __table_args__ = (
        Index("ix_outbox_to_address_created_at", "to_address", "created_at"),
        Index("ix_outbox_sent_at_next_attempt_at", "sent_at", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))  # confirm | notice
    to_address: Mapped[str] = mapped_column(String(320))
    subscriber_id: Mapped[int | None] = mapped_column(
        ForeignKey("subscribers.id", ondelete="SET NULL")
    )
    envelope_from: Mapped[str] = mapped_column(String(320))
    message: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime]
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime | None]
    sent_at: Mapped[datetime | None]
    last_error: Mapped[str] = mapped_column(Text, default="")


class AppKey(Base):
    """Keys the application makes once and keeps, e.g. the one that hashes forgotten
    addresses: it must outlive any rotation of security.secret_key."""

    __tablename__ = "app_keys"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime]
