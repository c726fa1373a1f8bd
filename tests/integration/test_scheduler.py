"""The scheduler as the operator runs it: its jobs and triggers, what it runs at start-up and
logs, `digest scheduler --once` and `python scheduler.py --once`, and the gate commands."""

from __future__ import annotations

import logging
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from digest.cli import cli
from digest.compose import compose_issue
from digest.daemon.jobs import JobContext
from digest.daemon.runner import build_scheduler
from digest.db.engine import Database
from digest.db.jobs import JobOutcome, last_runs
from digest.db.sending import start_sending
from digest.db.weeks import week_issue
from digest.errors import ConfigError
from digest.send.wiring import smtp_relay
from digest.settings import Settings
from tests.support.cli import assert_one_error_line, invoke, run_main, write_config
from tests.support.clock import NOW, Clock, fixed, fixed_time_env
from tests.support.seed import seed
from tests.support.smtp import SmtpTestServer

ROOT = Path(__file__).resolve().parents[2]


def _context(db: Database, settings: Settings, clock: Clock) -> JobContext:
    return JobContext(db=db, settings=settings, clock=clock, relay=smtp_relay(settings))


def test_jobs_follow_the_crontab_settings(
    db: Database, db_url: str, clock: Clock, make_settings: Callable[..., Settings]
) -> None:
    settings = make_settings(
        db_url,
        schedule_send_cron="30 6 * * tue",
        schedule_collect_cron="0 */2 * * *",
        schedule_timezone="Europe/Brussels",
        bounces_maildir="bounces",
    )
    scheduler = build_scheduler(_context(db, settings, clock), catch_up=False)
    jobs = {job.id: job for job in scheduler.get_jobs()}
    assert set(jobs) == {"collect", "weekly", "deliveries", "bounces", "housekeeping"}
    monday = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
    fire = jobs["weekly"].trigger.get_next_fire_time(None, monday)
    # 06:30 in Brussels on Tuesday 24 November is 05:30 UTC.
    assert fire.astimezone(UTC) == datetime(2026, 11, 24, 5, 30, tzinfo=UTC)
    collect_fire = jobs["collect"].trigger.get_next_fire_time(None, monday)
    assert collect_fire.astimezone(UTC).hour % 2 == 1  # CET = UTC+1
    assert all(job.max_instances == 1 and job.coalesce for job in jobs.values())
    assert jobs["weekly"].misfire_grace_time is None  # the catch-up rule decides


def test_a_bad_crontab_line_is_a_config_error(
    db: Database, db_url: str, clock: Clock, make_settings: Callable[..., Settings]
) -> None:
    settings = make_settings(db_url, schedule_retry_cron="every monday")
    with pytest.raises(ConfigError, match=r"^schedule\.retry_cron: 'every monday'"):
        build_scheduler(_context(db, settings, clock))


