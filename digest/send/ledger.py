"""The delivery ledger as the send run needs it: one row per (issue, subscriber); a rerun
continues from it.

`DeliveryLedger` is the interface; digest.db.ledger.SqlLedger keeps it in the database (an
in-memory one serves the unit tests). Rows become final (`sent`, `failed`, `skipped`) only
through `record`, with what the relay said.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Protocol

from digest.model import Recipient, Settled


# The reply of a row closed because its subscriber left or paused before it was sent.
class DeliveryLedger(Protocol):
    """The send run's view of one issue's deliveries."""

    def add_missing(self, now: datetime, message_id: Callable[[int], str]) -> int:
        """Give every active subscriber without a row a pending one; returns how many."""
        ...

    def replay(self, rows: Sequence[Settled]) -> int:
        """Write answers a journal kept, except onto rows already final; returns how many."""
        ...

    def requeue_interrupted(self, now: datetime) -> frozenset[int]:
        """Rows an earlier run left `sending` go back to pending; returns their ids."""
        ...

    def claim(self, now: datetime, limit: int) -> list[Recipient]:
        """Mark up to `limit` due rows of active subscribers `sending`; when none is left,
        close the rows of subscribers who left as skipped."""
        ...

    def record(self, rows: Sequence[Settled]) -> None:
        """Write answers (and hard bounces) in one transaction."""
        ...

    def renew(self, now: datetime) -> None:
        """Keep this run's lease on the issue; SendError when another run took it."""
        ...

    def next_due(self) -> datetime | None:
        """When the earliest deferred row may be tried again; None when none waits."""
        ...

    def inactive(self, subscriber_ids: Sequence[int]) -> frozenset[int]:
        """Those of the subscribers who left or paused: checked right before their
        messages go, a few at a time."""
        ...

    def counts(self) -> dict[str, int]: ...
