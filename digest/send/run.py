"""One send run: claim due deliveries, send them over N connections, settle each answer,
journal it at once, record it in the ledger in groups.

A run ends when nothing is due any more, when the next retry is further away than the run
may wait (the next run or the scheduler continues), when the relay cannot be reached, or
when it is interrupted; every answer the relay gave is kept whatever ends it.
"""

from __future__ import annotations

import functools
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

from digest.errors import SendError, StorageError
from digest.model import FINAL, INACTIVE_REPLY, DeliveryStatus, Recipient, SendOutcome, Settled
from digest.send import lease
from digest.send.classify import Verdict, classify_reply
from digest.send.journal import Journal
from digest.send.ledger import DeliveryLedger
from digest.send.pacing import Pacer, spread_by_domain
from digest.send.personalize import NothingChosen, Personalizer
from digest.send.policy import RetryPolicy, settle
from digest.send.transport import Transport
from digest.send.verp import EnvelopeSenders

CLAIM = 500
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


class _Workers:
    """N threads, each with its own SMTP connection, taking recipients from one queue and
    putting answers on another: a queue hand-off costs far less per message than a future.
    """

    def __init__(self, count: int, deliver: Callable[[Recipient], Settled]) -> None:
        self._inbox: queue.SimpleQueue[Recipient | None] = queue.SimpleQueue()
        self._outbox: queue.SimpleQueue[Settled | BaseException] = queue.SimpleQueue()
        self._deliver = deliver
        self._stopping = False
        self.in_flight = 0
        self._threads = [
            threading.Thread(target=self._work, name=f"digest-smtp_{n}", daemon=True)
            for n in range(count)
        ]
        for thread in self._threads:
            thread.start()

    def _work(self) -> None:
        while (recipient := self._inbox.get()) is not None:
            if self._stopping:
                # Not started: the row stays `sending` and the next run takes it again.
                self._outbox.put(_NotStarted())
                continue
            try:
                self._outbox.put(self._deliver(recipient))
            except BaseException as e:  # handed to the main thread, which raises it
                self._outbox.put(e)

    def put(self, recipient: Recipient) -> None:
        self._inbox.put(recipient)
        self.in_flight += 1

    def get(self, timeout: float) -> Settled | BaseException | None:
        try:
            answer = self._outbox.get(timeout=timeout)
        except queue.Empty:
            return None
        self.in_flight -= 1
        return answer

    def stop(self) -> list[Settled | BaseException]:
        """Let the messages on the wire finish, start no other; their answers."""
        self._stopping = True
        for _ in self._threads:
            self._inbox.put(None)
        for thread in self._threads:
            thread.join()
        answers = []
        while self.in_flight:
            answer = self.get(timeout=0)
            if answer is None:
                break
            answers.append(answer)
        return answers


