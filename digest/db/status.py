"""The counts behind `digest status`: the queue by kind and state, the subscribers by status,
the latest issue and its deliveries, read in one transaction; the latest sent issue's bounce
and complaint rates; how the sends in progress move; the daemon's last failed job."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select

from digest.db.bounces import IssueBounces, issue_stats
from digest.db.engine import Database
from digest.db.issues import to_stored
from digest.db.jobs import JobOutcome, JobRunView, job_run_view
from digest.db.ledger import counts as delivery_counts
from digest.db.schema import Delivery, Issue, Item, JobRun
from digest.db.subscribers import status_counts
from digest.model import DeliveryStatus, IssueStatus, StatusReport


@dataclass(frozen=True, slots=True, kw_only=True)
class SendProgress:
    """How an issue still `sending` moves: its last change, who sends it, what is left."""

    number: int
    started_at: datetime | None
    last_progress_at: datetime | None  # the latest change of one of its deliveries
    sender: str | None  # who holds its send lease
    sender_seen_at: datetime | None
    due: int  # deliveries pending or being sent
    next_retry_at: datetime | None  # the earliest deferred delivery's next attempt


def status_report(db: Database) -> StatusReport:
    with db.session() as session:
        items = {
            f"{kind}/{state}": int(n)
            for kind, state, n in session.execute(
                select(Item.kind, Item.state, func.count()).group_by(Item.kind, Item.state)
            )
        }
        subscribers = status_counts(session)
        row = session.scalars(select(Issue).order_by(Issue.number.desc()).limit(1)).first()
        if row is None:
            return StatusReport(items=items, subscribers=subscribers)
        return StatusReport(
            items=items,
            subscribers=subscribers,
            latest_issue=to_stored(row),
            deliveries=delivery_counts(session, row.id),
        )


def latest_bounces(db: Database) -> IssueBounces | None:
    """The bounce and complaint counts of the latest issue that went out; None before any."""
    stats = issue_stats(db, limit=1)
    return stats[0] if stats else None


def sending_progress(db: Database) -> list[SendProgress]:
    """Every issue still `sending`, oldest first."""
    waiting = (DeliveryStatus.PENDING, DeliveryStatus.SENDING)
    with db.session() as session:
        issues = session.execute(
            select(
                Issue.id,
                Issue.number,
                Issue.send_started_at,
                Issue.send_owner,
                Issue.send_heartbeat_at,
            )
            .where(Issue.status == IssueStatus.SENDING)
            .order_by(Issue.number)
        ).all()
        found = []
        for issue in issues:
            of_issue = Delivery.issue_id == issue.id
            last, due = session.execute(
                select(
                    func.max(Delivery.updated_at),
                    func.count().filter(Delivery.status.in_(waiting)),
                ).where(of_issue)
            ).one()
            next_retry = session.scalar(
                select(func.min(Delivery.next_attempt_at)).where(
                    of_issue, Delivery.status == DeliveryStatus.DEFERRED
                )
            )
            found.append(
                SendProgress(
                    number=issue.number,
                    started_at=issue.send_started_at,
                    last_progress_at=last,
                    sender=issue.send_owner,
                    sender_seen_at=issue.send_heartbeat_at,
                    due=int(due or 0),
                    next_retry_at=next_retry,
                )
            )
        return found


def last_failed_run(db: Database) -> JobRunView | None:
    """The daemon's latest job run that failed; None when none did."""
    with db.session() as session:
        row = session.scalars(
            select(JobRun)
            .where(JobRun.outcome == JobOutcome.FAILED)
            .order_by(JobRun.id.desc())
            .limit(1)
        ).first()
        if row is None:
            return None
        return job_run_view(row)
