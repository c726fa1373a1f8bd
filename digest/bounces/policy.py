"""The bounce policy: what a subscriber's bounce history means for their status. Pure, the
clock passed in; the repositories call it inside the transaction that records the evidence.

A hard bounce or a complaint stops the subscriber at once (a complaint for good). Soft
bounces stop them only when they come back on `soft_limit` distinct issues within
`soft_window_days`: one full mailbox is no reason to stop, three issues in a row refused are.
A delivery that went through after those bounces (an issue sent, not bounced) shows the
address works again, and the count starts over.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from digest.model import BounceKind
from digest.settings import BounceSettings
from subscribers.status import Event


@dataclass(frozen=True, slots=True, kw_only=True)
class PastBounce:
    """One soft bounce in a subscriber's history: when it came and on which issue."""

    at: datetime
    issue_id: int | None  # None: the issue could not be told; counted as one of its own


@dataclass(frozen=True, slots=True, kw_only=True)
class Decision:
    """The policy's answer: the status event to apply (None: none) and why, in words."""

    event: Event | None
    reason: str


def decide(
    kind: BounceKind,
    *,
    soft_history: Sequence[PastBounce] = (),
    last_delivered: datetime | None = None,
    now: datetime,
    rules: BounceSettings,
    detail: str = "",
) -> Decision:
    """What one new bounce of `kind` means. `soft_history` holds the subscriber's soft
    bounces including this one when it is soft; `last_delivered` is when an issue last went
    through to them without bouncing; `detail` (code, reason, the server's words) ends the
    reason."""
    said = f": {detail}" if detail else ""
    if kind is BounceKind.HARD:
        return Decision(event=Event.HARD_BOUNCE, reason=f"hard bounce{said}")
    if kind is BounceKind.COMPLAINT:
        return Decision(event=Event.COMPLAINT, reason=f"complaint{said}")
    if kind is not BounceKind.SOFT:
        return Decision(event=None, reason=f"not a bounce{said}")
    count = soft_count(soft_history, last_delivered=last_delivered, now=now, rules=rules)
    window = f"within {rules.soft_window_days} days"
    if count >= rules.soft_limit:
        return Decision(
            event=Event.SOFT_LIMIT,
            reason=f"soft bounces on {count} distinct issues {window} "
            f"(limit {rules.soft_limit}){said}",
        )
    return Decision(
        event=None,
        reason=f"soft bounce {count} of {rules.soft_limit} {window}{said}",
    )


def soft_count(
    history: Sequence[PastBounce],
    *,
    last_delivered: datetime | None,
    now: datetime,
    rules: BounceSettings,
) -> int:
    """Distinct issues with a soft bounce inside the window and after the last delivery that
    went through."""
    start = now - timedelta(days=rules.soft_window_days)
    issues: set[object] = set()
    for bounce in history:
        if bounce.at < start or (last_delivered is not None and bounce.at <= last_delivered):
            continue
        issues.add(bounce.issue_id if bounce.issue_id is not None else ("at", bounce.at))
    return len(issues)


def rate_warnings(
    number: int, *, hard_rate: float, complaint_rate: float, rules: BounceSettings
) -> list[str]:
    """Warnings for one issue's rates: a complaint rate nearing bounces.complaint_warn_rate
    (from 80 % of it: Gmail and Yahoo refuse bulk mail from senders past 0.3 %), a hard-bounce
    rate above bounces.hard_warn_rate (a list that needs cleaning)."""
    found = []
    near = round(0.8 * rules.complaint_warn_rate, 12)  # 0.8 * 0.003 is 0.0024000000000000002
    if rules.complaint_warn_rate > 0 and complaint_rate >= near:
        found.append(
            f"issue #{number}: complaint rate {complaint_rate:.2%} is near or above "
            f"{rules.complaint_warn_rate:.2%} (bounces.complaint_warn_rate): mailbox "
            "providers start refusing the newsletter"
        )
    if hard_rate > rules.hard_warn_rate:
        found.append(
            f"issue #{number}: hard-bounce rate {hard_rate:.2%} is above "
            f"{rules.hard_warn_rate:.2%} (bounces.hard_warn_rate): the list holds dead addresses"
        )
    return found