class _NotStarted(Exception):
    """A recipient a stopping run did not send to."""


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
        senders: EnvelopeSenders,
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
        stop: threading.Event | None = None,
    ) -> None:
        self.ledger, self.journal, self.personalizer = ledger, journal, personalizer
        self.senders = senders
        self.factory, self.pacer, self.policy, self.clock = transport_factory, pacer, policy, clock
        self.connections = connections
        self.breaker = Breaker(breaker_failures)
        self.wait_seconds, self.db_patience = wait_seconds, db_patience_seconds
        self.sleep, self.monotonic = sleep, monotonic
        self.progress, self.notify = progress, notify
        # Set from another thread (the daemon stopping): the run ends as on Ctrl-C, the
        # messages on the wire finish and are recorded, no other starts.
        self.stop = stop
        if stop is not None and sleep is time.sleep:
            self.sleep = functools.partial(_wait_unless_stopped, stop)
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
            return self._not_attempted(recipient, "not attempted: the relay is unreachable")
        try:
            message = self.personalizer.message(recipient, stuffed=True)
            sender = self.senders.of(recipient.delivery_id)
        except NothingChosen as e:
            return self._final(recipient, DeliveryStatus.SKIPPED, str(e))
        except (ValueError, TypeError) as e:
            # A name or address that cannot be put in a header fails this recipient only.
            return self._final(recipient, DeliveryStatus.FAILED, f"message not built: {e}")
        self.pacer.wait(_domain(recipient))
        if self.stopping:
            raise _NotStarted  # asked to stop while waiting for its slot
        self.journal.begin(recipient.delivery_id)
        reply = self._transport().send(sender, recipient.email, message, stuffed=True)
        if not reply.reached:
            self.breaker.failure(reply.line)
            return self._not_attempted(recipient, reply.line)
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

    def _not_attempted(self, recipient: Recipient, reason: str) -> Settled:
        """The message never reached the relay: back to pending, no attempt charged."""
        outcome = SendOutcome(
            delivery_id=recipient.delivery_id, status=DeliveryStatus.DEFERRED, reply=reason
        )
        deferred = Verdict(DeliveryStatus.DEFERRED)
        row = settle(recipient, outcome, deferred, self.clock(), self.policy, charged=False)
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

    @property
    def stopping(self) -> bool:
        return self.stop is not None and self.stop.is_set()

    def run(self) -> RunResult:
        workers = _Workers(self.connections, self.deliver)
        limit = self.connections * IN_FLIGHT_PER_CONNECTION
        waited = 0.0
        next_due: datetime | None = None
        try:
            while not self.breaker.tripped and not self.stopping:
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
                if not self._send(workers, spread_by_domain(batch, _domain), limit):
                    break
                while workers.in_flight:
                    self._next_answer(workers)
                self._flush()
        finally:
            # Whatever stops the run (Ctrl-C, SIGTERM, the stop event, an error), messages
            # in flight finish and every answer is written down before leaving; rows never
            # started stay `sending` and the next run puts them back in the queue.
            for answer in workers.stop():
                if isinstance(answer, Settled):
                    self._keep(answer)
            for transport in self._transports:
                transport.close()
            self._flush(final=True)
        if self.breaker.tripped or self.stopping:
            next_due = None
        return RunResult(
            failures=tuple(self._failures), breaker=self.breaker.reason, next_due=next_due
        )

    def _send(self, workers: _Workers, ordered: list[Recipient], limit: int) -> bool:
        """Hand a claimed batch to the workers, keeping at most `limit` in flight; False
        when the run was asked to stop before all of it went."""
        for start in range(0, len(ordered), limit):
            window = ordered[start : start + limit]
            # Who left a moment ago gets nothing: checked in one query for the messages
            # about to go (as many as may be in flight), not per batch.
            ids = [recipient.subscriber_id for recipient in window]
            gone = self._database(functools.partial(self.ledger.inactive, ids))
            for recipient in window:
                if self.stopping:
                    return False
                if recipient.subscriber_id in gone:
                    self._unrecorded.append(
                        self._final(recipient, DeliveryStatus.SKIPPED, INACTIVE_REPLY)
                    )
                    continue
                workers.put(recipient)
                while workers.in_flight >= limit:
                    self._next_answer(workers)
        return True

    def _next_answer(self, workers: _Workers) -> None:
        """Take one answer; the lease is renewed while the wait is long (an hourly cap or
        a slow relay), so no other sender takes the issue over."""
        while True:
            answer = workers.get(timeout=lease.LEASE_SECONDS / 4)
            if answer is not None:
                break
            self._database(lambda: self.ledger.renew(self.clock()))
        if isinstance(answer, _NotStarted):
            return  # stays `sending`: the next run puts it back in the queue
        if isinstance(answer, BaseException):
            raise answer
        self._keep(answer)
        if len(self._unrecorded) >= WRITE_EVERY or (
            self.monotonic() - self._last_write >= WRITE_SECONDS
        ):
            self._flush()

    def _keep(self, row: Settled) -> None:
        self._unrecorded.append(row)
        if row.status is DeliveryStatus.FAILED:
            self._failures.append(row)

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


def _wait_unless_stopped(stop: threading.Event, seconds: float) -> None:
    stop.wait(seconds)


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return text[0][:200] if text else error.__class__.__name__
