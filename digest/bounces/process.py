"""Process one returned message or provider event: keep it for audit, tie it to a delivery
we made, and apply the bounce policy to its subscriber (`process_message`, `process_event`).

Nothing is dropped: a message that is not recognised, or cannot be tied to someone we mailed,
is kept aside with the reason. Forged evidence changes nothing: a report naming an address we
never mailed, or carrying a VERP token that does not verify, is kept aside too. A VERP token
that verifies names the delivery, and so the subscriber, whatever address the text names.
"""

from __future__ import annotations

import dataclasses
import email.policy
import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from email.message import Message
from email.parser import BytesHeaderParser
from email.utils import getaddresses

from digest.db import bounces as repo
from digest.db import subscribers as people
from digest.db.engine import Database
from digest.errors import SubscriberError
from digest.model import BounceKind, BounceReason, BounceReport, ProviderEvent, SubscriberStatus
from digest.send.verp import delivery_of
from digest.settings import Settings
from subscribers.addresses import normalize_address
from subscribers.tokens import UNSUBSCRIBE, InvalidLink, TokenSigner

# classify(raw, verp_keys=[...]) -> BounceReport; the real one is digest.bounces.classify's.
Classifier = Callable[..., BounceReport]

APPLIED, IGNORED, SET_ASIDE, DUPLICATE = "applied", "ignored", "set_aside", "duplicate"
UNSUBSCRIBE_KIND = "unsubscribe"
# Notices that need nothing done: an auto-reply, a delivery or relay report.
_HARMLESS = frozenset({BounceReason.VACATION, BounceReason.DELIVERED})
# Where a returned message carries the address it was returned to (our VERP sender).
_RETURNED_TO = ("To", "Delivered-To", "X-Original-To", "Envelope-To", "X-Envelope-To")
# The subject a List-Unsubscribe mailto: link writes (digest/send/personalize.py).
_UNSUBSCRIBE_SUBJECT = re.compile(r"\s*unsubscribe\s+([A-Za-z0-9._-]{1,300})\s*", re.IGNORECASE)


@dataclass(frozen=True, slots=True, kw_only=True)
class Processed:
    """What processing one message or event did, for the ingest channels and the operator."""

    message_id: int | None  # the bounce_messages row (None for a duplicate)
    outcome: str  # "applied" | "ignored" | "set_aside" | "duplicate"
    kind: str  # BounceKind value, or "unsubscribe"
    subscriber_id: int | None
    status_after: SubscriberStatus | None  # the status it changed to, if it changed one
    line: str  # one readable line for the operator


def process_message(
    db: Database,
    settings: Settings,
    raw: bytes,
    *,
    channel: str,
    now: datetime,
    key: str | None = None,
    classifier: Classifier | None = None,
) -> Processed:
    """Keep and apply one returned message (a DSN, an ARF report, an auto-reply, a mailto:
    unsubscribe request); the same `key` (default: the raw bytes' sha256) is processed once,
    across runs and channels."""
    key = key or "sha256:" + hashlib.sha256(raw).hexdigest()
    came = _Arrival(raw=raw, key=key, channel=channel, now=now)
    if repo.has_key(db, came.key):
        return _duplicate(came.key)
    headers = _headers(raw)
    token = _unsubscribe_token(headers)
    if token is not None:
        return _unsubscribe(db, settings, came, token)
    classify = classifier or _classifier()
    try:
        report = classify(raw, verp_keys=settings.signing_keys)
    except Exception as e:  # a message nobody can read is kept, not lost
        report = BounceReport(is_bounce=False, kind=BounceKind.NOT_BOUNCE)
        return _kept(db, came, report, SET_ASIDE, f"could not be read: {type(e).__name__}: {e}")
    forged = ""
    if report.delivery_id is None:
        verified, forged = _verp_of(headers, settings)
        if verified is not None:
            report = dataclasses.replace(report, delivery_id=verified)
    if forged and report.is_bounce:
        note = f"the VERP address {forged} does not verify: forged or altered; nothing changed"
        return _kept(db, came, report, SET_ASIDE, note, _subscriber_named(db, report))
    origin = "arf" if report.kind is BounceKind.COMPLAINT else "dsn"
    return _apply(db, settings, came, report, origin=origin)


