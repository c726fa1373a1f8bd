"""`digest issue send` against a relay that is down, slow, closing or refusing, and a
database that goes away: each finding of the sending issue, with real servers."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import select

from digest.db.engine import Database
from digest.db.schema import Delivery, Issue, Item
from tests.conftest import PG_ADMIN
from tests.support.cli import run_main
from tests.support.clock import Clock
from tests.support.keys import TEST_SECRET_KEY
from tests.support.seed import seed
from tests.support.smtp import SmtpTestServer, free_port

PEOPLE = 12
Cli = Callable[[list[str]], tuple[int, str, str]]


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str], clock: Clock) -> Cli:
    """`digest` in-process as the console script runs it, on the test's clock: (exit
    status, stdout, stderr)."""
    return lambda argv: run_main(argv, capsys, clock)


def config_file(tmp_path: Path, db_url: str, port: int, **smtp: object) -> Path:
    """Settings for a test; keyword arguments set or change [smtp] settings."""
    values: dict[str, object] = {
        "port": port,
        "connections": 2,
        "retry_delay_seconds": 0.01,
        "wait_seconds": 0.5,
        **smtp,
    }
    lines = "".join(f"{key} = {value!r}\n" for key, value in values.items())
    path = tmp_path / "digest.toml"
    path.write_text(
        f'[database]\nurl = "{db_url}"\noutage_seconds = 2\n'
        f'[security]\nsecret_key = "{TEST_SECRET_KEY}"\n'
        f"[smtp]\n{lines}",
        encoding="utf-8",
    )
    return path


def composed(
    cli: Cli, db: Database, tmp_path: Path, clock: Clock, config: Path, people: int = PEOPLE
) -> None:
    seed(db, clock, tmp_path, people)
    code, _, err = cli(["--config", str(config), "issue", "compose"])
    assert code == 0, err


def send(cli: Cli, config: Path, *args: str) -> tuple[int, str, str]:
    return cli(["--config", str(config), "issue", "send", *args])


def statuses(db: Database) -> Counter[str]:
    with db.session() as session:
        return Counter(session.scalars(select(Delivery.status)))


def issue_status(db: Database) -> str:
    with db.session() as session:
        return str(session.scalar(select(Issue.status)))


def test_a_relay_that_is_down_stops_at_once_and_burns_nothing(
    cli: Cli, db: Database, db_url: str, tmp_path: Path, clock: Clock
) -> None:
    port = free_port()  # nothing listens here yet
    config = config_file(tmp_path, db_url, port)
    composed(cli, db, tmp_path, clock, config)
    started = time.monotonic()
    code, out, err = send(cli, config)
    assert time.monotonic() - started < 10
    assert code == 5, (out, err)
    assert f"the relay cannot be reached (cannot reach 127.0.0.1:{port}" in out
    assert "nobody was charged an attempt" in out
    assert issue_status(db) == "sending" and statuses(db) == {"pending": PEOPLE}
    with db.session() as session:
        assert set(session.scalars(select(Delivery.attempts))) == {0}
        assert "published" not in set(session.scalars(select(Item.state)))
    code, out, _ = send(cli, config, "--dry-run")
    assert code == 0
    assert out.startswith(f"dry run: issue #1 (sending) would go to {PEOPLE} of {PEOPLE} active")
    code, out, _ = cli(["--config", str(config), "status"])
    assert code == 0
    assert f"not sent yet: {PEOPLE} in the queue: no sender is running" in out
    # The relay comes back: the next run sends everyone, once.
    server = SmtpTestServer(port).start()
    try:
        code, out, err = send(cli, config)
    finally:
        server.stop()
    assert code == 0, (out, err)
    assert out.strip().endswith("complete")
    assert Counter(r.rcpt for r in server.received) == {
        f"user{n}@example.com": 1 for n in range(PEOPLE)
    }
    assert issue_status(db) == "sent"


def test_retries_never_block_the_command_and_it_says_when_the_next_is_due(
    cli: Cli, db: Database, db_url: str, tmp_path: Path, clock: Clock, smtp_server: SmtpTestServer
) -> None:
    config = config_file(
        tmp_path, db_url, smtp_server.port, retry_delay_seconds=600, wait_seconds=1
    )
    composed(cli, db, tmp_path, clock, config)
    smtp_server.faults.defer["user2@example.com"] = 1
    started = time.monotonic()
    code, out, _ = send(cli, config)
    assert time.monotonic() - started < 15
    assert code == 4
    assert re.search(r"1 deferred, next attempt due 2026-11-23 08:10 UTC", out), out
    assert issue_status(db) == "sending"
    code, out, _ = cli(["--config", str(config), "issue", "status"])
    assert code == 0 and "not sent yet: 1 deferred by the relay" in out
    assert "deferred: 1 × 451 4.3.0 Temporary failure, try again later" in out


def test_after_an_outage_failed_deliveries_can_be_retried_and_delivered_ones_are_not(
    cli: Cli, db: Database, db_url: str, tmp_path: Path, clock: Clock, smtp_server: SmtpTestServer
) -> None:
    config = config_file(tmp_path, db_url, smtp_server.port, retry_for_hours=1)
    composed(cli, db, tmp_path, clock, config)
    smtp_server.faults.defer["user1@example.com"] = 2  # the relay defers it twice
    smtp_server.faults.refuse["user2@example.com"] = "554 5.7.1 Rejected by policy"
    code, out, err = send(cli, config)
    assert code == 4, (out, err)
    clock.advance(hours=2)  # past the retry deadline: one more try, then it gives up
    code, out, err = send(cli, config)
    assert code == 3, (out, err)
    assert out.strip().endswith("complete, 2 failed (reasons above)")
    assert "failed: 1 × retries ran out, last reply: 451 4.3.0 Temporary failure" in err
    with db.session() as session:
        reasons = set(session.scalars(select(Delivery.last_reply)))
    assert (
        "gave up after 2 attempt(s) over 2.0 h: 451 4.3.0 Temporary failure, try again later"
        in (reasons)
    )
    assert statuses(db) == {"sent": PEOPLE - 2, "failed": 2}
    code, out, _ = cli(["--config", str(config), "issue", "retry", "1"])
    assert code == 0 and "1 failed delivery(ies) back in the queue" in out
    assert issue_status(db) == "sending"
    code, out, _ = send(cli, config)
    assert code == 3  # user2's policy refusal is still a failure
    code, out, _ = cli(["--config", str(config), "issue", "retry", "1", "--all"])
    assert "1 failed delivery(ies) back in the queue" in out
    smtp_server.faults.refuse.clear()
    code, out, _ = send(cli, config)
    assert code == 0 and out.strip().endswith("complete")
    assert Counter(r.rcpt for r in smtp_server.received) == {
        f"user{n}@example.com": 1 for n in range(PEOPLE)
    }


def test_a_421_after_data_costs_the_next_recipient_nothing(
    cli: Cli, db: Database, db_url: str, tmp_path: Path, clock: Clock, smtp_server: SmtpTestServer
) -> None:
    config = config_file(tmp_path, db_url, smtp_server.port, connections=1)
    composed(cli, db, tmp_path, clock, config)
    smtp_server.faults.close_after_data = {"user3@example.com"}
    code, out, err = send(cli, config)
    # user3 is retried after its 421 (its retry is due later than the run waits for) and
    # nobody else on that connection lost an attempt.
    assert code in (0, 4), (out, err)
    attempts = smtp_server.handler.attempts
    assert all(attempts[f"user{n}@example.com"] == 1 for n in range(PEOPLE) if n != 3)
    with db.session() as session:
        per_row = list(session.scalars(select(Delivery.attempts)))
    # Only user3 may have needed a second attempt.
    assert per_row.count(1) >= PEOPLE - 1


def test_no_subscribers_leaves_the_issue_a_draft(
    cli: Cli, db: Database, db_url: str, tmp_path: Path, clock: Clock, smtp_server: SmtpTestServer
) -> None:
    config = config_file(tmp_path, db_url, smtp_server.port)
    composed(cli, db, tmp_path, clock, config, people=0)
    code, out, err = send(cli, config)
    assert code == 1 and out == ""
    assert err.strip() == (
        "digest: error: issue #1 not sent, it stays a draft: there are no active subscribers "
        "to send to (fix it, or send with --force)"
    )
    assert issue_status(db) == "draft"
    with db.session() as session:
        assert "published" not in set(session.scalars(select(Item.state)))
    code, out, _ = send(cli, config, "--force")
    assert code == 0 and issue_status(db) == "sent"


def test_placeholder_sender_is_refused_when_the_relay_is_not_local(
    cli: Cli, db: Database, db_url: str, tmp_path: Path, clock: Clock
) -> None:
    # 192.0.2.1 (TEST-NET-1) is never contacted: the check refuses before any connection.
    config = config_file(tmp_path, db_url, 25, host="192.0.2.1")
    composed(cli, db, tmp_path, clock, config)
    code, _, err = send(cli, config)
    assert code == 1
    assert "newsletter.from_address is still a placeholder (newsletter@example.com)" in err
    assert "newsletter.base_url is still a placeholder (http://127.0.0.1:8000)" in err
    assert issue_status(db) == "draft"


@pytest.mark.parametrize("connections", [15, 40])
def test_many_connections_work(
    cli: Cli,
    db: Database,
    db_url: str,
    tmp_path: Path,
    clock: Clock,
    smtp_server: SmtpTestServer,
    connections: int,
) -> None:
    config = config_file(tmp_path, db_url, smtp_server.port, connections=connections)
    composed(cli, db, tmp_path, clock, config, people=60)
    code, out, err = send(cli, config)
    assert code == 0, (out, err)
    assert len(smtp_server.received) == 60


def test_settings_that_cannot_work_are_refused(cli: Cli, tmp_path: Path) -> None:
    config = config_file(tmp_path, f"sqlite:///{tmp_path / 'x.sqlite3'}", 2525, connections=500)
    code, _, err = cli(["--config", str(config), "issue", "send"])
    assert code == 1 and "smtp.connections: at most 64, got 500" in err


def test_a_database_outage_keeps_every_accepted_answer_and_says_so(
    cli: Cli, db: Database, db_url: str, tmp_path: Path, clock: Clock, smtp_server: SmtpTestServer
) -> None:
    if not db_url.startswith("postgresql"):
        pytest.skip("the outage is made by closing the PostgreSQL database to connections")
    people = 200
    config = config_file(tmp_path, db_url, smtp_server.port)
    composed(cli, db, tmp_path, clock, config, people=people)
    smtp_server.faults.delay = 0.01
    name = db_url.rsplit("/", 1)[1]
    child = subprocess.Popen(
        [sys.executable, "-m", "digest", "--config", str(config), "issue", "send"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 60
    while len(smtp_server.received) < 40:
        assert child.poll() is None and time.monotonic() < deadline
        time.sleep(0.01)
    with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
        admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
            (name,),
        )
        try:
            _, err = child.communicate(timeout=60)
        finally:
            admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
    lines = err.decode().strip().splitlines()
    assert child.returncode == 1, lines
    assert lines[0].startswith("digest: warning: database unreachable (")
    assert re.fullmatch(
        r"digest: error: stopped: the database has been unreachable for \d+s \(.*\); \d+ "
        r"answer\(s\) the relay gave are kept in .*send-journal.* and will be recorded by the "
        r"next run",
        lines[-1],
    ), lines[-1]
    smtp_server.faults.delay = 0.0
    rerun = subprocess.run(
        [sys.executable, "-m", "digest", "--config", str(config), "issue", "send"],
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert rerun.returncode == 0, rerun.stderr
    counts = Counter(r.rcpt for r in smtp_server.received)
    assert len(counts) == people
    assert sum(n - 1 for n in counts.values()) <= 2  # at most the connections in flight
    assert b"recorded" in rerun.stderr
