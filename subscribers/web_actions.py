"""What the public web pages do to subscriber records: sign up, confirm, unsubscribe, change
preferences, ask to come back. Each is one transaction and returns a frozen value, never a
row. Every action behind a link takes the link's target (id and link key) and finds nothing
when the record is not the one the link was made for."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum

from digest.db import subscriber_web as records
from digest.db import subscribers as repo
from digest.db.engine import Database
from digest.db.subscribers import StoredSubscriber
from digest.model import SubscriberStatus
from subscribers.addresses import clean_name
from subscribers.status import STOPPED, Event, transition
from subscribers.tokens import LinkTarget

SECTIONS = ("news", "events", "calls")
S = SubscriberStatus


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
    link_key: str = ""  # for the links in the mail
    email: str = ""
    name: str = ""
    stamp: str = ""  # the record's stamp for the confirm link

    @property
    def sends_mail(self) -> bool:
        return self.kind is not SignupKind.SUPPRESSED

    @property
    def target(self) -> LinkTarget:
        return LinkTarget(self.subscriber_id, self.link_key)


class ConfirmResult(StrEnum):
    READY = "ready"  # the link would confirm (check_confirm only)
    CONFIRMED = "confirmed"
    ALREADY = "already"  # active already: a replayed link, nothing changes
    STALE = "stale"  # the record changed since the link was made (left again, re-signed)
    GONE = "gone"  # no such subscriber any more (forgotten)


@dataclass(frozen=True, slots=True, kw_only=True)
class Preferences:
    subscriber_id: int
    link_key: str
    email: str
    name: str
    status: SubscriberStatus
    news: bool
    events: bool
    calls: bool
    paused: bool

    @property
    def can_resubscribe(self) -> bool:
        return transition(self.status, Event.RESUBSCRIBE).changed

    @property
    def target(self) -> LinkTarget:
        return LinkTarget(self.subscriber_id, self.link_key)


def record_stamp(person: StoredSubscriber) -> str:
    """A short fingerprint of the parts of a record a confirmation changes: a confirm link
    carries it and works only while the record still has it."""

    def seconds(value: datetime | None) -> str:
        return str(int(value.timestamp())) if value else "-"

    text = "|".join(
        (
            str(person.id),
            person.status.value,
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
    found = records.sign_up(
        db, keys, email, now, name=clean_name(name), sections=sections, source=source
    )
    if found is None or found.person.status is S.SUPPRESSED:
        return Signup(kind=SignupKind.SUPPRESSED)
    person = found.person
    if found.new:
        kind = SignupKind.NEW
    elif person.status is S.ACTIVE:
        kind = SignupKind.ACTIVE
    elif person.status is S.PENDING:
        kind = SignupKind.PENDING
    else:
        kind = SignupKind.RETURNING
    return Signup(
        kind=kind,
        subscriber_id=person.id,
        link_key=person.link_key,
        email=person.email,
        name=person.name,
        stamp=record_stamp(person),
    )


def confirm(
    db: Database, target: LinkTarget, stamp: str, now: datetime, *, source: str = "confirm link"
) -> ConfirmResult:
    """Make the person active if their record is still as the link found it."""

    def decide(person: StoredSubscriber) -> StoredSubscriber:
        if _confirm_state(person, stamp) is not ConfirmResult.READY:
            return person
        confirmed = replace(
            person,
            status=transition(person.status, Event.CONFIRM).status,
            unsubscribed_at=None,
            updated_at=now,
            confirmed_at=now,
            confirm_source=source[:300],
        )
        if person.status in STOPPED:
            # Their new consent replaces the old record, which ended when they left.
            consent = f"web signup again; {source}"[:300]
            confirmed = replace(confirmed, consent_at=now, consent_source=consent)
        return confirmed

    changed = records.update_locked(db, target.subscriber_id, target.link_key, decide)
    if changed is None:
        return ConfirmResult.GONE
    state = _confirm_state(changed[0], stamp)
    return ConfirmResult.CONFIRMED if state is ConfirmResult.READY else state


def check_confirm(db: Database, target: LinkTarget, stamp: str) -> ConfirmResult:
    """What `confirm` would do, without doing it (the page a GET of the link shows)."""
    return _confirm_state(_get(db, target), stamp)


def _confirm_state(person: StoredSubscriber | None, stamp: str) -> ConfirmResult:
    if person is None:
        return ConfirmResult.GONE
    if person.status is S.ACTIVE:
        return ConfirmResult.ALREADY
    if record_stamp(person) != stamp or not transition(person.status, Event.CONFIRM).changed:
        return ConfirmResult.STALE
    return ConfirmResult.READY


def unsubscribe(db: Database, target: LinkTarget, now: datetime) -> bool:
    """Stop all mail to the person at once; False when there is no such subscriber.

    Idempotent: a second call changes nothing, and a bounced or complained status (which says
    more than `unsubscribed`) is kept.
    """
    found = repo.unsubscribe(db, target.subscriber_id, now, link_key=target.link_key)
    return found is not None


def preferences(db: Database, target: LinkTarget) -> Preferences | None:
    person = _get(db, target)
    return None if person is None else _preferences(person)


def save_preferences(
    db: Database, target: LinkTarget, sections: Sequence[str], paused: bool, now: datetime
) -> Preferences | None:
    """Store the sections the person wants and whether their mail is paused."""
    chosen = set(sections)

    def decide(person: StoredSubscriber) -> StoredSubscriber:
        return replace(
            person,
            wants_news="news" in chosen,
            wants_events="events" in chosen,
            wants_calls="calls" in chosen,
            paused=paused,
            updated_at=now,
        )

    changed = records.update_locked(db, target.subscriber_id, target.link_key, decide)
    return None if changed is None else _preferences(changed[1])


def come_back(
    db: Database,
    keys: Sequence[str],
    target: LinkTarget,
    now: datetime,
    *,
    source: str = "preferences page",
) -> Signup | None:
    """A person who left asks to subscribe again: nothing changes now. The answer is what a
    signup of their address answers (RETURNING, with the stamp for a confirm link), so the
    caller mails a confirmation to the address as the form does, and only the click in that
    mail makes them active again: a link in a forwarded issue is not their consent. None
    when the link's record is gone; an ACTIVE or PENDING answer when there is nothing to come
    back from (the caller shows the page as it is)."""
    person = _get(db, target)
    if person is None:
        return None
    return signup(
        db,
        keys,
        person.email,
        now,
        name=person.name,
        source=f"asked to subscribe again on the {source}",
    )


def _get(db: Database, target: LinkTarget) -> StoredSubscriber | None:
    return repo.get(db, target.subscriber_id, link_key=target.link_key)


def _preferences(person: StoredSubscriber) -> Preferences:
    return Preferences(
        subscriber_id=person.id,
        link_key=person.link_key,
        email=person.email,
        name=person.name,
        status=person.status,
        news=person.wants_news,
        events=person.wants_events,
        calls=person.wants_calls,
        paused=person.paused,
    )
