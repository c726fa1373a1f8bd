"""The daemon's jobs against a real database (SQLite and PostgreSQL) and the test SMTP
server: the weekly issue sent exactly once whatever the reruns, restarts and races, the
catch-up rule, an interrupted send finished first, the approval gate, retries and
housekeeping."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from digest.compose import compose_issue
from digest.daemon.jobs import JobContext, JobResult
from digest.daemon.runner import run_job, run_once
from digest.daemon.schedule import JobName
from digest.db.engine import Database
from digest.db.items import store_entries
from digest.db.jobs import JobOutcome, last_runs, recent_runs, record_run
from digest.db.schema import Issue
from digest.db.sending import mark_sent, start_sending
from digest.db.weeks import claim_week, set_approved, set_held
from digest.errors import StorageError
from digest.model import Entry, ItemKind
from digest.send import send_issue
from digest.send.wiring import smtp_relay
from digest.settings import Settings
from tests.support.clock import NOW, Clock
from tests.support.seed import seed
from tests.support.smtp import SmtpTestServer

SLOT = datetime(2026, 11, 23, 7, 0, tzinfo=UTC)  # the default send_cron's Monday 07:00
PEOPLE = 5


def _context(db: Database, settings: Settings, clock: Clock) -> JobContext:
    return JobContext(db=db, settings=settings, clock=clock, relay=smtp_relay(settings))


@pytest.fixture
def settings(
    db_url: str, make_settings: Callable[..., Settings], smtp_server: SmtpTestServer
) -> Settings:
    return make_settings(db_url, smtp_port=smtp_server.port, smtp_wait_seconds=0)


def _issues(db: Database) -> list[tuple[int, str, datetime | None]]:
    with db.session() as session:
        rows = session.execute(
            select(Issue.number, Issue.status, Issue.week_slot).order_by(Issue.number)
        ).all()
        return [(n, s, w) for n, s, w in rows]


def _per_subscriber(smtp_server: SmtpTestServer) -> Counter[tuple[str, str]]:
    """(recipient, subject) -> how many times it arrived."""
    return Counter((r.rcpt, str(r.message["Subject"])) for r in smtp_server.received)


def _new_items(db: Database, clock: Clock, tag: str) -> None:
    entries = [
        Entry(
            kind=ItemKind.NEWS,
            title=f"Story {tag}{n}",
            link=f"https://example.org/{tag}/{n}",
            summary="<p>More</p>",
            guid=f"{tag}{n}",
            published_at=clock() - timedelta(minutes=n),
        )
        for n in range(2)
    ]
    store_entries(db, None, entries, clock())


def test_once_sends_the_weekly_issue_exactly_once_across_reruns(
    db: Database, settings: Settings, clock: Clock, tmp_path: Path, smtp_server: SmtpTestServer
) -> None:
    seed(db, clock, tmp_path, PEOPLE)
    ctx = _context(db, settings, clock)
    assert run_once(ctx) == 0
    assert _issues(db) == [(1, "sent", SLOT)]
    assert len(smtp_server.received) == PEOPLE
    for minutes in (0, 5, 60 * 11, 60 * 30):  # reruns the same day, and the next
        clock.now = NOW + timedelta(minutes=minutes)
        assert run_once(ctx) == 0
    assert len(smtp_server.received) == PEOPLE
    assert _issues(db) == [(1, "sent", SLOT)]
    weekly = recent_runs(db, job=JobName.WEEKLY)
    assert [r.outcome for r in weekly] == [JobOutcome.OK]
    assert "issue #1 sent: 5 sent" in weekly[0].line
    # The next week has new items: one new issue, for the new slot.
    clock.now = NOW + timedelta(days=7)
    _new_items(db, clock, "w2-")
    assert run_once(ctx) == 0
    assert _issues(db) == [(1, "sent", SLOT), (2, "sent", SLOT + timedelta(days=7))]
    assert set(_per_subscriber(smtp_server).values()) == {1}


def test_two_runs_racing_make_one_issue_and_send_it_once(
    db: Database, settings: Settings, clock: Clock, tmp_path: Path, smtp_server: SmtpTestServer
) -> None:
    seed(db, clock, tmp_path, PEOPLE)
    # Two contexts, as two processes would have: nothing shared but the database.
    contexts = [_context(db, settings, clock) for _ in range(2)]
    start = threading.Barrier(2)
    results: list[JobResult] = []

    def weekly(ctx: JobContext) -> None:
        start.wait()
        results.append(run_job(ctx, JobName.WEEKLY))

    threads = [threading.Thread(target=weekly, args=(ctx,)) for ctx in contexts]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert len(results) == 2
    assert _issues(db) == [(1, "sent", SLOT)]
    assert sorted(_per_subscriber(smtp_server).values()) == [1] * PEOPLE
    # The loser says why it sent nothing: the issue is the other run's; nothing failed.
    assert {r.outcome for r in results} <= {JobOutcome.OK, JobOutcome.SKIPPED}
    assert [r.line for r in results if "issue #1 sent: 5 sent" in r.line]


def test_claiming_a_week_that_has_an_issue_is_refused(
    db: Database, settings: Settings, clock: Clock, tmp_path: Path
) -> None:
    seed(db, clock, tmp_path, 1)
    first = compose_issue(db, settings, clock)
    claim_week(db, first.id, SLOT)
    mark_sent(db, first.id, clock())
    _new_items(db, clock, "more-")
    second = compose_issue(db, settings, clock)
    with pytest.raises(StorageError):
        claim_week(db, second.id, SLOT)
    assert _issues(db) == [(1, "sent", SLOT), (2, "draft", None)]


def test_a_week_missed_within_the_grace_is_caught_up_once(
    db: Database, settings: Settings, clock: Clock, tmp_path: Path, smtp_server: SmtpTestServer
) -> None:
    seed(db, clock, tmp_path, PEOPLE)
    clock.now = SLOT + timedelta(hours=11, minutes=59)  # the daemon was down since Sunday
    ctx = _context(db, settings, clock)
    assert run_once(ctx) == 0
    assert len(smtp_server.received) == PEOPLE
    clock.advance(hours=1)  # restarted again: past the grace, but done already
    assert run_once(ctx) == 0
    assert len(smtp_server.received) == PEOPLE
    assert len(recent_runs(db, job=JobName.WEEKLY)) == 1


def test_a_week_missed_past_the_grace_is_skipped_and_said_so_once(
    db: Database, settings: Settings, clock: Clock, tmp_path: Path, smtp_server: SmtpTestServer
) -> None:
    seed(db, clock, tmp_path, PEOPLE)
    clock.now = SLOT + timedelta(hours=12, seconds=1)
    ctx = _context(db, settings, clock)
    assert run_once(ctx) == 0
    assert smtp_server.received == []
    assert _issues(db) == []
    (run,) = recent_runs(db, job=JobName.WEEKLY)
    assert run.outcome is JobOutcome.SKIPPED
    assert run.line == (
        "week of 2026-11-23 07:00 UTC skipped: 12.0 h late, past schedule.catch_up_hours (12)"
    )
    clock.advance(hours=3)
    assert run_once(ctx) == 0
    assert len(recent_runs(db, job=JobName.WEEKLY)) == 1
    # The next week goes out as usual, with what the queue has.
    clock.now = SLOT + timedelta(days=7, minutes=1)
    assert run_once(ctx) == 0
    assert _issues(db) == [(1, "sent", SLOT + timedelta(days=7))]


def test_an_interrupted_send_is_finished_before_the_next_issue(
    db: Database, settings: Settings, clock: Clock, tmp_path: Path, smtp_server: SmtpTestServer
) -> None:
    seed(db, clock, tmp_path, PEOPLE)
    clock.now = NOW - timedelta(days=7)
    first = compose_issue(db, settings, clock)
    start_sending(db, first.id, clock())  # then the process died: no one got it
    clock.now = NOW
    _new_items(db, clock, "new-")
    # The weekly job alone (the daemon at send time): #1 first, then this week's #2.
    assert run_job(_context(db, settings, clock), JobName.WEEKLY).outcome is JobOutcome.OK
    assert _issues(db) == [(1, "sent", None), (2, "sent", SLOT)]
    subjects = [str(r.message["Subject"]) for r in smtp_server.received]
    assert len(subjects) == 2 * PEOPLE
    # Every copy of #1 went before any of #2, and everyone got each once.
    assert all("#1" in s for s in subjects[:PEOPLE]) and all("#2" in s for s in subjects[PEOPLE:])
    assert set(_per_subscriber(smtp_server).values()) == {1}
    (weekly,) = recent_runs(db, job=JobName.WEEKLY)
    assert weekly.line == (
        "issue #1 sent: 5 sent; week of 2026-11-23 07:00 UTC: issue #2 sent: 5 sent"
    )


def test_a_held_issue_is_reported_not_sent_and_can_go_by_hand(
    db: Database,
    db_url: str,
    make_settings: Callable[..., Settings],
    clock: Clock,
    tmp_path: Path,
    smtp_server: SmtpTestServer,
) -> None:
    settings = make_settings(
        db_url,
        smtp_port=smtp_server.port,
        schedule_proof_hours_before=2,
        schedule_editors=["editor@example.com"],
    )
    seed(db, clock, tmp_path, PEOPLE)
    ctx = _context(db, settings, clock)
    clock.now = SLOT - timedelta(hours=1)  # 06:00: the proof time (05:00) has come
    assert run_once(ctx) == 0
    assert [r.rcpt for r in smtp_server.received] == ["editor@example.com"]
    assert str(smtp_server.received[0].message["Subject"]).startswith("[TEST] ")
    assert _issues(db) == [(1, "draft", SLOT)]
    proof = last_runs(db)[JobName.PROOF]
    assert proof.line.endswith("proof of issue #1 mailed to 1 of 1 editor(s)")
    assert run_once(ctx) == 0  # the proof goes once
    assert len(smtp_server.received) == 1

    set_held(db, 1, clock())
    clock.now = SLOT + timedelta(seconds=30)
    assert run_once(ctx) == 0
    assert len(smtp_server.received) == 1
    weekly = last_runs(db)[JobName.WEEKLY]
    assert weekly.outcome is JobOutcome.SKIPPED
    assert "issue #1 is held, not sent" in weekly.line
    assert "`digest issue send -n 1`" in weekly.line
    assert _issues(db) == [(1, "draft", SLOT)]

    send_issue(db, settings, clock, relay=ctx.relay, number=1)
    assert len(smtp_server.received) == 1 + PEOPLE
    assert run_once(ctx) == 0
    assert len(smtp_server.received) == 1 + PEOPLE


def test_with_require_approval_only_an_approved_issue_goes(
    db: Database,
    db_url: str,
    make_settings: Callable[..., Settings],
    clock: Clock,
    tmp_path: Path,
    smtp_server: SmtpTestServer,
) -> None:
    settings = make_settings(
        db_url,
        smtp_port=smtp_server.port,
        schedule_require_approval="true",
        schedule_proof_hours_before=1,
        schedule_editors=["editor@example.com", "chief@example.com"],
    )
    seed(db, clock, tmp_path, PEOPLE)
    ctx = _context(db, settings, clock)
    # Last week: composed at send time, not approved: reported, not sent.
    clock.now = SLOT - timedelta(days=7, seconds=-1)
    assert run_job(ctx, JobName.WEEKLY).outcome is JobOutcome.SKIPPED
    assert "issue #1 is not approved" in last_runs(db)[JobName.WEEKLY].line
    assert smtp_server.received == []
    # This week: the proof makes the draft this week's, the editor approves, it goes.
    clock.now = SLOT - timedelta(minutes=30)
    assert run_once(ctx) == 0
    assert sorted(r.rcpt for r in smtp_server.received) == [
        "chief@example.com",
        "editor@example.com",
    ]
    assert _issues(db) == [(1, "draft", SLOT)]
    set_approved(db, 1, clock())
    _new_items(db, clock, "late-")  # an approved issue is sent as approved
    clock.now = SLOT + timedelta(minutes=1)
    assert run_once(ctx) == 0
    assert _issues(db) == [(1, "sent", SLOT)]
    sent = [r for r in smtp_server.received if r.rcpt.startswith("user")]
    assert len(sent) == PEOPLE
    assert "Story late-0" not in sent[0].message.get_body(("plain",)).get_content()  # type: ignore[union-attr]


def test_deferred_deliveries_are_retried_by_the_deliveries_job(
    db: Database, settings: Settings, clock: Clock, tmp_path: Path, smtp_server: SmtpTestServer
) -> None:
    seed(db, clock, tmp_path, PEOPLE)
    compose_issue(db, settings, clock)
    smtp_server.faults.defer["user2@example.com"] = 1
    ctx = _context(db, settings, clock)
    report = send_issue(db, settings, clock, relay=ctx.relay)
    assert report.counts["deferred"] == 1
    result = run_job(ctx, JobName.DELIVERIES)  # not due yet: nothing happens
    assert result.outcome is JobOutcome.OK and "1 deferred" in result.line
    assert len(smtp_server.received) == PEOPLE - 1
    clock.advance(seconds=settings.smtp.retry_delay_seconds)
    assert run_once(ctx) == 0  # --once always continues unfinished sends
    assert sorted(r.rcpt for r in smtp_server.received) == [
        f"user{n}@example.com" for n in range(PEOPLE)
    ]
    assert last_runs(db)[JobName.DELIVERIES].line.startswith("issue #1 sent: 5 sent")
    assert run_job(ctx, JobName.DELIVERIES).line == "no issue is sending"


def test_housekeeping_expires_removes_and_prunes(
    db: Database, settings: Settings, clock: Clock, tmp_path: Path
) -> None:
    seed(db, clock, tmp_path, 1)
    clock.advance(days=6)  # the seeded event (in 5 days) has started
    record_run(db, "collect", clock() - timedelta(days=91), JobOutcome.OK, "old")
    record_run(db, "collect", clock() - timedelta(days=89), JobOutcome.OK, "kept")
    result = run_job(_context(db, settings, clock), JobName.HOUSEKEEPING)
    assert result.outcome is JobOutcome.OK
    assert result.line == (
        "1 item(s) expired, 0 unconfirmed signup(s) removed, 0 raw bounce(s), 1 job run(s) and "
        "0 sent mail(s) pruned"
    )
    assert [r.line for r in recent_runs(db, job="collect")] == ["kept"]


def test_the_bounces_job_reads_the_configured_maildir(
    db: Database,
    db_url: str,
    make_settings: Callable[..., Settings],
    clock: Clock,
    tmp_path: Path,
) -> None:
    maildir = tmp_path / "bounces"
    for sub in ("cur", "new", "tmp"):
        (maildir / sub).mkdir(parents=True)
    (maildir / "new" / "1.msg").write_bytes(
        b"From: someone@example.org\r\nTo: x@example.com\r\nSubject: hello\r\n\r\nHi\r\n"
    )
    settings = make_settings(db_url, bounces_maildir=str(maildir))
    ctx = _context(db, settings, clock)
    assert run_once(ctx) == 0
    bounces = last_runs(db)[JobName.BOUNCES]
    assert bounces.outcome is JobOutcome.OK
    assert bounces.line.startswith("1 message processed")
    assert list((maildir / "new").iterdir()) == []


def test_an_issue_sent_by_hand_after_the_weekly_time_is_that_weeks_issue(
    db: Database, settings: Settings, clock: Clock, tmp_path: Path, smtp_server: SmtpTestServer
) -> None:
    """NOW is Monday 08:00, an hour after the weekly time: the operator's own send of #1
    counts for this week, so the weekly job sends no second issue (events and calls are back
    in the queue after a send, so there would be enough items for one)."""
    seed(db, clock, tmp_path, PEOPLE)
    compose_issue(db, settings, clock)
    ctx = _context(db, settings, clock)
    send_issue(db, settings, clock, relay=ctx.relay)
    assert len(smtp_server.received) == PEOPLE
    result = run_job(ctx, JobName.WEEKLY)
    assert len(smtp_server.received) == PEOPLE
    with db.session() as session:
        assert session.scalars(select(Issue.number)).all() == [1]
    assert result.outcome is not JobOutcome.FAILED
