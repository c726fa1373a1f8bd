"""`digest status` as an operator's health check, on SQLite and PostgreSQL: the scheduler
holding the lock, each job's next and last run, and exit status 2 with one `attention:` line
for each reason (a failing source, an issue stuck in `sending`, a complaint rate over the
threshold, a scheduler that stopped); a bad crontab line is one error line."""

from __future__ import annotations

import json
import os
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest

from digest.bounces.process import process_message
from digest.collect.sources import add_source
from digest.daemon.health import is_stuck
from digest.daemon.lock import holding
from digest.db import subscribers as people
from digest.db.daemon import Holder, write_holder
from digest.db.engine import Database
from digest.db.jobs import JobOutcome, record_end, record_start
from digest.db.schema import Delivery, Issue
from digest.db.sources import FetchOutcome, record_fetch
from digest.db.status import SendProgress
from digest.model import SourceKind
from digest.settings import load_settings
from tests.support.cli import run_main, write_config
from tests.support.clock import NOW, Clock
from tests.support.dsn import complaint
from tests.support.seed import mailed_issue

BASE = "newsletter@example.com"


def status(config: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, dict[str, object], str]:
    code, out, err = run_main(["--config", str(config), "status", "--json"], capsys)
    return code, json.loads(out), err


def attention_lines(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("attention: ")]


@pytest.fixture
def config(db: Database, db_url: str, tmp_path: Path) -> Path:
    return write_config(tmp_path, db_url)


def test_all_well_exits_0_and_lists_the_jobs_with_their_next_runs(
    config: Path, db: Database, capsys: pytest.CaptureFixture[str]
) -> None:
    run_id = record_start(db, "collect", NOW - timedelta(minutes=45))
    record_end(db, run_id, NOW - timedelta(minutes=44), JobOutcome.OK, "3 source(s): 2 new")
    code, data, err = status(config, capsys)
    assert code == 0, err
    assert attention_lines(err) == []
    # Today's keys are all still there.
    assert {"settings", "database", "sources", "items", "subscribers", "latest_issue"} <= set(data)
    assert data["daemon"] == {
        "running": False,
        "holder": None,
        "last_holder": None,
        "timezone": "UTC",
    }
    jobs = {job["job"]: job for job in data["jobs"]}  # type: ignore[attr-defined]
    assert set(jobs) >= {"collect", "weekly", "deliveries", "housekeeping"}
    # NOW is Monday 23 November 2026, 08:00 UTC: the weekly send (Monday 07:00) is next week.
    assert jobs["weekly"]["next_run"] == "2026-11-30 07:00:00+00:00"
    assert jobs["collect"]["next_run"] == "2026-11-23 08:15:00+00:00"
    assert jobs["collect"]["last_run"]["outcome"] == "ok"
    assert jobs["collect"]["last_run"]["line"] == "3 source(s): 2 new"
    assert jobs["weekly"]["last_run"] is None
    code, out, _ = run_main(["--config", str(config), "status"], capsys)
    assert code == 0
    assert "scheduler    not running (never started on this database)" in out
    assert "  weekly       next 2026-11-30 07:00 UTC  (0 7 * * mon); never run" in out


def test_the_scheduler_holding_the_lock_is_shown(
    config: Path, db: Database, clock: Clock, capsys: pytest.CaptureFixture[str]
) -> None:
    with holding(db, load_settings(config), clock):
        code, data, err = status(config, capsys)
        assert code == 0, err
        daemon = data["daemon"]
        assert isinstance(daemon, dict) and daemon["running"] is True
        assert daemon["holder"]["pid"] == os.getpid()
        _, out, _ = run_main(["--config", str(config), "status"], capsys)
        assert f"scheduler    running on {daemon['holder']['host']} (pid {os.getpid()})" in out
    # Stopped a moment ago: a scheduler is expected, and none runs.
    code, data, err = status(config, capsys)
    assert code == 2
    assert attention_lines(err) == [
        f"attention: the scheduler stopped at 2026-11-23 08:00 UTC (host "
        f"{data['daemon']['last_holder']['host']}, pid {os.getpid()}): start it again"  # type: ignore[index]
    ]


def test_a_scheduler_gone_for_more_than_a_day_is_not_expected(
    config: Path, db: Database, capsys: pytest.CaptureFixture[str]
) -> None:
    long_ago = NOW - timedelta(days=3)
    write_holder(db, Holder(host="old", pid=1, since=long_ago, heartbeat_at=long_ago))
    code, _, err = status(config, capsys)
    assert code == 0, err


def test_a_failing_source_needs_attention(
    config: Path, db: Database, capsys: pytest.CaptureFixture[str]
) -> None:
    source = add_source(db, "https://example.org/feed.xml", SourceKind.NEWS, "Example", NOW)
    for _ in range(3):
        record_fetch(db, source.id, FetchOutcome(status=503, error="HTTP 503"), NOW)
    code, data, err = status(config, capsys)
    assert code == 2
    assert attention_lines(err) == [
        "attention: source failing: Example (3 failures in a row: HTTP 503)"
    ]
    assert data["failures"] == {
        "sources": ["Example (3 failures in a row: HTTP 503)"],
        "last_failed_job": None,
    }