def test_start_up_runs_what_is_due_at_once_and_logs_each_next_run(
    db: Database,
    db_url: str,
    clock: Clock,
    tmp_path: Path,
    make_settings: Callable[..., Settings],
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings = make_settings(db_url, schedule_proof_hours_before=20)
    seed(db, clock, tmp_path, 2)
    issue = compose_issue(db, settings, clock)
    # A send the last daemon left unfinished, begun before this week's time (07:00): it is
    # last week's issue, so this week's is still due.
    start_sending(db, issue.id, clock() - timedelta(hours=2))
    with caplog.at_level(logging.INFO, logger="digest.daemon"):
        scheduler = build_scheduler(_context(db, settings, clock))
    lines = [r.getMessage() for r in caplog.records if r.name == "digest.daemon"]
    assert lines == [
        "deliveries (continue unfinished sends; schedule.retry_cron = '*/5 * * * *'): next run "
        "now (issue(s) #1 still sending), then 2026-11-23 08:05 UTC",
        "collect (collect all sources; schedule.collect_cron = '15 * * * *'): next run now "
        "(due since 2026-11-23 07:15 UTC), then 2026-11-23 08:15 UTC",
        "housekeeping (housekeeping; schedule.housekeeping_cron = '30 3 * * *'): next run now "
        "(due since 2026-11-23 03:30 UTC), then 2026-11-24 03:30 UTC",
        "proof (compose and mail the proof 20 h before; schedule.proof_hours_before = "
        "'0 7 * * mon - 20 h'): next run 2026-11-29 11:00 UTC",
        "weekly (weekly issue; schedule.send_cron = '0 7 * * mon'): next run now (week of "
        "2026-11-23 07:00 UTC not sent yet), then 2026-11-30 07:00 UTC",
    ]
    jobs = {job.id: job for job in scheduler.get_jobs()}
    assert jobs["weekly"].next_run_time == NOW
    assert jobs["proof"].next_run_time == datetime(2026, 11, 29, 11, 0, tzinfo=UTC)


def test_digest_scheduler_once_sends_once_and_exits(
    db: Database, db_url: str, clock: Clock, tmp_path: Path, smtp_server: SmtpTestServer
) -> None:
    seed(db, clock, tmp_path, 3)
    config = write_config(tmp_path, db_url, smtp_server.port)
    invoke(config, "scheduler", "--once")
    assert sorted(r.rcpt for r in smtp_server.received) == [
        f"user{n}@example.com" for n in range(3)
    ]
    invoke(config, "scheduler", "--once")  # nothing is due any more
    assert len(smtp_server.received) == 3
    runs = last_runs(db)
    assert {name: run.outcome for name, run in runs.items()} == {
        "collect": JobOutcome.OK,
        "housekeeping": JobOutcome.OK,
        "weekly": JobOutcome.OK,
    }


def test_scheduler_once_exits_1_when_a_job_failed(
    db: Database, db_url: str, clock: Clock, tmp_path: Path
) -> None:
    seed(db, clock, tmp_path, 3)
    config = write_config(tmp_path, db_url, smtp_port=1)  # nothing listens there
    result = CliRunner().invoke(cli, ["--config", str(config), "scheduler", "--once"], obj=fixed)
    assert result.exit_code == 1, result.output
    weekly = last_runs(db)["weekly"]
    assert weekly.outcome is JobOutcome.FAILED
    assert weekly.line.startswith("week of 2026-11-23 07:00 UTC: issue #1 sending:")


def test_python_scheduler_py_once_as_a_process(
    db: Database, db_url: str, clock: Clock, tmp_path: Path, smtp_server: SmtpTestServer
) -> None:
    seed(db, clock, tmp_path, 2)
    config = write_config(tmp_path, db_url, smtp_server.port)
    done = subprocess.run(
        [sys.executable, str(ROOT / "scheduler.py"), "--config", str(config), "--once"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=str(ROOT),
        env=fixed_time_env(NOW + timedelta(minutes=1)),
    )
    assert done.returncode == 0, done.stderr
    assert len(smtp_server.received) == 2
    assert "weekly: ok in" in done.stderr
    assert "week of 2026-11-23 07:00 UTC: issue #1 sent: 2 sent" in done.stderr


def test_hold_and_approve_commands(
    db: Database,
    db_url: str,
    clock: Clock,
    tmp_path: Path,
    smtp_server: SmtpTestServer,
    capsys: pytest.CaptureFixture[str],
) -> None:
    seed(db, clock, tmp_path, 1)
    config = write_config(tmp_path, db_url, smtp_server.port)
    invoke(config, "issue", "compose")
    held = invoke(config, "issue", "hold", "1").output
    assert held.startswith("issue #1 is held: the weekly send skips it")
    assert week_issue(db, 1).held_at == NOW
    invoke(config, "issue", "hold", "--undo", "1")
    assert week_issue(db, 1).held_at is None
    assert "approved" in invoke(config, "issue", "approve", "1").output
    assert week_issue(db, 1).approved_at == NOW
    invoke(config, "issue", "approve", "--undo", "1")
    assert week_issue(db, 1).approved_at is None
    code, _, err = run_main(["--config", str(config), "issue", "hold", "9"], capsys)
    assert_one_error_line(code, err, "there is no issue #9")
    invoke(config, "issue", "send", "-n", "1")
    code, _, err = run_main(["--config", str(config), "issue", "approve", "1"], capsys)
    assert_one_error_line(
        code, err, "issue #1 is sent already: only a draft can be held or approved"
    )