def process_event(
    db: Database, settings: Settings, event: ProviderEvent, *, channel: str, now: datetime
) -> Processed:
    """Keep and apply one relay's webhook event, keyed by the provider's event id: the same
    event delivered twice is processed once."""
    came = _Arrival(raw=event.raw, key=event.key, channel=channel, now=now)
    if repo.has_key(db, came.key):
        return _duplicate(came.key)
    return _apply(db, settings, came, event.report, origin="webhook")


@dataclass(frozen=True, slots=True, kw_only=True)
class _Arrival:
    """One message or event as it came: its bytes, its key, its channel and when."""

    raw: bytes
    key: str
    channel: str
    now: datetime


def _apply(
    db: Database, settings: Settings, came: _Arrival, report: BounceReport, *, origin: str
) -> Processed:
    if not report.is_bounce:
        if report.reason in _HARMLESS:
            note = f"{report.reason.value.replace('_', ' ')}: nothing to do"
            return _kept(db, came, report, IGNORED, note)
        note = "not recognised as a bounce, a complaint or an auto-reply"
        return _kept(db, came, report, SET_ASIDE, note)
    target, why = _target(db, report)
    if target is None:
        return _kept(db, came, report, SET_ASIDE, why, _subscriber_named(db, report))
    applied = repo.apply_bounce(
        db,
        key=came.key,
        channel=came.channel,
        raw=came.raw,
        at=came.now,
        report=report,
        target=target,
        origin=origin,
        rules=settings.bounces,
        note=why,
    )
    if applied is None:
        return _duplicate(came.key)
    note = "; ".join(part for part in (why, applied.reason) if part)
    return Processed(
        message_id=applied.message_id,
        outcome=APPLIED,
        kind=report.kind.value,
        subscriber_id=target.subscriber_id,
        status_after=applied.after,
        line=f"#{applied.message_id} applied: {report.kind.value} for {target.email}: {note}",
    )


def _target(db: Database, report: BounceReport) -> tuple[repo.Target | None, str]:
    """The delivery the report is about and a note; (None, why) when it names nobody we
    mailed."""
    if report.delivery_id is not None:
        target = repo.target_of_delivery(db, report.delivery_id)
        if target is None:
            return None, f"the VERP token names delivery {report.delivery_id}, not on record"
        named = [a for a in report.recipients if a.lower() != target.email]
        if named:
            return target, f"the text names {named[0]}; the VERP token names {target.email}"
        return target, ""
    if not report.recipients:
        return None, "names no recipient and carries no VERP token"
    reasons = []
    for address in report.recipients:
        target = repo.target_of_address(db, _normal(address))
        if target is None:
            reasons.append(f"{address} is not a subscriber")
        elif target.delivery_id is None:
            reasons.append(f"{address} was never mailed")
        else:
            return target, ""
    return None, "; ".join(reasons) + ": nothing changed"


def _subscriber_named(db: Database, report: BounceReport) -> int | None:
    """The subscriber a set-aside report names, so that `subscribers forget` finds it."""
    for address in report.recipients:
        target = repo.target_of_address(db, _normal(address))
        if target is not None:
            return target.subscriber_id
    return None


