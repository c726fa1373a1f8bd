"""Reading subscribers back: counts and listings."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from digest.db.schema import Subscriber


def active_count(session: Session) -> int:
    """Subscribers an issue would go to: active and not pausing."""
    return int(
        session.scalar(
            select(func.count())
            .select_from(Subscriber)
            .where(Subscriber.status == "active", Subscriber.paused.is_(False))
        )
        or 0
    )


def status_counts(session: Session) -> dict[str, int]:
    rows = session.execute(select(Subscriber.status, func.count()).group_by(Subscriber.status))
    return {str(status): int(n) for status, n in rows}


def list_subscribers(
    session: Session, status: str | None = None, limit: int | None = None
) -> list[Subscriber]:
    query = select(Subscriber).order_by(Subscriber.id)
    if status:
        query = query.where(Subscriber.status == status)
    if limit:
        query = query.limit(limit)
    return list(session.scalars(query))
