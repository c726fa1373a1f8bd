"""The per-issue send lease in the issues table: one sender per issue at a time.

Who may take the lease over (a stale heartbeat, a holder that has exited) is decided by the
caller, digest.send.lease; here are only the statements.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from digest.db.engine import Database
from digest.db.schema import Issue
from digest.errors import SendError


@dataclass(frozen=True, slots=True, kw_only=True)
class LeaseHolder:
    """Who holds an issue's send lease (None: nobody) and when they were last seen."""

    owner: str | None
    heartbeat_at: datetime | None


def _holder(session: Session, issue_id: int) -> LeaseHolder:
    owner, heartbeat = session.execute(
        select(Issue.send_owner, Issue.send_heartbeat_at).where(Issue.id == issue_id)
    ).one()
    return LeaseHolder(owner=owner, heartbeat_at=heartbeat)


def take_lease(
    db: Database,
    issue_id: int,
    owner: str,
    now: datetime,
    *,
    stale_before: datetime,
    gone: Callable[[str], bool],
) -> LeaseHolder | None:
    """Take the issue's send lease when it is free, its heartbeat is older than
    `stale_before`, or its holder is one that `gone` says has exited. None when taken;
    otherwise who holds it (owner None: it changed hands too fast to say)."""
    with db.session() as session:
        for _ in range(3):
            holder = _holder(session, issue_id)
            conditions = [Issue.send_owner.is_(None), Issue.send_heartbeat_at < stale_before]
            if holder.owner is not None and gone(holder.owner):
                conditions.append(Issue.send_owner == holder.owner)
            taken = session.execute(
                update(Issue)
                .where(Issue.id == issue_id, or_(*conditions))
                .values(send_owner=owner, send_heartbeat_at=now)
                .returning(Issue.id)
            ).first()
            if taken is not None:
                return None
            # Another sender may have taken or released the lease between the two
            # statements: look again before saying who holds it.
            session.rollback()
            holder = _holder(session, issue_id)
            if holder.owner is not None:
                return holder
    return LeaseHolder(owner=None, heartbeat_at=None)


def renew_lease(session: Session, issue_id: int, owner: str, now: datetime) -> None:
    """Refresh the heartbeat; SendError if another process has taken the lease over."""
    renewed = session.execute(
        update(Issue)
        .where(Issue.id == issue_id, Issue.send_owner == owner)
        .values(send_heartbeat_at=now)
        .returning(Issue.id)
    ).first()
    if renewed is None:
        raise SendError("the send lease was taken over by another process; stopping")


def release_lease(db: Database, issue_id: int, owner: str) -> None:
    with db.session() as session:
        session.execute(
            update(Issue)
            .where(Issue.id == issue_id, Issue.send_owner == owner)
            .values(send_owner=None, send_heartbeat_at=None)
        )
