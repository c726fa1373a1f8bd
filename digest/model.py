"""Frozen value objects that the pipeline's stages hand to each other."""

from __future__ import annotations

import dataclasses
import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

ALL_SECTIONS = frozenset({"news", "events", "calls"})


class SourceKind(StrEnum):
    NEWS = "news"
    EVENTS = "events"
    CALLS = "calls"

    @property
    def item_kind(self) -> ItemKind:
        return {"news": ItemKind.NEWS, "events": ItemKind.EVENT, "calls": ItemKind.CALL}[self]


class ItemKind(StrEnum):
    NEWS = "news"
    EVENT = "event"
    CALL = "call"


class ItemState(StrEnum):
    QUEUED = "queued"
    IN_ISSUE = "in_issue"
    PUBLISHED = "published"
    REJECTED = "rejected"
    EXPIRED = "expired"


class IssueStatus(StrEnum):
    DRAFT = "draft"  # composed, editable, not sent to anyone
    SENDING = "sending"  # the ledger is made; deliveries are under way or waiting
    SENT = "sent"  # every delivery reached a final state


class SubscriberStatus(StrEnum):
    PENDING = "pending"  # signed up on the web, not confirmed yet
    ACTIVE = "active"
    UNSUBSCRIBED = "unsubscribed"
    BOUNCED = "bounced"  # the address does not exist (a hard bounce)
    COMPLAINED = "complained"  # reported an issue as spam
    SUPPRESSED = "suppressed"  # blocked by the operator


class DeliveryStatus(StrEnum):
    PENDING = "pending"
    SENDING = "sending"
    DEFERRED = "deferred"
    SENT = "sent"
    FAILED = "failed"
    SKIPPED = "skipped"


# Why a delivery was skipped: its subscriber left, bounced or paused before it went out.
INACTIVE_REPLY = "subscriber no longer active, or pausing"
# A delivery in one of these states is done: the ledger never changes it again.
FINAL = frozenset({DeliveryStatus.SENT, DeliveryStatus.FAILED, DeliveryStatus.SKIPPED})


@dataclass(frozen=True, slots=True, kw_only=True)
class SourceRef:
    id: int
    url: str
    name: str
    kind: SourceKind
    etag: str | None = None
    last_modified: str | None = None
    dayfirst: bool = True  # how to read 08/11/2017 in this source's text
    timezone: str = "UTC"  # the zone of this source's times that carry none


@dataclass(frozen=True, slots=True, kw_only=True)
class SourceHealth:
    """A source as the operator sees it: what it is and how its last fetches went."""

    source: SourceRef
    created_at: datetime
    last_fetch_at: datetime | None = None
    last_success_at: datetime | None = None
    last_status: int | None = None
    items_found: int = 0
    consecutive_failures: int = 0
    last_error: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ParseOptions:
    """What parsing one source needs to know besides its bytes."""

    kind: SourceKind
    summary_chars: int = 400
    dayfirst: bool = True
    timezone: str = "UTC"
    now: datetime | None = None  # recurring events are expanded from here
    lookahead_days: int = 90


@dataclass(frozen=True, slots=True, kw_only=True)
class Fetched:
    """What one HTTP fetch of a source brought back."""

    url: str
    status: int
    body: bytes = b""
    content_type: str = ""
    etag: str | None = None
    last_modified: str | None = None

    @property
    def not_modified(self) -> bool:
        return self.status == 304


@dataclass(frozen=True, slots=True, kw_only=True)
class Entry:
    """One story read from a feed (or typed by an editor), normalized and sanitized."""

    kind: ItemKind
    title: str
    link: str
    summary: str  # sanitized HTML
    guid: str | None = None
    published_at: datetime | None = None
    event_start: datetime | None = None
    event_end: datetime | None = None
    location: str | None = None
    deadline: datetime | None = None
    needs_review: str | None = None  # why an editor should look, e.g. "no deadline found"


@dataclass(frozen=True, slots=True, kw_only=True)
class SourceReport:
    """How collecting one source went, for the operator."""

    source: SourceRef
    status: int | None = None
    found: int = 0
    new: int = 0
    updated: int = 0
    error: str | None = None

    @property
    def line(self) -> str:
        if self.error:
            return f"{self.source.url}: FAILED: {self.error}"
        if self.status == 304:
            return f"{self.source.url}: unchanged (304)"
        return f"{self.source.url}: {self.found} entries, {self.new} new, {self.updated} updated"