def add_issue(config: Path, db: Database, *, started: timedelta, owner: str | None = None) -> None:
    """Issue #1 `sending` since `started` ago, with one delivery pending."""
    subscriber = people.add(
        db, load_settings(config).signing_keys, "a@example.com", NOW,
        name="", language="", origin="test", force=False,
    )  # fmt: skip
    at = NOW - started
    with db.session() as session:
        issue = Issue(
            number=1, subject="Issue 1", status="sending", created_at=at, composed_at=at,
            send_started_at=at, send_owner=owner, send_heartbeat_at=at if owner else None,
        )  # fmt: skip
        session.add(issue)
        session.flush()
        session.add(
            Delivery(
                issue_id=issue.id, subscriber_id=subscriber.id, status="pending",
                message_id="<1.1>", created_at=at, updated_at=at,
            )
        )  # fmt: skip


def test_an_issue_stuck_in_sending_needs_attention(
    config: Path, db: Database, capsys: pytest.CaptureFixture[str]
) -> None:
    add_issue(config, db, started=timedelta(hours=2))
    code, data, err = status(config, capsys)
    assert code == 2
    assert attention_lines(err) == [
        "attention: issue #1 is stuck in sending: no progress since 2026-11-23 06:00 UTC and "
        "no sender running (`digest issue send 1` or the scheduler continues it)"
    ]
    assert data["sending"][0]["due"] == 1  # type: ignore[index]


def test_a_send_that_moved_recently_is_not_stuck(
    config: Path, db: Database, capsys: pytest.CaptureFixture[str]
) -> None:
    add_issue(config, db, started=timedelta(minutes=20))
    code, _, err = status(config, capsys)
    assert code == 0, err


def test_stuck_means_no_progress_no_sender_and_nothing_merely_waiting() -> None:
    hour = timedelta(hours=1)
    old = SendProgress(
        number=1,
        started_at=NOW - 3 * hour,
        last_progress_at=NOW - 2 * hour,
        sender=None,
        sender_seen_at=None,
        due=5,
        next_retry_at=None,
    )
    assert is_stuck(old, NOW)
    alive = replace(old, sender="h:1:x", sender_seen_at=NOW)
    assert not is_stuck(alive, NOW)
    waiting = replace(old, due=0, next_retry_at=NOW + hour)
    assert not is_stuck(waiting, NOW)
    overdue = replace(old, due=0, next_retry_at=NOW - 2 * hour)
    assert is_stuck(overdue, NOW)


def test_a_complaint_rate_over_the_threshold_needs_attention(
    config: Path, db: Database, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = load_settings(config)
    mailed_issue(db, settings, 40)
    raw = complaint(to=BASE, recipient="user3@example.com", mail_from=BASE)
    process_message(db, settings, raw, channel="maildir", now=NOW)
    code, _, err = status(config, capsys)
    assert code == 2
    assert attention_lines(err) == [
        "attention: issue #1: complaint rate 2.50% is over bounces.complaint_warn_rate (0.30%)"
    ]


def test_the_last_failed_job_is_shown(
    config: Path, db: Database, capsys: pytest.CaptureFixture[str]
) -> None:
    run_id = record_start(db, "bounces", NOW - timedelta(minutes=10))
    record_end(db, run_id, NOW - timedelta(minutes=9), JobOutcome.FAILED, "IMAP login refused")
    code, data, err = status(config, capsys)
    assert code == 0, err  # shown, not a reason on its own: the next run may well succeed
    failed = data["failures"]["last_failed_job"]  # type: ignore[index]
    assert (failed["job"], failed["outcome"], failed["line"]) == (
        "bounces",
        "failed",
        "IMAP login refused",
    )
    _, out, _ = run_main(["--config", str(config), "status"], capsys)
    assert "last failure bounces at 2026-11-23 07:50: IMAP login refused" in out


def test_a_bad_crontab_line_is_one_error_line_naming_the_setting(
    db: Database,
    db_url: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    config = write_config(tmp_path, db_url, extra='[schedule]\nsend_cron = "every monday"\n')
    code, out, err = run_main(["--config", str(config), "status"], capsys)
    assert code == 1 and out == ""
    assert err.splitlines() == [
        "digest: error: schedule.send_cron: 'every monday' is not a crontab line: "
        "2 fields, expected 5 (or 6 with seconds first)"
    ]
    expected = (
        "digest: error: schedule.send_cron: 'every monday' is not a crontab line: "
        "2 fields, expected 5 (or 6 with seconds first)"
    )
    # The daemon's start-up says the same, before it starts anything.
    code, _, err = run_main(["--config", str(config), "scheduler"], capsys)
    assert code == 1 and err.splitlines() == [expected]
    # `digest init` checks the file it writes with the DIGEST_* variables set.
    monkeypatch.setenv("DIGEST_SCHEDULE_SEND_CRON", "every monday")
    code, _, err = run_main(["init", "--path", str(tmp_path / "new.toml")], capsys)
    assert code == 1 and err.splitlines() == [expected]
    assert list(tmp_path.glob("*new.toml*")) == []
    monkeypatch.delenv("DIGEST_SCHEDULE_SEND_CRON")
    code, _, err = run_main(["init", "--path", str(tmp_path / "new.toml")], capsys)
    assert code == 0 and (tmp_path / "new.toml").exists(), err
