"""Stopping the daemon: a stop event ends a send with the messages in flight recorded and
nothing skipped or doubled; SIGTERM during a send exits 0 within schedule.stop_seconds and
a restart finishes the issue, nobody twice; SIGHUP reopens the log file."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from digest.compose import compose_issue
from digest.db.engine import Database
from digest.db.schema import Delivery, Issue
from digest.db.sending import start_sending
from digest.model import DeliveryStatus, IssueStatus
from digest.send import send_issue
from digest.send.wiring import smtp_relay
from digest.settings import Settings, load_settings
from tests.support.cli import write_config
from tests.support.clock import NOW, Clock, fixed_time_env
from tests.support.seed import seed
from tests.support.smtp import SmtpTestServer

QUIET_SCHEDULE = (
    "[schedule]\n"
    + "".join(
        f'{key} = "0 0 1 1 *"\n'
        for key in ("send_cron", "collect_cron", "retry_cron", "bounce_cron", "housekeeping_cron")
    )
    + "stop_seconds = 10\n"
)
STOP_SECONDS = 10


def by_status(db: Database) -> dict[str, int]:
    with db.session() as session:
        rows = session.execute(select(Delivery.status, func.count()).group_by(Delivery.status))
        return {str(status): int(n) for status, n in rows}


def issue_status(db: Database) -> str:
    with db.session() as session:
        return str(session.scalars(select(Issue.status)).one())


def wait_for(what: Callable[[], bool], child: subprocess.Popen[str] | None = None) -> None:
    deadline = time.monotonic() + 60
    while not what():
        assert child is None or child.poll() is None, child.communicate() if child else ""
        assert time.monotonic() < deadline, "waited a minute in vain"
        time.sleep(0.02)


def test_a_stop_event_ends_a_send_with_nothing_skipped_or_doubled(
    db: Database,
    db_url: str,
    clock: Clock,
    tmp_path: Path,
    make_settings: Callable[..., Settings],
    smtp_server: SmtpTestServer,
) -> None:
    settings = make_settings(db_url, smtp_port=smtp_server.port, smtp_connections=3)
    seed(db, clock, tmp_path, 60)
    compose_issue(db, settings, clock)
    smtp_server.faults.delay = 0.02
    stop = threading.Event()

    def stop_after_ten() -> None:
        wait_for(lambda: len(smtp_server.received) >= 10)
        stop.set()

    stopper = threading.Thread(target=stop_after_ten)
    stopper.start()
    report = send_issue(db, settings, clock, relay=smtp_relay(settings), stop=stop)
    stopper.join()
    assert report.status is IssueStatus.SENDING and not report.finished
    received = Counter(r.rcpt for r in smtp_server.received)
    assert set(received.values()) == {1}
    # Every message the relay took is recorded as sent; the rest wait, none is closed.
    states = by_status(db)
    assert states[DeliveryStatus.SENT] == len(received) < 60
    assert set(states) <= {DeliveryStatus.SENT, DeliveryStatus.PENDING, DeliveryStatus.SENDING}
    smtp_server.faults.delay = 0.0
    rest = send_issue(db, settings, clock, relay=smtp_relay(settings))
    assert rest.finished and rest.status is IssueStatus.SENT and rest.resumed == 0
    received = Counter(r.rcpt for r in smtp_server.received)
    assert len(received) == 60 and set(received.values()) == {1}


# The daemon as a real process.


def start_daemon(config: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "digest", "--config", str(config), "scheduler"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,  # the same lines are in the log file
        text=True,
        env={**fixed_time_env(NOW), "PYTHONUNBUFFERED": "1", "DIGEST_SMTP_CONNECTIONS": "2"},
    )


@pytest.fixture
def children() -> Iterator[list[subprocess.Popen[str]]]:
    started: list[subprocess.Popen[str]] = []
    yield started
    for child in started:
        if child.poll() is None:
            child.kill()
            child.wait(timeout=30)


def read(path: Path) -> str:
    return path.read_text(encoding="utf-8") if path.exists() else ""


def test_sigterm_during_a_send_exits_0_in_time_and_a_restart_finishes_it(
    db: Database,
    db_url: str,
    clock: Clock,
    tmp_path: Path,
    smtp_server: SmtpTestServer,
    children: list[subprocess.Popen[str]],
) -> None:
    log = tmp_path / "daemon.log"
    config = write_config(
        tmp_path,
        db_url,
        smtp_server.port,
        extra=f'{QUIET_SCHEDULE}log_file = "{log}"\n',
    )
    seed(db, clock, tmp_path, 300)
    issue = compose_issue(db, load_settings(config, env={}), clock)
    with db.session() as session:
        issue_id = session.scalars(select(Issue.id).where(Issue.number == issue.number)).one()
    # An unfinished send: the daemon continues it at start-up.
    start_sending(db, issue_id, clock())
    smtp_server.faults.delay = 0.05
    daemon = start_daemon(config)
    children.append(daemon)
    wait_for(lambda: len(smtp_server.received) >= 40, daemon)
    asked = time.monotonic()
    daemon.send_signal(signal.SIGTERM)
    daemon.wait(timeout=STOP_SECONDS + 20)
    took = time.monotonic() - asked
    assert daemon.returncode == 0, read(log)
    assert took < STOP_SECONDS, took
    assert "stopping (SIGTERM)" in read(log) and "stopped" in read(log)
    received = Counter(r.rcpt for r in smtp_server.received)
    assert set(received.values()) == {1}
    assert by_status(db)[DeliveryStatus.SENT] == len(received) < 300
    smtp_server.faults.delay = 0.0
    again = start_daemon(config)
    children.append(again)
    wait_for(lambda: issue_status(db) == IssueStatus.SENT, again)
    again.send_signal(signal.SIGTERM)
    assert again.wait(timeout=30) == 0
    received = Counter(r.rcpt for r in smtp_server.received)
    assert len(received) == 300 and set(received.values()) == {1}


def test_sighup_reopens_the_log_file_and_libraries_stay_quiet(
    db: Database, db_url: str, tmp_path: Path, children: list[subprocess.Popen[str]]
) -> None:
    log = tmp_path / "daemon.log"
    config = write_config(tmp_path, db_url, extra=f'{QUIET_SCHEDULE}log_file = "{log}"\n')
    daemon = start_daemon(config)
    children.append(daemon)
    wait_for(lambda: "scheduler started" in read(log), daemon)
    moved = tmp_path / "daemon.log.1"
    log.rename(moved)
    daemon.send_signal(signal.SIGHUP)
    wait_for(lambda: "log file reopened" in read(log), daemon)
    daemon.send_signal(signal.SIGTERM)
    assert daemon.wait(timeout=30) == 0
    assert "stopped" in read(log) and "stopped" not in read(moved)
    everything = read(moved) + read(log)
    for chatter in ("Adding job tentatively", "Context impl", "non-transactional DDL"):
        assert chatter not in everything
    first = read(moved).splitlines()[0]
    # time, level, message
    assert first.startswith("2026-11-23T08:") and " INFO " in first, first
