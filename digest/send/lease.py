"""One sender per issue: a lease in the issue's row, renewed while the send runs.

Two senders of one issue (an operator's `digest issue send` while the scheduler sends) would
each put the other's in-flight rows back to pending and send them again. The lease stops
the second one with a clear message. A lease whose holder died is taken over: at once when
the holder was a process on this machine that no longer exists, otherwise once its
heartbeat is older than LEASE_SECONDS.
"""

from __future__ import annotations

import os
import socket
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from digest.db.schema import Issue
from digest.errors import SendError

LEASE_SECONDS = 120.0


@dataclass(frozen=True, slots=True)
class Owner:
    host: str
    pid: int
    token: str

    def __str__(self) -> str:
        return f"{self.host}:{self.pid}:{self.token}"

    @classmethod
    def me(cls) -> Owner:
        return cls(socket.gethostname(), os.getpid(), uuid.uuid4().hex[:12])

    @classmethod
    def parse(cls, text: str) -> Owner | None:
        parts = text.rsplit(":", 2)
        if len(parts) != 3 or not parts[1].isdigit():
            return None
        return cls(parts[0], int(parts[1]), parts[2])

    def is_gone(self) -> bool:
        """True when this owner was a process on this machine that has exited."""
        if self.host != socket.gethostname():
            return False
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            return False
        return False


def acquire(session: Session, issue_id: int, owner: Owner, now: datetime) -> None:
    """Take the issue's send lease or raise SendError saying who holds it."""
    for _ in range(3):
        holder, heartbeat = session.execute(
            select(Issue.send_owner, Issue.send_heartbeat_at).where(Issue.id == issue_id)
        ).one()
        stale = now - timedelta(seconds=LEASE_SECONDS)
        conditions = [Issue.send_owner.is_(None), Issue.send_heartbeat_at < stale]
        previous = Owner.parse(holder) if holder else None
        if previous is not None and previous.is_gone():
            conditions.append(Issue.send_owner == holder)
        taken = session.execute(
            update(Issue)
            .where(Issue.id == issue_id, or_(*conditions))
            .values(send_owner=str(owner), send_heartbeat_at=now)
            .returning(Issue.id)
        ).first()
        if taken is not None:
            return
        # Another sender may have taken or released the lease between the two statements:
        # look again before saying who holds it.
        session.rollback()
        holder, heartbeat = session.execute(
            select(Issue.send_owner, Issue.send_heartbeat_at).where(Issue.id == issue_id)
        ).one()
        if holder is not None:
            raise SendError(_held_by(Owner.parse(holder), holder, heartbeat, now))
    raise SendError("the send lease changes hands too fast; try again")


def _held_by(holder: Owner | None, text: str, heartbeat: datetime | None, now: datetime) -> str:
    age = (now - heartbeat).total_seconds() if heartbeat else 0.0
    if holder is not None and holder.host == socket.gethostname():
        return (
            f"process {holder.pid} on this machine is sending this issue (last seen {age:.0f}s "
            "ago); wait for it to finish, or stop it and run again"
        )
    who = f"a process on {holder.host} (pid {holder.pid})" if holder else f"another sender ({text})"
    return (
        f"{who} is sending this issue (last seen {age:.0f}s ago); if it is gone, run again "
        f"after {max(LEASE_SECONDS - age, 0):.0f}s"
    )


def renew(session: Session, issue_id: int, owner: Owner, now: datetime) -> None:
    """Refresh the heartbeat; SendError if another process has taken the lease over."""
    renewed = session.execute(
        update(Issue)
        .where(Issue.id == issue_id, Issue.send_owner == str(owner))
        .values(send_heartbeat_at=now)
        .returning(Issue.id)
    ).first()
    if renewed is None:
        raise SendError("the send lease was taken over by another process; stopping")


def release(session: Session, issue_id: int, owner: Owner) -> None:
    session.execute(
        update(Issue)
        .where(Issue.id == issue_id, Issue.send_owner == str(owner))
        .values(send_owner=None, send_heartbeat_at=None)
    )
