"""One daemon per database, on SQLite (a file lock) and PostgreSQL (an advisory lock): a
second one is refused with one line naming the holder, and a holder killed with SIGKILL
leaves the lock free at once."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from digest.daemon.lock import DaemonLock, SchedulerRunning, holding, is_running, lock_file
from digest.db.daemon import read_holder
from digest.db.engine import Database
from digest.settings import Settings
from tests.support.cli import write_config
from tests.support.clock import NOW, Clock, fixed_time_env

# Nothing falls due while a test runs: every job once a year, at a time long past.
QUIET_SCHEDULE = (
    "[schedule]\n"
    + "".join(
        f'{key} = "0 0 1 1 *"\n'
        for key in ("send_cron", "collect_cron", "retry_cron", "bounce_cron", "housekeeping_cron")
    )
    + "stop_seconds = 10\n"
)


def test_a_second_lock_is_refused_naming_the_holder(
    db: Database, clock: Clock, make_settings: Callable[..., Settings], db_url: str
) -> None:
    settings = make_settings(db_url)
    with holding(db, settings, clock) as first:
        assert first.holder is not None
        with pytest.raises(SchedulerRunning) as refused:
            DaemonLock(db, settings, clock).acquire()
        host = socket.gethostname()
        assert str(refused.value) == (
            f"another scheduler is running (host {host}, pid {os.getpid()}, "
            "since 2026-11-23 08:00:00 UTC)"
        )
        running = is_running(db, settings)
        assert running is not None and running.pid == os.getpid()
    assert is_running(db, settings) is None
    # The daemon's row stays, with the time it stopped, for `digest status`.
    last = read_holder(db)
    assert last is not None and last.heartbeat_at == NOW


def test_the_status_probe_never_keeps_a_daemon_out(
    db: Database, clock: Clock, make_settings: Callable[..., Settings], db_url: str
) -> None:
    settings = make_settings(db_url)
    for _ in range(20):
        assert is_running(db, settings) is None
    with holding(db, settings, clock):
        assert is_running(db, settings) is not None


def test_a_one_off_run_removes_its_row(
    db: Database, clock: Clock, make_settings: Callable[..., Settings], db_url: str
) -> None:
    settings = make_settings(db_url)
    with holding(db, settings, clock, daemon=False):
        assert read_holder(db) is not None
    assert read_holder(db) is None


def test_the_heartbeat_is_recorded(
    db: Database, clock: Clock, make_settings: Callable[..., Settings], db_url: str
) -> None:
    settings = make_settings(db_url)
    with holding(db, settings, clock) as lock:
        clock.advance(minutes=5)
        assert lock.heartbeat()
        holder = read_holder(db)
        assert holder is not None and holder.since == NOW
        assert holder.heartbeat_at == clock()


def test_the_lock_file_lies_beside_the_sqlite_database(
    tmp_path: Path, make_settings: Callable[..., Settings]
) -> None:
    url = f"sqlite:///{tmp_path / 'news.sqlite3'}"
    database = Database(url)
    try:
        assert lock_file(database, make_settings(url)) == tmp_path / "news.sqlite3.scheduler.lock"
    finally:
        database.dispose()


# The daemon as a real process.


def start_daemon(config: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "digest", "--config", str(config), "scheduler"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**fixed_time_env(NOW), "PYTHONUNBUFFERED": "1"},
    )


def wait_until_started(child: subprocess.Popen[str], log: Path) -> None:
    deadline = time.monotonic() + 60
    while "scheduler started" not in (log.read_text() if log.exists() else ""):
        assert child.poll() is None, child.communicate()
        assert time.monotonic() < deadline, "the daemon did not start"
        time.sleep(0.05)


@pytest.fixture
def daemon_config(tmp_path: Path, db_url: str, db: Database) -> Path:
    log = tmp_path / "daemon.log"
    return write_config(tmp_path, db_url, extra=QUIET_SCHEDULE + f'log_file = "{log}"\n')


@pytest.fixture
def children() -> Iterator[list[subprocess.Popen[str]]]:
    started: list[subprocess.Popen[str]] = []
    yield started
    for child in started:
        if child.poll() is None:
            child.kill()
            child.wait(timeout=30)


def test_a_second_daemon_exits_with_one_line_naming_the_holder(
    daemon_config: Path, tmp_path: Path, children: list[subprocess.Popen[str]]
) -> None:
    first = start_daemon(daemon_config)
    children.append(first)
    wait_until_started(first, tmp_path / "daemon.log")
    second = start_daemon(daemon_config)
    children.append(second)
    _, err = second.communicate(timeout=60)
    assert second.returncode == 1
    lines = [line for line in err.splitlines() if line.startswith("digest: ")]
    assert len(lines) == 1, err
    # Under libfaketime the daemon's clock started at NOW and ran on for a second or two.
    assert lines[0].startswith(
        f"digest: error: another scheduler is running (host {socket.gethostname()}, "
        f"pid {first.pid}, since 2026-11-23 08:00:"
    ), err
    assert lines[0].endswith(" UTC)"), err
    assert first.poll() is None  # the holder runs on
    first.send_signal(signal.SIGTERM)
    assert first.wait(timeout=30) == 0


def test_a_daemon_killed_with_sigkill_leaves_the_lock_free(
    daemon_config: Path, tmp_path: Path, children: list[subprocess.Popen[str]]
) -> None:
    first = start_daemon(daemon_config)
    children.append(first)
    wait_until_started(first, tmp_path / "daemon.log")
    first.kill()
    first.wait(timeout=30)
    (tmp_path / "daemon.log").unlink()
    again = start_daemon(daemon_config)
    children.append(again)
    wait_until_started(again, tmp_path / "daemon.log")
    again.send_signal(signal.SIGTERM)
    assert again.wait(timeout=30) == 0
