"""Watching and steering a send from another process: where an issue's deliveries stand,
and putting failed ones back in the queue."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update

from digest.db.engine import Database
from digest.db.schema import Delivery, Issue
from digest.errors import SendError
from digest.issues import latest_issue
from digest.model import DeliveryStatus
from digest.send.ledger import counts
from digest.send.policy import FINAL, counts_line, group_replies

RATE_WINDOW = timedelta(minutes=1)
LATEST_FAILURES = 500


@dataclass(frozen=True, slots=True, kw_only=True)
class IssueStatus:
    number: int
    status: str
    counts: dict[str, int]
    started_at: datetime | None
    sent_at: datetime | None
    rate_per_second: float  # accepted in the last minute
    eta_seconds: float | None
    next_retry_at: datetime | None
    failures: list[tuple[str, int]]  # latest failures grouped by reply
    deferrals: list[tuple[str, int]]
    sender: str | None  # who holds the send lease
    sender_seen_seconds_ago: float | None
    why: str  # why the issue is not `sent` yet, or empty

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["failures"] = [{"reply": r, "count": n} for r, n in self.failures]
        data["deferrals"] = [{"reply": r, "count": n} for r, n in self.deferrals]
        return data

    def lines(self) -> list[str]:
        total = sum(self.counts.values())
        states = counts_line(self.counts) or "no deliveries"
        out = [f"issue #{self.number} ({self.status}): {total} deliveries: {states}"]
        if self.sender:
            out.append(
                f"sending now: {self.sender} (seen {self.sender_seen_seconds_ago:.0f}s ago), "
                f"{self.rate_per_second:.1f} msg/s"
                + (f", about {self.eta_seconds:.0f}s left" if self.eta_seconds else "")
            )
        if self.next_retry_at:
            out.append(f"next retry: {self.next_retry_at:%Y-%m-%d %H:%M:%S} UTC")
        for title, groups in (("failed", self.failures), ("deferred", self.deferrals)):
            out.extend(f"{title}: {n} × {reply}" for reply, n in groups)
        if self.why:
            out.append(f"not sent yet: {self.why}")
        return out


def issue_status(db: Database, now: datetime, number: int | None = None) -> IssueStatus:
    issue = latest_issue(db, number)
    with db.session() as session:
        by_state = counts(session, issue.id)
        row = session.execute(
            select(
                Issue.send_owner, Issue.send_heartbeat_at, Issue.send_started_at, Issue.sent_at
            ).where(Issue.id == issue.id)
        ).one()
        recent = session.scalar(
            select(func.count()).where(
                Delivery.issue_id == issue.id, Delivery.sent_at >= now - RATE_WINDOW
            )
        )
        next_retry = session.scalar(
            select(func.min(Delivery.next_attempt_at)).where(
                Delivery.issue_id == issue.id, Delivery.status == DeliveryStatus.DEFERRED
            )
        )
        replies: dict[str, list[str]] = {}
        for status in (DeliveryStatus.FAILED, DeliveryStatus.DEFERRED):
            replies[status] = list(
                session.scalars(
                    select(Delivery.last_reply)
                    .where(Delivery.issue_id == issue.id, Delivery.status == status)
                    .order_by(Delivery.updated_at.desc())
                    .limit(LATEST_FAILURES)
                )
            )
    rate = (recent or 0) / RATE_WINDOW.total_seconds()
    waiting = sum(n for s, n in by_state.items() if s not in FINAL)
    seen = (now - row.send_heartbeat_at).total_seconds() if row.send_heartbeat_at else None
    return IssueStatus(
        number=issue.number,
        status=issue.status,
        counts=by_state,
        started_at=row.send_started_at,
        sent_at=row.sent_at,
        rate_per_second=rate,
        eta_seconds=waiting / rate if rate and waiting else None,
        next_retry_at=next_retry,
        failures=group_replies(r or "" for r in replies[DeliveryStatus.FAILED]),
        deferrals=group_replies(r or "" for r in replies[DeliveryStatus.DEFERRED]),
        sender=row.send_owner,
        sender_seen_seconds_ago=seen,
        why=_why(issue.status, by_state, next_retry, row.send_owner),
    )


def _why(
    status: str, by_state: dict[str, int], next_retry: datetime | None, owner: str | None
) -> str:
    if status == "sent":
        return ""
    if status == "draft":
        return "it is a draft: `digest issue send` sends it"
    reasons = []
    deferred = by_state.get(DeliveryStatus.DEFERRED, 0)
    if deferred:
        when = f"{next_retry:%Y-%m-%d %H:%M} UTC" if next_retry else "soon"
        reasons.append(f"{deferred} deferred by the relay, next attempt {when}")
    queued = sum(by_state.get(s, 0) for s in (DeliveryStatus.PENDING, DeliveryStatus.SENDING))
    if queued:
        reasons.append(
            f"{queued} in the queue"
            + ("" if owner else ": no sender is running, `digest issue send` continues")
        )
    return "; ".join(reasons) or "every delivery is final: the next `digest issue send` closes it"


def retry_failed(db: Database, number: int, now: datetime, *, everything: bool) -> int:
    """Failed deliveries of a temporary cause (or all failed ones) back to pending, with a
    fresh retry deadline; sent and skipped rows are never touched. Returns how many."""
    issue = latest_issue(db, number)
    with db.session() as session:
        if issue.status == "draft":
            raise SendError(f"issue #{number} is a draft: nothing was sent to retry")
        which = update(Delivery).where(
            Delivery.issue_id == issue.id, Delivery.status == DeliveryStatus.FAILED
        )
        if not everything:
            which = which.where(Delivery.temporary.is_(True))
        result = session.execute(
            which.values(
                status=DeliveryStatus.PENDING,
                temporary=False,
                first_attempt_at=None,
                next_attempt_at=None,
                updated_at=now,
            )
        )
        count = int(getattr(result, "rowcount", 0) or 0)
        if count:
            session.execute(
                update(Issue).where(Issue.id == issue.id).values(status="sending", sent_at=None)
            )
    return count
