"""What a send does with each answer, and how a run ends: pure decisions over values, the
clock passed in, no I/O.

A temporary failure is retried with doubling delays until a deadline measured from the first
attempt (an MTA's queue lifetime), then it is failed with a reason that says so. A delivery
the relay could not even be reached for is not charged an attempt: it stays due.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import IntEnum

from digest.model import FINAL, DeliveryStatus, Recipient, SendOutcome, Settled
from digest.send.classify import Verdict


@dataclass(frozen=True, slots=True, kw_only=True)
class RetryPolicy:
    retry_for: timedelta
    first_delay_seconds: float
    max_delay_seconds: float

    def delay(self, attempts: int) -> timedelta:
        """The wait before attempt `attempts + 1`: doubling from the first delay, capped."""
        seconds = self.first_delay_seconds * 2 ** min(max(attempts - 1, 0), 40)
        return timedelta(seconds=min(seconds, self.max_delay_seconds))


def settle(
    recipient: Recipient,
    outcome: SendOutcome,
    verdict: Verdict,
    now: datetime,
    policy: RetryPolicy,
    *,
    charged: bool = True,
) -> Settled:
    """The row's new state after one answer. `charged` is False when the message never
    reached the relay (it could not be connected to): the row goes back to pending as it was.
    """
    if not charged:
        return Settled(
            delivery_id=recipient.delivery_id,
            subscriber_id=recipient.subscriber_id,
            status=DeliveryStatus.PENDING,
            attempts=recipient.attempts,
            reply=outcome.reply,
            at=now,
            first_attempt_at=recipient.first_attempt_at,
        )
    attempts = recipient.attempts + 1
    first = recipient.first_attempt_at or now
    status, next_at, reply, temporary = outcome.status, None, outcome.reply, False
    if status is DeliveryStatus.DEFERRED:
        deadline = first + policy.retry_for
        if now >= deadline:
            hours = (now - first).total_seconds() / 3600
            status, temporary = DeliveryStatus.FAILED, True
            reply = f"gave up after {attempts} attempt(s) over {hours:.1f} h: {outcome.reply}"
        else:
            next_at = min(now + policy.delay(attempts), deadline)
    return Settled(
        delivery_id=recipient.delivery_id,
        subscriber_id=recipient.subscriber_id,
        status=status,
        attempts=attempts,
        reply=reply,
        at=now,
        first_attempt_at=first,
        next_attempt_at=next_at,
        temporary=temporary,
        bounce=_bounce(outcome, verdict),
        enhanced=verdict.enhanced,
    )


def _bounce(outcome: SendOutcome, verdict: Verdict) -> str | None:
    """A refusal's bounce kind: "hard" for a bad address (5.1.x, the verdict says so),
    "soft" for any other permanent refusal (policy, content, a full or disabled mailbox),
    which the bounce policy counts; None for anything else (sent, deferred, not built)."""
    if verdict.bounce:
        return verdict.bounce
    refused = outcome.code is not None and 500 <= outcome.code < 600
    return "soft" if refused and verdict.status is DeliveryStatus.FAILED else None


class ExitStatus(IntEnum):
    """How `digest issue send` ends; documented in the README."""

    DELIVERED = 0  # every delivery is final and none failed
    ERROR = 1  # a problem stopped the command (settings, database, lease, preflight)
    FAILURES = 3  # every delivery is final, some failed
    DEFERRED = 4  # stopped with deliveries still waiting for a retry
    BREAKER = 5  # stopped because the relay could not be reached


def exit_status(counts: dict[str, int], *, breaker: bool) -> ExitStatus:
    if breaker:
        return ExitStatus.BREAKER
    waiting = sum(n for status, n in counts.items() if status not in FINAL)
    if waiting:
        return ExitStatus.DEFERRED
    if counts.get(DeliveryStatus.FAILED, 0):
        return ExitStatus.FAILURES
    return ExitStatus.DELIVERED


def counts_line(counts: dict[str, int]) -> str:
    """Deliveries per state in one line: "3 failed, 97 sent"."""
    return ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))


def group_replies(replies: Iterable[str], limit: int = 5) -> list[tuple[str, int]]:
    """Failure replies grouped by what the server said, most frequent first: the text up to
    the first address-like or numeric detail, so 550s for different users count as one."""
    counter: Counter[str] = Counter(reply_kind(reply) for reply in replies)
    return counter.most_common(limit)


_GAVE_UP = re.compile(r"^gave up after \d+ attempt\(s\) over [\d.]+ h: ")
_CODE = re.compile(r"^#?\d(\.\d{1,3}){2}$|^\d{3}$")


def reply_kind(reply: str) -> str:
    """A reply without its details: addresses, and numbers after the codes, become marks."""
    if _GAVE_UP.match(reply):
        return "retries ran out, last reply: " + reply_kind(_GAVE_UP.sub("", reply))
    kept = []
    for position, word in enumerate(reply.split()[:12]):
        if "@" in word:
            kept.append("<address>")
        elif position >= 2 and any(c.isdigit() for c in word) and not _CODE.match(word):
            kept.append("…")
        else:
            kept.append(word)
    return " ".join(kept)[:120]
