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

from digest.db.engine import Database
from digest.db.lease import release_lease, take_lease
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


def acquire(db: Database, issue_id: int, owner: Owner, now: datetime) -> None:
    """Take the issue's send lease or raise SendError saying who holds it."""
    holder = take_lease(
        db,
        issue_id,
        str(owner),
        now,
        stale_before=now - timedelta(seconds=LEASE_SECONDS),
        gone=_is_gone,
    )
    if holder is None:
        return
    if holder.owner is None:
        raise SendError("the send lease changes hands too fast; try again")
    raise SendError(_held_by(Owner.parse(holder.owner), holder.owner, holder.heartbeat_at, now))


def _is_gone(text: str) -> bool:
    previous = Owner.parse(text)
    return previous is not None and previous.is_gone()


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


def release(db: Database, issue_id: int, owner: Owner) -> None:
    release_lease(db, issue_id, str(owner))