@dataclass(frozen=True, slots=True, kw_only=True)
class QueuedItem:
    """An item as the compose and render stages see it."""

    id: int
    kind: ItemKind
    title: str
    link: str
    summary: str
    published_at: datetime
    event_start: datetime | None = None
    event_end: datetime | None = None
    location: str | None = None
    deadline: datetime | None = None

    def edited(self, edit: ItemEdit | None) -> QueuedItem:
        """The item with the editor's title and summary for one issue, if any."""
        if edit is None or (edit.title is None and edit.summary is None):
            return self
        return dataclasses.replace(
            self,
            title=edit.title if edit.title is not None else self.title,
            summary=edit.summary if edit.summary is not None else self.summary,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class StoredItem:
    """An item as the queue holds it, for listings: its state and where it came from."""

    id: int
    kind: ItemKind
    state: ItemState
    title: str
    link: str
    summary: str
    published_at: datetime
    event_start: datetime | None = None
    event_end: datetime | None = None
    location: str | None = None
    deadline: datetime | None = None
    guid: str | None = None
    needs_review: str | None = None
    source_id: int | None = None

    @property
    def date(self) -> datetime | None:
        """The date that matters for its kind: an event's start, a call's deadline."""
        return {ItemKind.EVENT: self.event_start, ItemKind.CALL: self.deadline}.get(
            self.kind, self.published_at
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class PlacedItem:
    """An item as placed in a stored issue: its section and its 0-based place there."""

    section: str
    position: int
    item: QueuedItem


@dataclass(frozen=True, slots=True, kw_only=True)
class ItemEdit:
    """An editor's decision about one item for one issue."""

    item_id: int
    pinned: bool = False  # in the issue even past its section's limit
    excluded: bool = False  # never in this issue
    position: int | None = None  # 1-based place in its section
    title: str | None = None  # replaces the item's title in this issue only
    summary: str | None = None  # replaces the item's summary (sanitized HTML)


SPOTLIGHT_KINDS = ("quote", "interview", "link")


@dataclass(frozen=True, slots=True, kw_only=True)
class Spotlight:
    """A block the editor adds: a quote, an interview or a link to a page."""

    kind: str  # quote | interview | link
    title: str = ""
    text: str = ""
    by: str = ""  # who said it, who was interviewed
    url: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class IssuePlan:
    """The items chosen for one issue, in section order, and the editor's own words."""

    number: int
    date: datetime
    news: tuple[QueuedItem, ...] = ()
    events: tuple[QueuedItem, ...] = ()
    calls: tuple[QueuedItem, ...] = ()
    intro: str = ""
    spotlight: Spotlight | None = None

    @property
    def sections(self) -> dict[str, tuple[QueuedItem, ...]]:
        return {"news": self.news, "events": self.events, "calls": self.calls}

    @property
    def size(self) -> int:
        return len(self.news) + len(self.events) + len(self.calls)


@dataclass(frozen=True, slots=True)
class Placeholders:
    """Per-subscriber fields left in the rendered issue for the send stage to fill.

    Each issue gets its own random `key` when it is rendered, stored with the issue, and the
    markers carry it (`%%UNSUBSCRIBE_URL_<key>%%`): text from outside (a feed, an editor, a
    name) cannot know it, so it can never make a marker that becomes someone's personal link.
    The empty key gives the fixed markers of issues stored before keys existed.
    """

    key: str = ""

    @classmethod
    def new(cls) -> Placeholders:
        return cls(secrets.token_hex(16).upper())

    def _marker(self, name: str) -> str:
        return f"%%{name}_{self.key}%%" if self.key else f"%%{name}%%"

    @property
    def unsubscribe(self) -> str:
        return self._marker("UNSUBSCRIBE_URL")

    @property
    def preferences(self) -> str:
        return self._marker("PREFERENCES_URL")

    @property
    def greeting(self) -> str:
        return self._marker("GREETING")

    @property
    def markers(self) -> tuple[str, str, str]:
        return (self.unsubscribe, self.preferences, self.greeting)


PLACEHOLDERS = Placeholders()
# Anything shaped like a marker, of any issue or none: cut out of outside text before it is
# rendered, so it can neither be one nor be taken for one.
MARKER_LIKE = re.compile(r"%%[A-Za-z0-9_.\-]*%%")


@dataclass(frozen=True, slots=True, kw_only=True)
class StoredIssue:
    """An issue as stored: its status, the rendered message and the editor's own words."""

    id: int
    number: int
    status: IssueStatus
    subject: str
    preheader: str
    html: str
    text: str
    intro: str = ""
    spotlight: Spotlight | None = None
    created_at: datetime
    composed_at: datetime
    send_started_at: datetime | None = None
    sent_at: datetime | None = None
    placeholders: Placeholders = PLACEHOLDERS  # the markers in `html` and `text`

    @property
    def rendered(self) -> RenderedIssue:
        return RenderedIssue(
            subject=self.subject,
            preheader=self.preheader,
            html=self.html,
            text=self.text,
            placeholders=self.placeholders,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class ArchivedIssue:
    """A sent issue as the public archive lists it."""

    number: int
    subject: str
    preheader: str
    sent_at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class StatusReport:
    """The queue, the subscribers and the latest issue at a glance, for `digest status`."""

    items: dict[str, int]  # "kind/state" -> count
    subscribers: dict[str, int]  # status -> count
    latest_issue: StoredIssue | None = None
    deliveries: dict[str, int] = dataclasses.field(default_factory=dict)  # of the latest issue


@dataclass(frozen=True, slots=True, kw_only=True)
class RenderedIssue:
    """The issue rendered once; per-subscriber fields are still placeholders."""

    subject: str
    preheader: str
    html: str
    text: str
    placeholders: Placeholders = PLACEHOLDERS


@dataclass(frozen=True, slots=True, kw_only=True)
class Recipient:
    delivery_id: int
    subscriber_id: int
    email: str
    name: str
    message_id: str
    attempts: int = 0
    first_attempt_at: datetime | None = None
    sections: frozenset[str] = ALL_SECTIONS  # the sections they chose to receive
    # The record's link key, which their personal links are bound to ("": none, e.g. a
    # proof or a sample: links that reach nobody).
    link_key: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class SendOutcome:
    """The server's answer for one recipient."""

    delivery_id: int
    status: DeliveryStatus
    reply: str
    code: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Settled:
    """One delivery's new state, as the ledger (and the journal) store it."""

    delivery_id: int
    subscriber_id: int
    status: DeliveryStatus
    attempts: int
    reply: str
    at: datetime  # when the answer came
    first_attempt_at: datetime | None
    next_attempt_at: datetime | None = None
    temporary: bool = False
    bounce: str | None = None  # "hard" when the address must not be mailed again
    enhanced: str | None = None


class BounceKind(StrEnum):
    HARD = "hard"  # the address does not exist: never mail it again
    SOFT = "soft"  # it exists but did not take this message (full, blocked, spam, too large…)
    COMPLAINT = "complaint"  # the reader reported the message as spam (an ARF report)
    NOT_BOUNCE = "not_bounce"  # an auto-reply, a delivery notice, ordinary mail


class BounceReason(StrEnum):
    """Why a message bounced, in words an operator reads (Sisimai's reasons, grouped)."""

    USER_UNKNOWN = "user_unknown"
    DOMAIN_NOT_FOUND = "domain_not_found"
    MAILBOX_FULL = "mailbox_full"
    DISABLED = "disabled"  # the mailbox exists but is suspended or inactive
    BLOCKED = "blocked"  # the sender, its IP or domain is refused: policy
    SPAM = "spam"  # the content was rejected as spam
    TOO_LARGE = "too_large"
    EXPIRED = "expired"  # the relay gave up retrying
    NETWORK = "network"  # no route, connection refused, DNS failures on the way
    SYSTEM = "system"  # the remote system failed: disk, configuration, loops
    REJECTED = "rejected"  # refused without a more precise reason
    FEEDBACK = "feedback"  # a complaint
    VACATION = "vacation"  # an auto-reply
    DELIVERED = "delivered"  # a successful-delivery or relay notice
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True, kw_only=True)
class BounceReport:
    """What one returned message says, read from its bytes alone (classify is pure)."""

    is_bounce: bool  # hard, soft or complaint
    kind: BounceKind
    recipients: tuple[str, ...] = ()  # lower-case addresses that bounced or complained
    reason: BounceReason = BounceReason.UNKNOWN
    status: str | None = None  # the enhanced status code, e.g. "5.1.1"
    code: int | None = None  # the SMTP reply code, e.g. 550
    diagnostic: str = ""  # the remote server's words, on one line
    delivery_id: int | None = None  # from a VERP token that verified with our keys
    feedback_type: str | None = None  # ARF: abuse, fraud, virus, other…


@dataclass(frozen=True, slots=True, kw_only=True)
class ProviderEvent:
    """One bounce or complaint a relay reported by webhook, already read into a report."""

    key: str  # "PROVIDER:EVENT_ID": the same event twice is processed once
    report: BounceReport
    raw: bytes  # the event as received, kept for audit
