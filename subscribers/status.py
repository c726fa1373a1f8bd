"""The one place that decides how a subscriber's status may change, from what, and why.

Every writer of a status (the CLI, the public web pages, an import, the send ledger and the
bounce stage) asks `transition` first and stores what it answers. It is a pure function of
the current status and the event, so the whole table is tested without a database.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from functools import cache

from digest.errors import SubscriberError
from digest.model import SubscriberStatus

S = SubscriberStatus

# A person's own choice or a bad address: only their new consent (or an operator's --force,
# who must have it) makes them active again.
STOPPED = frozenset({S.UNSUBSCRIBED, S.BOUNCED, S.COMPLAINED})
# What an import or an operator's `add` never undoes without --force.
FINAL = STOPPED | {S.SUPPRESSED}


class Event(StrEnum):
    """Why a status would change."""

    SIGNUP = "signup"  # the public form: a new address becomes pending, nothing else changes
    CONFIRM = "confirm"  # the confirmation link (also a signup again after leaving)
    RESUBSCRIBE = "resubscribe"  # "subscribe again" behind a link that was mailed to them
    ADD = "add"  # the operator adds an address (`subscribers add`, an import)
    UNSUBSCRIBE = "unsubscribe"  # the link, List-Unsubscribe, the operator
    HARD_BOUNCE = "hard_bounce"  # the address does not exist
    SOFT_LIMIT = "soft_limit"  # soft bounces on too many distinct issues (bounces.soft_limit)
    COMPLAINT = "complaint"  # marked as spam
    SUPPRESS = "suppress"  # the operator blocks the address


@dataclass(frozen=True, slots=True)
class Transition:
    """The answer: the status after the event, whether that is a change, and why not when
    the event is refused."""

    before: SubscriberStatus | None
    after: SubscriberStatus | None
    refused: str = ""

    @property
    def allowed(self) -> bool:
        return not self.refused

    @property
    def changed(self) -> bool:
        return self.allowed and self.after != self.before

    @property
    def status(self) -> SubscriberStatus:
        """The status to store; SubscriberError (saying why) when the event is refused."""
        if self.refused or self.after is None:
            raise SubscriberError(self.refused or "there is no such subscriber")
        return self.after


def transition(
    current: SubscriberStatus | None, event: Event, *, force: bool = False
) -> Transition:
    """The status a subscriber in `current` (None: no record yet) has after `event`.

    `force` is the operator's word that the person gave new consent; it lets ADD bring back
    an address that left, bounced, complained or was suppressed.
    """
    if current is None:
        start = {Event.SIGNUP: S.PENDING, Event.ADD: S.ACTIVE}.get(event)
        if start is None:
            return Transition(None, None, refused="there is no such subscriber")
        return Transition(None, start)
    if event is Event.SIGNUP:
        return Transition(current, current)  # the form changes no existing record
    if event is Event.ADD:
        if current is S.ACTIVE:
            return Transition(current, current, refused="is already subscribed")
        if current in FINAL and not force:
            return Transition(
                current,
                current,
                refused=f"is {current}; use --force to subscribe them again "
                "(only with their new consent)",
            )
        return Transition(current, S.ACTIVE)
    if event in (Event.CONFIRM, Event.RESUBSCRIBE):
        if current is S.SUPPRESSED:
            return Transition(current, current, refused="is suppressed")
        if event is Event.RESUBSCRIBE and current is S.PENDING:
            return Transition(current, current, refused="has not confirmed yet")
        return Transition(current, S.ACTIVE)
    if event is Event.UNSUBSCRIBE:
        # Bounced, complained and suppressed say more than "unsubscribed": they are kept.
        after = S.UNSUBSCRIBED if current in (S.ACTIVE, S.PENDING) else current
        return Transition(current, after)
    if event in (Event.HARD_BOUNCE, Event.SOFT_LIMIT):
        # Their own choice (left, complained) and the operator's block are kept; an address
        # that keeps refusing our mail is stopped as one that does not exist.
        after = S.BOUNCED if current in (S.ACTIVE, S.PENDING) else current
        return Transition(current, after)
    if event is Event.COMPLAINT:
        after = current if current is S.SUPPRESSED else S.COMPLAINED
        return Transition(current, after)
    return Transition(current, S.SUPPRESSED)  # Event.SUPPRESS


@cache
def changed_from(event: Event, *, force: bool = False) -> frozenset[SubscriberStatus]:
    """The statuses that `event` changes: for a bulk update's WHERE clause."""
    return frozenset(s for s in S if transition(s, event, force=force).changed)
