"""One send run: claim due deliveries, send them over N connections, settle each answer,
journal it at once, record it in the ledger in groups.

A run ends when nothing is due any more, when the next retry is further away than the run
may wait (the next run or the scheduler continues), when the relay cannot be reached, or
when it is interrupted; every answer the relay gave is kept whatever ends it.
"""

from __future__ import annotations

import concurrent.futures as cf
import functools
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

from digest.errors import SendError, StorageError
from digest.model import DeliveryStatus, Recipient, SendOutcome
from digest.send import lease
from digest.send.classify import Verdict, classify_reply
from digest.send.journal import Journal
from digest.send.ledger import DeliveryLedger
from digest.send.pacing import Pacer, spread_by_domain
from digest.send.personalize import NothingChosen, Personalizer
from digest.send.policy import FINAL, RetryPolicy, Settled, settle
from digest.send.transport import Transport

CLAIM = 500
INACTIVE = "subscriber no longer active, or pausing"
IN_FLIGHT_PER_CONNECTION = 4
# The ledger is written in groups of at most this many answers, or this often; the journal
# holds each answer from the moment it is known.
WRITE_EVERY = 200
WRITE_SECONDS = 0.5
T = TypeVar("T")
Progress = Callable[[int], None]
Notify = Callable[[str], None]


@dataclass(frozen=True, slots=True, kw_only=True)
class RunResult:
    failures: tuple[Settled, ...]  # deliveries that failed during this run
    breaker: str | None  # why the run stopped early: the relay could not be reached
    next_due: datetime | None  # the next retry left to a later run


