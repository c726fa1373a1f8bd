"""An in-memory DeliveryLedger and a scripted transport, for testing the send run's steps
without a database or a network."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime

from digest.model import FINAL, DeliveryStatus, Recipient, Settled
from digest.send.transport import Reply


@dataclass
class Row:
    recipient: Recipient
    status: DeliveryStatus = DeliveryStatus.PENDING
    next_attempt_at: datetime | None = None
    reply: str = ""
    active: bool = True


@dataclass
class MemoryLedger:
    rows: dict[int, Row] = field(default_factory=dict)
    recorded: list[Settled] = field(default_factory=list)
    fail_writes: int = 0  # the next N record() calls raise StorageError
    lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def of(cls, emails: Sequence[str]) -> MemoryLedger:
        ledger = cls()
        for n, email in enumerate(emails, start=1):
            ledger.rows[n] = Row(
                Recipient(
                    delivery_id=n,
                    subscriber_id=n,
                    email=email,
                    name="",
                    message_id=f"<{n}@test>",
                )
            )
        return ledger

    def add_missing(self, now: datetime, message_id: Callable[[int], str]) -> int:
        return 0

    def replay(self, rows: Sequence[Settled]) -> int:
        fresh = [r for r in rows if self.rows[r.delivery_id].status not in FINAL]
        self.record(fresh)
        return len(fresh)

    def requeue_interrupted(self, now: datetime) -> frozenset[int]:
        ids = [n for n, row in self.rows.items() if row.status is DeliveryStatus.SENDING]
        for n in ids:
            self.rows[n].status = DeliveryStatus.PENDING
        return frozenset(ids)

    def claim(self, now: datetime, limit: int) -> list[Recipient]:
        due = [
            row
            for row in self.rows.values()
            if row.active
            and (
                row.status is DeliveryStatus.PENDING
                or (
                    row.status is DeliveryStatus.DEFERRED
                    and row.next_attempt_at is not None
                    and row.next_attempt_at <= now
                )
            )
        ][:limit]
        for row in due:
            row.status = DeliveryStatus.SENDING
        return [row.recipient for row in due]

    def record(self, rows: Sequence[Settled]) -> None:
        from digest.errors import StorageError

        if self.fail_writes:
            self.fail_writes -= 1
            raise StorageError("database error: OperationalError: database is locked")
        for settled in rows:
            row = self.rows[settled.delivery_id]
            row.status = settled.status
            row.next_attempt_at = settled.next_attempt_at
            row.reply = settled.reply
            row.recipient = replace(
                row.recipient,
                attempts=settled.attempts,
                first_attempt_at=settled.first_attempt_at,
            )
        self.recorded.extend(rows)

    def renew(self, now: datetime) -> None:
        pass

    def next_due(self) -> datetime | None:
        times = [
            row.next_attempt_at
            for row in self.rows.values()
            if row.status is DeliveryStatus.DEFERRED and row.next_attempt_at
        ]
        return min(times, default=None)

    def inactive(self, subscriber_ids: Sequence[int]) -> frozenset[int]:
        return frozenset(n for n in subscriber_ids if not self.rows[n].active)

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for row in self.rows.values():
            out[row.status] = out.get(row.status, 0) + 1
        return out


@dataclass
class ScriptedTransport:
    """Answers from a script: rcpt -> list of replies, used in turn (the last one repeats);
    everyone else gets 250."""

    script: dict[str, list[Reply]] = field(default_factory=dict)
    sent: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def send(
        self, envelope_from: str, recipient: str, message: bytes, *, stuffed: bool = False
    ) -> Reply:
        with self.lock:
            replies = self.script.get(recipient)
            if replies:
                reply = replies.pop(0) if len(replies) > 1 else replies[0]
            else:
                reply = Reply(250, "2.0.0 OK")
            if reply.code is not None and reply.code < 300:
                self.sent.append(recipient)
            return reply

    def close(self) -> None:
        pass
