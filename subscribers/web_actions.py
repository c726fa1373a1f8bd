"""What the public web pages do to subscriber records: sign up, confirm, unsubscribe, change
preferences, resubscribe. Each is one transaction and returns a frozen value, never a row."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from digest.db.engine import Database
from digest.db.schema import Subscriber
from digest.errors import StorageError
from subscribers.addresses import clean_name
from subscribers.lifecycle import is_suppressed

SECTIONS = ("news", "events", "calls")
# Statuses a person leaves only by their own new consent (a confirmed signup, a click on
# "resubscribe" behind a link that was mailed to them).
STOPPED = ("unsubscribed", "bounced", "complained")


class SignupKind(StrEnum):
    NEW = "new"  # a pending record was made; send the confirmation
    PENDING = "pending"  # signed up before and not confirmed yet; send it again
    RETURNING = "returning"  # left, bounced or complained; confirming makes them active
    ACTIVE = "active"  # already subscribed; send a notice, change nothing
    SUPPRESSED = "suppressed"  # forgotten: nothing is stored and nothing is sent


@dataclass(frozen=True, slots=True, kw_only=True)
class Signup:
    kind: SignupKind
    subscriber_id: int = 0
    email: str = ""
    name: str = ""
    stamp: str = ""  # the record's stamp for the confirm link

    @property
    def sends_mail(self) -> bool:
        return self.kind is not SignupKind.SUPPRESSED


class ConfirmResult(StrEnum):
    READY = "ready"  # the link would confirm (check_confirm only)
    CONFIRMED = "confirmed"
    ALREADY = "already"  # active already: a replayed link, nothing changes
    STALE = "stale"  # the record changed since the link was made (left again, re-signed)
    GONE = "gone"  # no such subscriber any more (forgotten)


@dataclass(frozen=True, slots=True, kw_only=True)
class Preferences:
    subscriber_id: int
    email: str
    name: str
    status: str
    news: bool
    events: bool
    calls: bool
    paused: bool

    @property
    def can_resubscribe(self) -> bool:
        return self.status in STOPPED


def record_stamp(person: Subscriber) -> str:
    """A short fingerprint of the parts of a record a confirmation changes: a confirm link
    carries it and works only while the record still has it."""

    def seconds(value: datetime | None) -> str:
        return str(int(value.timestamp())) if value else "-"

    text = "|".join(
        (
            str(person.id),
            person.status,
            seconds(person.consent_at),
            seconds(person.confirmed_at),
            seconds(person.unsubscribed_at),
        )
    )
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def signup(
    db: Database,
    keys: Sequence[str],
    email: str,
    now: datetime,
    *,
    name: str = "",
    sections: Sequence[str] = SECTIONS,
    source: str = "web signup",
) -> Signup:
    """Record a signup from the form for a normalized `email`.

    A new address becomes `pending` with its consent record. An existing record is not
    changed at all: the form is open to anyone, so a stranger must not be able to rename,
    re-section or re-activate somebody else; the confirmation mail carries the decision.
    """
    try:
        return _signup(db, keys, email, now, name, sections, source)
    except StorageError as e:
        # Two posts of the same new address at once (a double click): the second insert
        # breaks the unique address; by now the record is there and the answer is the same.
        if not isinstance(e.__cause__, IntegrityError):
            raise
        return _signup(db, keys, email, now, name, sections, source)


def _signup(
    db: Database,
    keys: Sequence[str],
    email: str,
    now: datetime,
    name: str,
    sections: Sequence[str],
    source: str,
) -> Signup:
    with db.session() as session:
        if is_suppressed(session, keys, email):
            return Signup(kind=SignupKind.SUPPRESSED)
        person = session.scalars(select(Subscriber).where(Subscriber.email == email)).first()
        if person is None:
            chosen = set(sections)
            person = Subscriber(
                email=email,
                name=clean_name(name),
                status="pending",
                origin="web",
                wants_news="news" in chosen,
                wants_events="events" in chosen,
                wants_calls="calls" in chosen,
                consent_at=now,
                consent_source=source[:300],
                created_at=now,
                updated_at=now,
            )
            session.add(person)
            session.flush()
            kind = SignupKind.NEW
        elif person.status == "suppressed":
            return Signup(kind=SignupKind.SUPPRESSED)
        elif person.status == "active":
            kind = SignupKind.ACTIVE
        elif person.status == "pending":
            kind = SignupKind.PENDING
        else:
            kind = SignupKind.RETURNING
        return Signup(
            kind=kind,
            subscriber_id=person.id,
            email=person.email,
            name=person.name,
            stamp=record_stamp(person),
        )


def confirm(
    db: Database, subscriber_id: int, stamp: str, now: datetime, *, source: str = "confirm link"
) -> ConfirmResult:
    """Make the person active if their record is still as the link found it."""
    with db.session() as session:
        person = session.get(Subscriber, subscriber_id, with_for_update=True)
        state = _confirm_state(person, stamp)
        if person is None or state is not ConfirmResult.READY:
            return state
        if person.status in STOPPED:
            # Their new consent replaces the old record, which ended when they left.
            person.consent_at, person.consent_source = now, f"web signup again; {source}"[:300]
        person.status, person.unsubscribed_at, person.updated_at = "active", None, now
        person.confirmed_at, person.confirm_source = now, source[:300]
        return ConfirmResult.CONFIRMED


def check_confirm(db: Database, subscriber_id: int, stamp: str) -> ConfirmResult:
    """What `confirm` would do, without doing it (the page a GET of the link shows)."""
    with db.session() as session:
        return _confirm_state(session.get(Subscriber, subscriber_id), stamp)


def _confirm_state(person: Subscriber | None, stamp: str) -> ConfirmResult:
    if person is None:
        return ConfirmResult.GONE
    if person.status == "active":
        return ConfirmResult.ALREADY
    if record_stamp(person) != stamp or person.status not in ("pending", *STOPPED):
        return ConfirmResult.STALE
    return ConfirmResult.READY


def unsubscribe(db: Database, subscriber_id: int, now: datetime) -> bool:
    """Stop all mail to the person at once; False when there is no such subscriber.

    Idempotent: a second call changes nothing, and a bounced or complained status (which says
    more than `unsubscribed`) is kept.
    """
    with db.session() as session:
        person = session.get(Subscriber, subscriber_id, with_for_update=True)
        if person is None:
            return False
        if person.status in ("active", "pending"):
            person.status, person.unsubscribed_at, person.updated_at = "unsubscribed", now, now
        return True


def preferences(db: Database, subscriber_id: int) -> Preferences | None:
    with db.session() as session:
        person = session.get(Subscriber, subscriber_id)
        return None if person is None else _preferences(person)


def save_preferences(
    db: Database, subscriber_id: int, sections: Sequence[str], paused: bool, now: datetime
) -> Preferences | None:
    """Store the sections the person wants and whether their mail is paused."""
    chosen = set(sections)
    with db.session() as session:
        person = session.get(Subscriber, subscriber_id, with_for_update=True)
        if person is None:
            return None
        person.wants_news = "news" in chosen
        person.wants_events = "events" in chosen
        person.wants_calls = "calls" in chosen
        person.paused, person.updated_at = paused, now
        return _preferences(person)


def resubscribe(
    db: Database, subscriber_id: int, now: datetime, *, source: str = "preferences page"
) -> Preferences | None:
    """Make a person who left active again, by their own click on a link mailed to them."""
    with db.session() as session:
        person = session.get(Subscriber, subscriber_id, with_for_update=True)
        if person is None:
            return None
        if person.status in STOPPED:
            person.status, person.unsubscribed_at, person.paused = "active", None, False
            person.consent_at, person.consent_source = now, f"resubscribed on the {source}"[:300]
            person.updated_at = now
        return _preferences(person)


def _preferences(person: Subscriber) -> Preferences:
    return Preferences(
        subscriber_id=person.id,
        email=person.email,
        name=person.name,
        status=person.status,
        news=person.wants_news,
        events=person.wants_events,
        calls=person.wants_calls,
        paused=person.paused,
    )