class Breaker:
    """Counts connection failures in a row across all connections; trips at the limit."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._in_a_row = 0
        self._lock = threading.Lock()
        self.reason: str | None = None

    @property
    def tripped(self) -> bool:
        return self.reason is not None

    def failure(self, reply: str) -> None:
        with self._lock:
            self._in_a_row += 1
            if self._in_a_row >= self.limit and self.reason is None:
                self.reason = reply

    def success(self) -> None:
        with self._lock:
            self._in_a_row = 0


def _domain(recipient: Recipient) -> str:
    return recipient.email.rpartition("@")[2].lower()


class SendRun:
    """The steps of one run, each testable alone against an in-memory ledger."""

    def __init__(
        self,
        *,
        ledger: DeliveryLedger,
        journal: Journal,
        personalizer: Personalizer,
        transport_factory: Callable[[], Transport],
        pacer: Pacer,
        policy: RetryPolicy,
        clock: Callable[[], datetime],
        connections: int,
        breaker_failures: int,
        wait_seconds: float,
        db_patience_seconds: float = 60.0,
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
        progress: Progress | None = None,
        notify: Notify | None = None,
    ) -> None:
        self.ledger, self.journal, self.personalizer = ledger, journal, personalizer
        self.factory, self.pacer, self.policy, self.clock = transport_factory, pacer, policy, clock
        self.connections = connections
        self.breaker = Breaker(breaker_failures)
        self.wait_seconds, self.db_patience = wait_seconds, db_patience_seconds
        self.sleep, self.monotonic = sleep, monotonic
        self.progress, self.notify = progress, notify
        self._local = threading.local()
        self._transports: list[Transport] = []
        self._lock = threading.Lock()
        self._unrecorded: list[Settled] = []
        self._failures: list[Settled] = []
        self._last_write = monotonic()
        self._outage_since: float | None = None

    # The sending threads' step: one recipient, one answer.

    def deliver(self, recipient: Recipient) -> Settled:
        if self.breaker.tripped:
            return self._settle(recipient, "not attempted: the relay is unreachable", None, False)
        try:
            message = self.personalizer.message(recipient, stuffed=True)
            sender = self.personalizer.envelope_sender(recipient)
        except NothingChosen as e:
            return self._final(recipient, DeliveryStatus.SKIPPED, str(e))
        except (ValueError, TypeError) as e:
            # A name or address that cannot be put in a header fails this recipient only.
            return self._final(recipient, DeliveryStatus.FAILED, f"message not built: {e}")
        self.pacer.wait(_domain(recipient))
        self.journal.begin(recipient.delivery_id)
        reply = self._transport().send(sender, recipient.email, message, stuffed=True)
        if not reply.reached:
            self.breaker.failure(reply.line)
            return self._settle(recipient, reply.line, None, False)
        self.breaker.success()
        verdict = classify_reply(reply.code, reply.text, at_rcpt=reply.at_rcpt)
        outcome = SendOutcome(
            delivery_id=recipient.delivery_id,
            status=verdict.status,
            reply=reply.line,
            code=reply.code,
        )
        row = settle(recipient, outcome, verdict, self.clock(), self.policy)
        self.journal.settled(row)
        return row

    def _final(self, recipient: Recipient, status: DeliveryStatus, reason: str) -> Settled:
        outcome = SendOutcome(delivery_id=recipient.delivery_id, status=status, reply=reason)
        row = settle(recipient, outcome, Verdict(status), self.clock(), self.policy)
        self.journal.settled(row)
        return row

    def _settle(
        self, recipient: Recipient, reason: str, code: int | None, charged: bool
    ) -> Settled:
        outcome = SendOutcome(
            delivery_id=recipient.delivery_id,
            status=DeliveryStatus.DEFERRED,
            reply=reason,
            code=code,
        )
        row = settle(
            recipient,
            outcome,
            Verdict(DeliveryStatus.DEFERRED),
            self.clock(),
            self.policy,
            charged=charged,
        )
        self.journal.settled(row)
        return row

    def _transport(self) -> Transport:
        transport: Transport | None = getattr(self._local, "transport", None)
        if transport is None:
            transport = self.factory()
            self._local.transport = transport
            with self._lock:
                self._transports.append(transport)
        return transport

    # The main thread's steps.

    def run(self) -> RunResult:
        pool = cf.ThreadPoolExecutor(self.connections, thread_name_prefix="digest-smtp")
        pending: set[cf.Future[Settled]] = set()
        limit = self.connections * IN_FLIGHT_PER_CONNECTION
        waited = 0.0
        next_due: datetime | None = None
        try:
            while not self.breaker.tripped:
                batch = self._database(lambda: self.ledger.claim(self.clock(), CLAIM))
                if not batch:
                    next_due = self._database(self.ledger.next_due)
                    if next_due is None:
                        break
                    wait = max(0.0, (next_due - self.clock()).total_seconds())
                    if waited + wait > self.wait_seconds:
                        break  # left to the next run or the scheduler
                    step = min(wait, lease.LEASE_SECONDS / 4) + 0.001
                    self.sleep(step)
                    waited += step
                    self._database(lambda: self.ledger.renew(self.clock()))
                    continue
                next_due = None
                ordered = spread_by_domain(batch, _domain)
                for start in range(0, len(ordered), limit):
                    window = ordered[start : start + limit]
                    # Who left a moment ago gets nothing: checked for the few messages
                    # about to go, not once per batch.
                    ids = [recipient.subscriber_id for recipient in window]
                    gone = self._database(functools.partial(self.ledger.inactive, ids))
                    for recipient in window:
                        if recipient.subscriber_id in gone:
                            self._unrecorded.append(
                                self._final(recipient, DeliveryStatus.SKIPPED, INACTIVE)
                            )
                            continue
                        pending.add(pool.submit(self.deliver, recipient))
                        if len(pending) >= limit:
                            pending = self._next_answers(pending)
                while pending:
                    pending = self._next_answers(pending)
                self._flush()
        finally:
            # Whatever stops the run (Ctrl-C, SIGTERM, an error), messages in flight finish
            # and every answer is written down before leaving; rows never started stay
            # `sending` and the next run puts them back in the queue.
            pool.shutdown(wait=True, cancel_futures=True)
            for transport in self._transports:
                transport.close()
            self._take([f for f in pending if f.done() and not f.cancelled()])
            self._flush(final=True)
        if self.breaker.tripped:
            next_due = None
        return RunResult(
            failures=tuple(self._failures), breaker=self.breaker.reason, next_due=next_due
        )

    def _next_answers(self, pending: set[cf.Future[Settled]]) -> set[cf.Future[Settled]]:
        """Wait for at least one answer; the lease is renewed while the wait is long (an
        hourly cap or a slow relay), so no other sender takes the issue over."""
        while True:
            done, pending = cf.wait(
                pending, timeout=lease.LEASE_SECONDS / 4, return_when=cf.FIRST_COMPLETED
            )
            if done:
                self._collect(done)
                return pending
            self._database(lambda: self.ledger.renew(self.clock()))

    def _collect(self, done: set[cf.Future[Settled]]) -> None:
        error = self._take(list(done))
        if error is not None:
            raise error
        if len(self._unrecorded) >= WRITE_EVERY or (
            self.monotonic() - self._last_write >= WRITE_SECONDS
        ):
            self._flush()

    def _take(self, done: list[cf.Future[Settled]]) -> BaseException | None:
        """Keep every answer before an error from another message is raised, so that the
        ledger learns of it even when the run then stops."""
        error: BaseException | None = None
        for future in done:
            failure = future.exception()
            if failure is not None:
                error = error or failure
                continue
            row = future.result()
            self._unrecorded.append(row)
            if row.status is DeliveryStatus.FAILED:
                self._failures.append(row)
        return error

    def _flush(self, *, final: bool = False) -> None:
        rows = self._unrecorded
        if not rows:
            return
        try:
            self.ledger.record(rows)
        except StorageError as e:
            self._outage(e, len(rows), final=final)
            return
        if self._outage_since is not None and self.notify:
            self.notify(f"database reachable again: {len(rows)} kept answer(s) recorded")
        self._outage_since = None
        if self.progress:
            self.progress(sum(1 for row in rows if row.status in FINAL))
        self._unrecorded = []
        self._last_write = self.monotonic()

    def _database(self, step: Callable[[], T]) -> T:
        """A ledger step that waits out a short database outage (up to the patience)."""
        while True:
            try:
                result = step()
            except StorageError as e:
                self._outage(e, len(self._unrecorded), final=False)
                self.sleep(1.0)
                continue
            if self._unrecorded and self._outage_since is not None:
                self._flush()
            return result

    def _outage(self, error: StorageError, kept: int, *, final: bool) -> None:
        now = self.monotonic()
        if self._outage_since is None:
            self._outage_since = now
            if self.notify:
                self.notify(
                    f"database unreachable ({_first_line(error)}); {kept} answer(s) kept in "
                    f"{self.journal.path}; retrying for {self.db_patience:.0f}s"
                )
        if final or now - self._outage_since > self.db_patience:
            raise SendError(
                f"stopped: the database has been unreachable for {now - self._outage_since:.0f}s "
                f"({_first_line(error)}); {kept} answer(s) the relay gave are kept in "
                f"{self.journal.path} and will be recorded by the next run"
            ) from error


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return text[0][:200] if text else error.__class__.__name__