def _unsubscribe(db: Database, settings: Settings, came: _Arrival, token: str) -> Processed:
    """A List-Unsubscribe mailto: request: the token in its subject names the subscriber."""
    try:
        target = TokenSigner(settings.signing_keys, UNSUBSCRIBE).verify(token)
    except InvalidLink:
        note = "an unsubscribe request whose token does not verify: nothing changed"
        return _keep(db, came, kind=UNSUBSCRIBE_KIND, outcome=SET_ASIDE, note=note)
    # The token binds the record's link key too: a forgotten person's old request never
    # reaches a record made later.
    subscriber_id, link_key = target.subscriber_id, target.link_key
    before = people.get(db, subscriber_id, link_key=link_key)
    person = people.unsubscribe(
        db,
        subscriber_id,
        came.now,
        link_key=link_key,
        source="mailto",
        reason=f"mailto: request {came.key}",
    )
    if before is None or person is None:
        note = f"an unsubscribe request for subscriber {subscriber_id}, who is not on record"
        return _keep(db, came, kind=UNSUBSCRIBE_KIND, outcome=SET_ASIDE, note=note)
    changed = person.status != before.status
    return _keep(
        db,
        came,
        kind=UNSUBSCRIBE_KIND,
        outcome=APPLIED,
        note=f"unsubscribed {person.email}"
        if changed
        else f"{person.email} is already {person.status}: nothing changed",
        subscriber_id=person.id,
        status_after=person.status if changed else None,
    )


def _kept(
    db: Database,
    came: _Arrival,
    report: BounceReport,
    outcome: str,
    note: str,
    subscriber_id: int | None = None,
) -> Processed:
    return _keep(
        db,
        came,
        kind=report.kind.value,
        reason=report.reason.value,
        outcome=outcome,
        note=note,
        subscriber_id=subscriber_id,
    )


def _keep(
    db: Database,
    came: _Arrival,
    *,
    kind: str,
    reason: str = "",
    outcome: str,
    note: str,
    subscriber_id: int | None = None,
    status_after: SubscriberStatus | None = None,
) -> Processed:
    message_id = repo.store_message(
        db,
        key=came.key,
        channel=came.channel,
        raw=came.raw,
        at=came.now,
        kind=kind,
        reason=reason,
        outcome=outcome,
        note=note,
        subscriber_id=subscriber_id,
    )
    if message_id is None:
        return _duplicate(came.key)
    words = outcome.replace("_", " ")
    return Processed(
        message_id=message_id,
        outcome=outcome,
        kind=kind,
        subscriber_id=subscriber_id,
        status_after=status_after,
        line=f"#{message_id} {words}: {kind}: {note}",
    )


def _duplicate(key: str) -> Processed:
    return Processed(
        message_id=None,
        outcome=DUPLICATE,
        kind="",
        subscriber_id=None,
        status_after=None,
        line=f"duplicate: {key} was processed before",
    )


def _headers(raw: bytes) -> Message | None:
    try:
        return BytesHeaderParser(policy=email.policy.default).parsebytes(raw)
    except Exception:  # unreadable headers: the classifier has its say
        return None


def _unsubscribe_token(headers: Message | None) -> str | None:
    if headers is None:
        return None
    try:
        subject = str(headers.get("Subject", "") or "")
    except Exception:  # a malformed encoded word is no request
        return None
    match = _UNSUBSCRIBE_SUBJECT.fullmatch(subject)
    return match.group(1) if match else None


def _verp_of(headers: Message | None, settings: Settings) -> tuple[int | None, str]:
    """From the addresses the message was returned to: a delivery id whose VERP token
    verifies, and an address in our VERP form whose token does not ("" when none)."""
    if headers is None:
        return None, ""
    base = settings.smtp.envelope_from or settings.newsletter.from_address
    local, _, domain = base.lower().rpartition("@")
    forged = ""
    try:
        values = [str(v) for name in _RETURNED_TO for v in headers.get_all(name, [])]
    except Exception:  # malformed headers name no delivery
        return None, ""
    for _, address in getaddresses(values):
        text = address.strip().lower()
        if not (text.startswith(f"{local}+") and text.endswith(f"@{domain}")):
            continue
        delivery_id = delivery_of(text, settings.signing_keys)
        if delivery_id is not None:
            return delivery_id, ""
        forged = forged or text
    return None, forged


def _normal(address: str) -> str:
    try:
        return normalize_address(address)
    except SubscriberError:
        return address.strip().lower()


def _classifier() -> Classifier:
    # Imported when first needed: the classifier and its parsers are the heavy part.
    from digest.bounces.classify import classify

    return classify
