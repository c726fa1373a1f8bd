"""Watching and steering a send from another process: where an issue's deliveries stand,
and putting failed ones back in the queue."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from digest.db.engine import Database
from digest.db.issues import latest_issue
from digest.db.sending import requeue_failed, send_record
from digest.errors import SendError
from digest.model import FINAL, DeliveryStatus, IssueStatus
from digest.send.policy import counts_line, group_replies

RATE_WINDOW = timedelta(minutes=1)
LATEST_FAILURES = 500


@dataclass(frozen=True, slots=True, kw_only=True)
class SendStatus:
    """Where one issue's send stands, for `digest issue status`."""

    number: int
    status: IssueStatus
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


def issue_status(db: Database, now: datetime, number: int | None = None) -> SendStatus:
    issue = latest_issue(db, number)
    record = send_record(db, issue.id, since=now - RATE_WINDOW, latest=LATEST_FAILURES)
    rate = record.recent / RATE_WINDOW.total_seconds()
    waiting = sum(n for s, n in record.counts.items() if s not in FINAL)
    seen = (now - record.heartbeat_at).total_seconds() if record.heartbeat_at else None
    return SendStatus(
        number=issue.number,
        status=issue.status,
        counts=record.counts,
        started_at=record.started_at,
        sent_at=record.sent_at,
        rate_per_second=rate,
        eta_seconds=waiting / rate if rate and waiting else None,
        next_retry_at=record.next_retry_at,
        failures=group_replies(record.failed_replies),
        deferrals=group_replies(record.deferred_replies),
        sender=record.owner,
        sender_seen_seconds_ago=seen,
        why=_why(issue.status, record.counts, record.next_retry_at, record.owner),
    )


def _why(
    status: IssueStatus, by_state: dict[str, int], next_retry: datetime | None, owner: str | None
) -> str:
    if status is IssueStatus.SENT:
        return ""
    if status is IssueStatus.DRAFT:
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
    if issue.status is IssueStatus.DRAFT:
        raise SendError(f"issue #{number} is a draft: nothing was sent to retry")
    return requeue_failed(db, issue.id, now, everything=everything)
