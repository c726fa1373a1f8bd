"""Sending an issue: the ledger decides who still needs it, N SMTP connections deliver it.

A row becomes `sent` only after the server's 250, and results are committed as they arrive,
so a run that stops for any reason continues where it stopped when run again.
"""

from __future__ import annotations

import concurrent.futures as cf
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from digest.db.engine import Database
from digest.db.schema import Issue, IssueItem, Item
from digest.issues import latest_issue, stored_plan
from digest.model import DeliveryStatus, ItemState, Recipient, SendOutcome
from digest.send import lease, ledger
from digest.send.classify import Verdict, classify_reply, retry_delay
from digest.send.message import make_message_id
from digest.send.pacing import Pacer
from digest.send.personalize import NothingChosen, Personalizer, message_template, section_variants
from digest.send.transport import SmtpTransport, Transport
from digest.settings import Settings
from subscribers.store import active_count

CLAIM = 500
IN_FLIGHT_PER_CONNECTION = 4
# Outcomes are written in groups: at most this many, or this often. A run killed outright
# (SIGKILL, power loss) may send the unwritten group again, with the same Message-IDs.
WRITE_EVERY = 100
WRITE_SECONDS = 0.2
Progress = Callable[[int], None]


@dataclass(frozen=True, slots=True, kw_only=True)
class SendReport:
    number: int
    recipients: int
    counts: dict[str, int]
    resumed: int = 0
    seconds: float = 0.0
    dry_run: bool = False
    sample_size: int = 0
    failures: list[str] = field(default_factory=list)

    @property
    def sent(self) -> int:
        return self.counts.get(DeliveryStatus.SENT, 0)

    @property
    def finished(self) -> bool:
        waiting = (DeliveryStatus.PENDING, DeliveryStatus.SENDING, DeliveryStatus.DEFERRED)
        return not any(self.counts.get(s, 0) for s in waiting)


class _Workers:
    """Threads that each keep one SMTP connection and one database connection open across
    many messages."""

    def __init__(self, connections: int, factory: Callable[[], Transport], db: Database) -> None:
        self._factory = factory
        self._db = db
        self._local = threading.local()
        self._all: list[Transport] = []
        self._connections: list[Connection] = []
        self._lock = threading.Lock()
        self.pool = cf.ThreadPoolExecutor(max_workers=connections, thread_name_prefix="digest-smtp")

    def transport(self) -> Transport:
        transport: Transport | None = getattr(self._local, "transport", None)
        if transport is None:
            transport = self._factory()
            self._local.transport = transport
            with self._lock:
                self._all.append(transport)
        return transport

    def still_active(self, subscriber_id: int) -> bool:
        connection: Connection | None = getattr(self._local, "connection", None)
        if connection is None:
            connection = self._db.engine.connect()
            self._local.connection = connection
            with self._lock:
                self._connections.append(connection)
        active = ledger.still_active(connection, subscriber_id)
        connection.rollback()  # end the read, so the next check sees new commits
        return active

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)
        for transport in self._all:
            transport.close()
        for connection in self._connections:
            connection.close()


