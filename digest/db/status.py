"""The counts behind `digest status`: the queue by kind and state, the subscribers by status,
the latest issue and its deliveries, read in one transaction; the latest sent issue's bounce
and complaint rates."""

from __future__ import annotations

from sqlalchemy import func, select

from digest.db.bounces import IssueBounces, issue_stats
from digest.db.engine import Database
from digest.db.issues import to_stored
from digest.db.ledger import counts as delivery_counts
from digest.db.schema import Issue, Item
from digest.db.subscribers import status_counts
from digest.model import StatusReport


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
