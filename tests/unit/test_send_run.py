"""The send run's decisions and steps without a database or a network: retry deadlines,
exit statuses, the circuit breaker, waits that do not block, a database outage, the journal."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest

from digest.errors import SendError
from digest.model import DeliveryStatus, Recipient, SendOutcome
from digest.send.classify import Verdict
from digest.send.journal import Journal, read_journal
from digest.send.message import build_template
from digest.send.pacing import Pacer
from digest.send.personalize import Personalizer
from digest.send.policy import ExitStatus, RetryPolicy, exit_status, group_replies, settle
from digest.send.run import SendRun
from digest.send.transport import Reply
from digest.send.verp import EnvelopeSenders
from digest.settings import load_settings
from tests.support.clock import NOW, Clock
from tests.support.keys import TEST_SECRET_KEY
from tests.support.ledger import MemoryLedger, ScriptedTransport

POLICY = RetryPolicy(retry_for=timedelta(hours=48), first_delay_seconds=60, max_delay_seconds=3600)
DOWN = Reply(None, "cannot reach 127.0.0.1:25: ConnectionRefusedError", reached=False)


def recipient(attempts: int = 0, first_attempt_at: datetime | None = None) -> Recipient:
    return Recipient(
        delivery_id=1,
        subscriber_id=1,
        email="a@example.org",
        name="",
        message_id="<m>",
        attempts=attempts,
        first_attempt_at=first_attempt_at,
    )


def outcome(status: DeliveryStatus, reply: str = "451 4.3.0 later") -> SendOutcome:
    return SendOutcome(delivery_id=1, status=status, reply=reply)


def test_a_deferral_is_retried_with_doubling_delays_capped() -> None:
    assert [POLICY.delay(n).total_seconds() for n in (1, 2, 3, 7, 8, 30)] == [
        60,
        120,
        240,
        3600,
        3600,
        3600,
    ]
    first = settle(
        recipient(), outcome(DeliveryStatus.DEFERRED), Verdict(DeliveryStatus.DEFERRED), NOW, POLICY
    )
    assert first.status is DeliveryStatus.DEFERRED and first.attempts == 1
    assert first.first_attempt_at == NOW and first.next_attempt_at == NOW + timedelta(minutes=1)


def test_the_last_retry_falls_on_the_deadline_then_the_delivery_fails() -> None:
    started = NOW - timedelta(hours=47, minutes=30)
    late = recipient(attempts=40, first_attempt_at=started)
    row = settle(
        late, outcome(DeliveryStatus.DEFERRED), Verdict(DeliveryStatus.DEFERRED), NOW, POLICY
    )
    assert row.next_attempt_at == started + timedelta(hours=48)  # not an hour later
    past = settle(
        late,
        outcome(DeliveryStatus.DEFERRED),
        Verdict(DeliveryStatus.DEFERRED),
        started + timedelta(hours=48),
        POLICY,
    )
    assert past.status is DeliveryStatus.FAILED and past.temporary
    assert past.reply == "gave up after 41 attempt(s) over 48.0 h: 451 4.3.0 later"


def test_a_message_that_never_reached_the_relay_costs_no_attempt() -> None:
    row = settle(
        recipient(attempts=2),
        outcome(DeliveryStatus.DEFERRED),
        Verdict(DeliveryStatus.DEFERRED),
        NOW,
        POLICY,
        charged=False,
    )
    assert row.status is DeliveryStatus.PENDING and row.attempts == 2


@pytest.mark.parametrize(
    ("counts", "breaker", "expected"),
    [
        ({"sent": 5}, False, ExitStatus.DELIVERED),
        ({}, False, ExitStatus.DELIVERED),
        ({"sent": 4, "failed": 1, "skipped": 1}, False, ExitStatus.FAILURES),
        ({"sent": 4, "deferred": 1, "failed": 1}, False, ExitStatus.DEFERRED),
        ({"sent": 4, "pending": 1}, False, ExitStatus.DEFERRED),
        ({"pending": 5}, True, ExitStatus.BREAKER),
    ],
)
def test_exit_statuses(counts: dict[str, int], breaker: bool, expected: ExitStatus) -> None:
    assert exit_status(counts, breaker=breaker) is expected


def test_failures_group_by_reply_without_addresses_or_ids() -> None:
    replies = [
        "550 5.1.1 <a@x.org>: Recipient address rejected",
        "550 5.1.1 <b@y.org>: Recipient address rejected",
        "554 5.7.1 blocked, see ref 1234abc",
    ]
    assert group_replies(replies) == [
        ("550 5.1.1 <address> Recipient address rejected", 2),
        ("554 5.7.1 blocked, see ref …", 1),
    ]


def make_run(
    tmp_path: Path,
    ledger: MemoryLedger,
    transport: ScriptedTransport,
    clock: Clock,
    *,
    wait_seconds: float = 30.0,
    notes: list[str] | None = None,
    patience: float = 60.0,
) -> tuple[SendRun, list[float]]:
    settings = load_settings(None, env={"DIGEST_SECURITY_SECRET_KEY": TEST_SECRET_KEY})
    template = build_template(
        settings=settings, subject="S", html_body="<p>hi</p>", text_body="hi", number=1, date=NOW
    )
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        clock.advance(seconds=seconds)

    ticks = iter(range(10**9))
    run = SendRun(
        ledger=ledger,
        journal=Journal(tmp_path / "journal.log"),
        personalizer=Personalizer(template, settings),
        senders=EnvelopeSenders("news@example.org"),
        transport_factory=lambda: transport,
        pacer=Pacer(0.0),
        policy=POLICY,
        clock=clock,
        connections=2,
        breaker_failures=3,
        wait_seconds=wait_seconds,
        db_patience_seconds=patience,
        sleep=sleep,
        monotonic=lambda: float(next(ticks)),
        notify=(notes.append if notes is not None else None),
    )
    return run, slept


EMAILS = [f"user{n}@example.org" for n in range(20)]


def test_every_row_gets_its_answer(tmp_path: Path) -> None:
    ledger = MemoryLedger.of(EMAILS)
    transport = ScriptedTransport(
        {"user3@example.org": [Reply(550, "5.1.1 no such user", at_rcpt=True)]}
    )
    run, _ = make_run(tmp_path, ledger, transport, Clock())
    result = run.run()
    assert ledger.counts() == {"sent": 19, "failed": 1}
    assert [row.delivery_id for row in result.failures] == [4]
    assert sorted(transport.sent) == sorted(set(EMAILS) - {"user3@example.org"})


def test_the_breaker_stops_the_run_and_charges_nobody(tmp_path: Path) -> None:
    ledger = MemoryLedger.of(EMAILS)
    transport = ScriptedTransport({email: [DOWN] for email in EMAILS})
    run, _ = make_run(tmp_path, ledger, transport, Clock())
    result = run.run()
    assert result.breaker is not None and "ConnectionRefusedError" in result.breaker
    assert ledger.counts() == {"pending": 20}
    assert all(row.recipient.attempts == 0 for row in ledger.rows.values())


def test_a_relay_that_recovers_does_not_trip_the_breaker(tmp_path: Path) -> None:
    ledger = MemoryLedger.of(EMAILS)
    # Two failures in a row, then success: under the limit of three.
    transport = ScriptedTransport({"user0@example.org": [DOWN, DOWN, Reply(250, "ok")]})
    run, _ = make_run(tmp_path, ledger, transport, Clock())
    assert run.run().breaker is None


def test_retries_wait_at_most_the_bound_then_the_run_returns(tmp_path: Path) -> None:
    ledger = MemoryLedger.of(EMAILS)
    later = Reply(451, "4.7.1 greylisted, try again later", at_rcpt=True)
    transport = ScriptedTransport({"user1@example.org": [later]})
    clock = Clock()
    run, slept = make_run(tmp_path, ledger, transport, clock, wait_seconds=30.0)
    result = run.run()
    # The first retry is due in 60 s, beyond the 30 s the run may wait: it returns at once.
    assert slept == [] and result.next_due == NOW + timedelta(minutes=1)
    assert ledger.counts() == {"sent": 19, "deferred": 1}
    run, slept = make_run(tmp_path, ledger, transport, clock, wait_seconds=200.0)
    clock.advance(seconds=60)
    result = run.run()
    # Now it waits for the retries that fall due within 200 s (at +2 and +4 minutes).
    assert sum(slept) <= 200.0 and ledger.rows[2].recipient.attempts == 3
    assert result.next_due is not None


def test_a_short_database_outage_loses_nothing_and_says_so(tmp_path: Path) -> None:
    ledger = MemoryLedger.of(EMAILS)
    ledger.fail_writes = 2
    notes: list[str] = []
    run, _ = make_run(tmp_path, ledger, ScriptedTransport(), Clock(), notes=notes)
    run.run()
    assert ledger.counts() == {"sent": 20}
    assert notes[0].startswith("database unreachable (database error: OperationalError")
    assert "kept in" in notes[0] and notes[-1].startswith("database reachable again")


def test_a_long_database_outage_stops_with_one_line_and_keeps_the_answers(
    tmp_path: Path,
) -> None:
    ledger = MemoryLedger.of(EMAILS)
    ledger.fail_writes = 10**6
    transport = ScriptedTransport()
    run, _ = make_run(tmp_path, ledger, transport, Clock(), patience=0.0)
    with pytest.raises(SendError, match=r"stopped: the database has been unreachable") as error:
        run.run()
    assert "\n" not in str(error.value) and str(tmp_path / "journal.log") in str(error.value)
    # Every message the relay accepted is in the journal, for the next run to record.
    kept = read_journal(tmp_path / "journal.log")
    assert transport.sent and {row.delivery_id for row in kept.settled} == {
        int(email.removeprefix("user").partition("@")[0]) + 1 for email in transport.sent
    }
    assert all(row.status is DeliveryStatus.SENT for row in kept.settled)
    assert kept.on_the_wire == frozenset()


def test_the_journal_tells_what_was_on_the_wire_and_ignores_a_torn_line(tmp_path: Path) -> None:
    ledger = MemoryLedger.of(EMAILS[:3])
    run, _ = make_run(tmp_path, ledger, ScriptedTransport(), Clock())
    run.run()
    path = tmp_path / "journal.log"
    with path.open("ab") as journal:
        journal.write(b'B 7\nB 8\nR {"id": 8, "sta')  # killed mid-line
    kept = read_journal(path)
    assert kept.on_the_wire == frozenset({7, 8})
    assert sorted(row.delivery_id for row in kept.settled) == [1, 2, 3]
