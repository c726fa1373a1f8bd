"""`digest issue send` as a real process, stopped halfway by SIGTERM or SIGKILL, then rerun."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import func, select

from digest.compose import compose_issue
from digest.db.engine import Database
from digest.db.schema import Delivery
from digest.settings import load_settings
from tests.support.clock import Clock
from tests.support.keys import TEST_SECRET_KEY
from tests.support.seed import seed
from tests.support.smtp import SmtpTestServer

SUBSCRIBERS = 300
DIGEST_MODULE = [sys.executable, "-m", "digest"]
CONNECTIONS = 2


def workspace(tmp_path: Path, db_url: str, port: int) -> Path:
    config = tmp_path / "digest.toml"
    config.write_text(
        f'[database]\nurl = "{db_url}"\n[security]\nsecret_key = "{TEST_SECRET_KEY}"\n'
        f"[smtp]\nport = {port}\nconnections = {CONNECTIONS}\nretry_delay_seconds = 0.05\n",
        encoding="utf-8",
    )
    return config


def start_send(config: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "digest", "--config", str(config), "issue", "send"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


def send_to_the_end(config: Path) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "digest", "--config", str(config), "issue", "send"],
        capture_output=True,
        timeout=120,
        check=False,
    )


def sent_rows(db: Database) -> int:
    with db.session() as session:
        return int(
            session.scalar(
                select(func.count()).select_from(Delivery).where(Delivery.status == "sent")
            )
            or 0
        )


def wait_for(server: SmtpTestServer, count: int, child: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while len(server.received) < count:
        assert child.poll() is None, child.stderr.read() if child.stderr else b""
        assert time.monotonic() < deadline, "the send did not get going"
        time.sleep(0.01)


@pytest.fixture
def prepared(
    db: Database, db_url: str, clock: Clock, tmp_path: Path, smtp_server: SmtpTestServer
) -> Path:
    config = workspace(tmp_path, db_url, smtp_server.port)
    seed(db, clock, tmp_path, SUBSCRIBERS)
    compose_issue(db, load_settings(config, env={}), clock)
    smtp_server.faults.delay = 0.005
    return config


def test_sigterm_stops_cleanly_and_the_rerun_completes_exactly_once(
    prepared: Path, smtp_server: SmtpTestServer
) -> None:
    child = start_send(prepared)
    wait_for(smtp_server, 60, child)
    child.send_signal(signal.SIGTERM)
    _, err = child.communicate(timeout=60)
    assert child.returncode == 130
    assert err.decode().strip().splitlines()[-1] == "digest: interrupted"
    assert len(smtp_server.received) < SUBSCRIBERS
    smtp_server.faults.delay = 0.0
    rerun = send_to_the_end(prepared)
    assert rerun.returncode == 0, rerun.stderr
    counts = Counter(r.rcpt for r in smtp_server.received)
    assert len(counts) == SUBSCRIBERS
    assert set(counts.values()) == {1}


@pytest.mark.parametrize("moment", [1, 40, 150, 250, 299])
def test_sigkill_loses_nobody_and_repeats_only_what_was_on_the_wire(
    prepared: Path, smtp_server: SmtpTestServer, moment: int
) -> None:
    child = start_send(prepared)
    wait_for(smtp_server, moment, child)
    child.kill()
    child.wait(timeout=30)
    smtp_server.faults.delay = 0.0
    rerun = send_to_the_end(prepared)
    assert rerun.returncode == 0, rerun.stderr
    counts = Counter(r.rcpt for r in smtp_server.received)
    assert len(counts) == SUBSCRIBERS  # nobody skipped
    repeated = [rcpt for rcpt, n in counts.items() if n > 1]
    # Every answer is journaled the moment it comes, so only the messages on the wire when
    # the process died (at most one per connection) can arrive twice, and the rerun says
    # how many may have.
    resumed = re.search(rb"resumed: (\d+) delivery", rerun.stderr)
    on_the_wire = int(resumed.group(1)) if resumed else 0
    assert len(repeated) <= on_the_wire <= CONNECTIONS, rerun.stderr
    assert max(counts.values()) <= 2
    by_rcpt: dict[str, set[str]] = {}
    for received in smtp_server.received:
        by_rcpt.setdefault(received.rcpt, set()).add(received.message["Message-ID"])
    assert all(len(by_rcpt[rcpt]) == 1 for rcpt in repeated)  # same Message-ID both times


def test_status_is_readable_from_another_process_while_a_send_runs(
    prepared: Path, db: Database, smtp_server: SmtpTestServer
) -> None:
    child = start_send(prepared)
    try:
        wait_for(smtp_server, 40, child)
        smtp_server.faults.delay = 0.5  # still sending when status reads, however slow it is
        deadline = time.monotonic() + 30
        while not sent_rows(db):  # the first group of answers is in the ledger
            assert time.monotonic() < deadline
            time.sleep(0.05)
        watched = subprocess.run(
            [*DIGEST_MODULE, "--config", str(prepared), "issue", "status", "--json"],
            capture_output=True,
            timeout=60,
            check=True,
        )
    finally:
        child.kill()
        child.wait(timeout=30)
    status = json.loads(watched.stdout)
    assert status["number"] == 1 and status["status"] == "sending", status
    assert sum(status["counts"].values()) == SUBSCRIBERS
    assert status["sender"] is not None and status["sender_seen_seconds_ago"] < 60
    assert status["rate_per_second"] > 0 and status["eta_seconds"] is not None