def send_issue(
    db: Database,
    settings: Settings,
    clock: Callable[[], datetime],
    *,
    number: int | None = None,
    dry_run: bool = False,
    progress: Progress | None = None,
    transport_factory: Callable[[], Transport] | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> SendReport:
    """Send issue `number` (default: the newest) to every active subscriber who lacks it."""
    started = time.perf_counter()
    issue = latest_issue(db, number)
    full = message_template(issue, settings, clock())
    with db.session() as session:
        plan = stored_plan(session, issue)
    personalizer = Personalizer(full, settings, section_variants(plan, full, settings, clock()))
    if dry_run:
        return _dry_run(db, issue, personalizer)
    if issue.status == "sent":
        with db.session() as session:
            done = ledger.counts(session, issue.id)
        return SendReport(number=issue.number, recipients=sum(done.values()), counts=done)
    owner = lease.Owner.me()
    with db.session() as session:
        now = clock()
        lease.acquire(session, issue.id, owner, now)
        row = session.get_one(Issue, issue.id)
        if row.status == "draft":
            row.status, row.send_started_at = "sending", now
        resumed = ledger.requeue_interrupted(session, issue.id, now)
        ledger.add_missing_rows(
            session, issue.id, now, lambda sid: make_message_id(settings, issue.number, sid)
        )
    factory = transport_factory or (lambda: SmtpTransport(settings.smtp))
    try:
        failures = _deliver(
            db, settings, issue.id, owner, personalizer, factory, clock, progress, sleep
        )
    finally:
        with db.session() as session:
            lease.release(session, issue.id, owner)
    with db.session() as session:
        final = ledger.counts(session, issue.id)
        report = SendReport(
            number=issue.number,
            recipients=sum(final.values()),
            counts=final,
            resumed=resumed,
            seconds=time.perf_counter() - started,
            failures=failures,
        )
        if report.finished:
            _mark_sent(session, issue.id, clock())
    return report


def _dry_run(db: Database, issue: Issue, personalizer: Personalizer) -> SendReport:
    with db.session() as session:
        active = active_count(session)
        done = ledger.counts(session, issue.id)
    sample = personalizer.message(
        Recipient(
            delivery_id=0,
            subscriber_id=0,
            email="reader@example.com",
            name="A Reader",
            message_id="<dry-run@example.com>",
        )
    )
    return SendReport(
        number=issue.number, recipients=active, counts=done, dry_run=True, sample_size=len(sample)
    )


Result = tuple[Recipient, SendOutcome, Verdict]


def _deliver(
    db: Database,
    settings: Settings,
    issue_id: int,
    owner: lease.Owner,
    personalizer: Personalizer,
    factory: Callable[[], Transport],
    clock: Callable[[], datetime],
    progress: Progress | None,
    sleep: Callable[[float], None],
) -> list[str]:
    cfg = settings.smtp
    workers = _Workers(cfg.connections, factory, db)
    pacer = Pacer(cfg.rate_per_second)
    envelope_from = personalizer.template.envelope_from
    failures: list[str] = []
    finished: list[Result] = []
    last_write = time.monotonic()

    def deliver(recipient: Recipient) -> Result:
        if not workers.still_active(recipient.subscriber_id):
            skipped = SendOutcome(
                delivery_id=recipient.delivery_id,
                status=DeliveryStatus.SKIPPED,
                reply="subscriber no longer active, or pausing",
            )
            return recipient, skipped, Verdict(DeliveryStatus.SKIPPED)
        try:
            message = personalizer.message(recipient)
        except NothingChosen as e:
            return (
                recipient,
                SendOutcome(
                    delivery_id=recipient.delivery_id, status=DeliveryStatus.SKIPPED, reply=str(e)
                ),
                Verdict(DeliveryStatus.SKIPPED),
            )
        except (ValueError, TypeError) as e:
            # A name or address that cannot be put in a header fails this recipient only.
            verdict = Verdict(DeliveryStatus.FAILED)
            return (
                recipient,
                SendOutcome(
                    delivery_id=recipient.delivery_id,
                    status=DeliveryStatus.FAILED,
                    reply=f"message not built: {e}",
                ),
                verdict,
            )
        pacer.wait()
        reply = workers.transport().send(envelope_from, recipient.email, message)
        verdict = classify_reply(reply.code, reply.text, at_rcpt=reply.at_rcpt)
        return (
            recipient,
            SendOutcome(
                delivery_id=recipient.delivery_id,
                status=verdict.status,
                reply=reply.line,
                code=reply.code,
            ),
            verdict,
        )

    def write() -> None:
        nonlocal last_write
        if not finished:
            return
        with db.session() as session:
            lease.renew(session, issue_id, owner, clock())
            ledger.record(
                session,
                finished,
                clock(),
                max_attempts=cfg.max_attempts,
                delay=lambda n: retry_delay(n, cfg.retry_delay_seconds),
            )
        for recipient, outcome, _ in finished:
            if outcome.status is DeliveryStatus.FAILED:
                failures.append(f"{recipient.email}: {outcome.reply}")
        if progress:
            progress(sum(1 for _, o, _ in finished if o.status is not DeliveryStatus.DEFERRED))
        finished.clear()
        last_write = time.monotonic()

    def collect(done: set[cf.Future[Result]]) -> None:
        # Every accepted message is kept before an error from another one is raised, so
        # that the ledger learns of it even when the run then stops.
        errors = [f.exception() for f in done if f.exception() is not None]
        finished.extend(f.result() for f in done if f.exception() is None)
        if errors:
            raise errors[0]  # type: ignore[misc]
        if len(finished) >= WRITE_EVERY or time.monotonic() - last_write >= WRITE_SECONDS:
            write()

    limit = cfg.connections * IN_FLIGHT_PER_CONNECTION
    pending: set[cf.Future[Result]] = set()
    try:
        while True:
            with db.session() as session:
                lease.renew(session, issue_id, owner, clock())
                ledger.skip_inactive(session, issue_id, clock())
                batch = ledger.claim(session, issue_id, clock(), CLAIM)
                due = None if batch else ledger.next_due(session, issue_id)
            if not batch:
                if due is None:
                    break
                # Waiting for deferred retries: in steps, so the lease stays fresh.
                wait = max(0.0, (due - clock()).total_seconds()) + 0.01
                sleep(min(wait, lease.LEASE_SECONDS / 4))
                continue
            for recipient in batch:
                pending.add(workers.pool.submit(deliver, recipient))
                if len(pending) >= limit:
                    done, pending = cf.wait(pending, return_when=cf.FIRST_COMPLETED)
                    collect(done)
            while pending:
                done, pending = cf.wait(pending, return_when=cf.FIRST_COMPLETED)
                collect(done)
            write()
    finally:
        # Whatever stops the run (Ctrl-C, an error), messages the server already accepted
        # are written down before leaving; the rest stay `sending` and are resumed.
        workers.close()
        finished.extend(
            f.result() for f in pending if f.done() and not f.cancelled() and f.exception() is None
        )
        write()
    return failures


def _mark_sent(session: Session, issue_id: int, now: datetime) -> None:
    row = session.get_one(Issue, issue_id)
    row.status, row.sent_at = "sent", now
    items = select(IssueItem.item_id).where(IssueItem.issue_id == issue_id)
    session.execute(
        update(Item).where(Item.id.in_(items)).values(state=ItemState.PUBLISHED, updated_at=now)
    )
