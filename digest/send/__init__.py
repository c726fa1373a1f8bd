"""Sending an issue: the ledger decides who still needs it, N SMTP connections deliver it.

`send_issue` is the stage's entry: it takes the issue's lease, replays what an earlier run
journaled, adds a row for every subscriber who lacks one, and runs a `SendRun`. A row becomes
`sent` only after the server's 250, and the issue becomes `sent` only when every row is final,
so running it again (or the scheduler) continues where any run stopped.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from digest.db.engine import Database
from digest.db.issues import latest_issue, stored_plan
from digest.db.ledger import SqlLedger
from digest.db.sending import mark_sent, send_counts, start_sending
from digest.errors import SendError, StorageError
from digest.model import FINAL, DeliveryStatus, IssueStatus, Recipient, Settled, StoredIssue
from digest.send import lease
from digest.send.journal import Journal, journal_path, read_journal
from digest.send.message import make_message_id
from digest.send.pacing import Pacer
from digest.send.personalize import Personalizer, message_template, section_variants
from digest.send.policy import ExitStatus, RetryPolicy, exit_status
from digest.send.preflight import Facts, reasons_not_to_send
from digest.send.run import Notify, Progress, SendRun
from digest.send.verp import envelope_senders
from digest.send.wiring import Relay
from digest.settings import Settings

__all__ = ["Notify", "Progress", "Relay", "SendReport", "send_issue"]


@dataclass(frozen=True, slots=True, kw_only=True)
class SendReport:
    number: int
    recipients: int
    counts: dict[str, int]
    resumed: int = 0  # deliveries on the wire when an earlier run died: may arrive twice
    replayed: int = 0  # answers an earlier run journaled and the ledger lacked
    seconds: float = 0.0
    dry_run: bool = False
    sample_size: int = 0
    due: int = 0  # dry run: deliveries the send would make
    failures: tuple[Settled, ...] = ()
    breaker: str | None = None
    next_due: datetime | None = None
    status: IssueStatus  # the issue's status afterwards

    @property
    def sent(self) -> int:
        return self.counts.get(DeliveryStatus.SENT, 0)

    @property
    def finished(self) -> bool:
        return not any(n for status, n in self.counts.items() if status not in FINAL)

    @property
    def exit_status(self) -> ExitStatus:
        return exit_status(self.counts, breaker=self.breaker is not None)


def retry_policy(settings: Settings) -> RetryPolicy:
    cfg = settings.smtp
    return RetryPolicy(
        retry_for=timedelta(hours=cfg.retry_for_hours),
        first_delay_seconds=cfg.retry_delay_seconds,
        max_delay_seconds=cfg.retry_max_delay_seconds,
    )


def send_issue(
    db: Database,
    settings: Settings,
    clock: Callable[[], datetime],
    *,
    relay: Relay,
    number: int | None = None,
    dry_run: bool = False,
    force: bool = False,
    progress: Progress | None = None,
    notify: Notify | None = None,
    sleep: Callable[[float], None] = time.sleep,
    stop: threading.Event | None = None,
) -> SendReport:
    """Send issue `number` (default: the newest) through `relay` to every active subscriber
    who lacks it.

    A draft is checked first (recipients, lint, placeholder sender and links; `force` skips
    the checks) and stays a draft when a check fails (SendError). When `stop` is set (from
    another thread: the daemon stopping), the run ends as on Ctrl-C: the messages on the
    wire finish and are recorded, no other starts, and the issue stays `sending`."""
    started = time.perf_counter()
    issue = latest_issue(db, number)
    full = message_template(issue, settings, clock())
    plan = stored_plan(db, issue)
    personalizer = Personalizer(full, settings, section_variants(plan, full, settings, clock()))
    if dry_run:
        return _dry_run(db, issue, personalizer)
    if issue.status is IssueStatus.SENT:
        done = send_counts(db, issue.id).deliveries
        return SendReport(
            number=issue.number, recipients=sum(done.values()), counts=done, status=issue.status
        )
    if issue.status is IssueStatus.DRAFT and not force:
        _preflight(db, settings, issue, clock())
    senders = envelope_senders(relay.envelope_from, settings)
    owner = lease.Owner.me()
    lease.acquire(db, issue.id, owner, clock())
    ledger = SqlLedger(db, issue.id, str(owner), rules=settings.bounces)
    path = journal_path(settings.data_dir, db.url, issue.id)
    try:
        start_sending(db, issue.id, clock())
        earlier = read_journal(path)
        replayed = ledger.replay(earlier.settled)
        interrupted = ledger.requeue_interrupted(clock())
        ledger.add_missing(clock(), lambda sid: make_message_id(settings, issue.number, sid))
        path.unlink(missing_ok=True)  # all it held is in the ledger now
        journal = Journal(path)
        run = SendRun(
            ledger=ledger,
            journal=journal,
            personalizer=personalizer,
            senders=senders,
            transport_factory=relay.transport_factory,
            pacer=Pacer.from_settings(settings.smtp),
            policy=retry_policy(settings),
            clock=clock,
            connections=settings.smtp.connections,
            breaker_failures=settings.smtp.breaker_failures,
            wait_seconds=settings.smtp.wait_seconds,
            db_patience_seconds=settings.database.outage_seconds,
            sleep=sleep,
            progress=progress,
            notify=notify,
            stop=stop,
        )
        result = run.run()
        journal.discard()
    finally:
        # A database that is gone cannot release the lease; it goes stale by itself, and the
        # error that stopped the run is the one to report.
        with contextlib.suppress(StorageError):
            lease.release(db, issue.id, owner)
    final = send_counts(db, issue.id).deliveries
    report = SendReport(
        number=issue.number,
        recipients=sum(final.values()),
        counts=final,
        resumed=len(earlier.on_the_wire & interrupted),
        replayed=replayed,
        seconds=time.perf_counter() - started,
        failures=result.failures,
        breaker=result.breaker,
        next_due=result.next_due,
        status=IssueStatus.SENDING,
    )
    if report.finished and result.breaker is None:
        mark_sent(db, issue.id, clock())
        report = replace(report, status=IssueStatus.SENT)
    return report


def _preflight(db: Database, settings: Settings, issue: StoredIssue, now: datetime) -> None:
    from digest.lint import lint_issue
    from digest.send.sample import preview_message

    message = preview_message(issue, settings, now)
    facts = Facts(
        recipients=send_counts(db, issue.id).active,
        lint=lint_issue(message.html, message.text, base_url=settings.newsletter.base_url),
    )
    reasons = reasons_not_to_send(facts, settings)
    if reasons:
        raise SendError(
            f"issue #{issue.number} not sent, it stays a draft: {'; '.join(reasons)} "
            "(fix it, or send with --force)"
        )


def _dry_run(db: Database, issue: StoredIssue, personalizer: Personalizer) -> SendReport:
    counts = send_counts(db, issue.id)
    active, done, due = counts.active, counts.deliveries, counts.due
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
        number=issue.number,
        recipients=active,
        counts=done,
        dry_run=True,
        sample_size=len(sample),
        due=due,
        status=issue.status,
    )
