"""The daemon interrupted during a send and started again, as real processes (`python
scheduler.py`): the weekly job composes issue #1 at start-up and sends it to 300 subscribers
through a relay that keeps each message and is then slow to answer; SIGKILL lands mid-send,
and the restarted daemon finishes the issue with nobody skipped and duplicates within the
bound the send stage documents (README, "Sending, and what happens when things go wrong"):
at most the messages on the wire, smtp.connections, each with its original Message-ID.
SIGTERM instead gives none, and exits 0 in time.

The daemon runs on the real clock (tests/support/daemon.py says why not under libfaketime):
the weekly time is every minute, so the one just past is caught up at start-up."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from digest.db.engine import Database
from digest.db.schema import Delivery
from tests.support.clock import Clock
from tests.support.daemon import (
    SlowRelay,
    daemon_now,
    daemons,
    issue_status,
    message_ids,
    start_daemon,
    tally,
    wait_for,
    write_settings,
)
from tests.support.keys import TEST_SECRET_KEY
from tests.support.seed import seed

SUBSCRIBERS = 300
CONNECTIONS = 4  # smtp.connections: the messages that can be on the wire at once
DELAY = 0.02  # seconds the relay takes to answer each DATA
INTERRUPT_AFTER = 60  # messages accepted before the signal
STOP_SECONDS = 10.0
QUIET = "0 0 1 1 *"  # once a year, long past: runs once at start-up, then not again


def settings_file(tmp_path: Path, db_url: str, smtp_port: int, log: Path) -> Path:
    return write_settings(
        tmp_path / "digest.toml",
        {
            "database": {"url": db_url},
            "security": {"secret_key": TEST_SECRET_KEY},
            "smtp": {
                "port": smtp_port,
                "connections": CONNECTIONS,
                "retry_delay_seconds": 0.5,
                "wait_seconds": 2.0,
            },
            "schedule": {
                "send_cron": "* * * * *",
                "collect_cron": QUIET,
                "bounce_cron": QUIET,
                "housekeeping_cron": QUIET,
                "retry_cron": "*/5 * * * * *",
                "log_file": str(log),
                "stop_seconds": STOP_SECONDS,
            },
        },
    )


@pytest.fixture
def relay() -> Iterator[SlowRelay]:
    server = SlowRelay()
    server.start()
    yield server
    server.stop()


def deliveries_by_status(db: Database) -> dict[str, int]:
    with db.session() as session:
        rows = session.execute(select(Delivery.status, func.count()).group_by(Delivery.status))
        return {str(status): int(n) for status, n in rows}


@pytest.mark.parametrize("how", ["SIGKILL", "SIGTERM"])
def test_an_interrupted_send_is_finished_by_the_next_daemon(
    how: str, db: Database, db_url: str, tmp_path: Path, relay: SlowRelay
) -> None:
    began = time.monotonic()
    seed(db, Clock(daemon_now()), tmp_path, SUBSCRIBERS)
    everyone = [f"user{n}@example.com" for n in range(SUBSCRIBERS)]
    log = tmp_path / "daemon.log"
    config = settings_file(tmp_path, db_url, relay.port, log)
    relay.faults.delay = DELAY
    received = relay.received

    with daemons() as started:
        first = start_daemon(config, log, script=True)
        started.append(first)
        to_interrupt = wait_for(
            lambda: len(received) >= INTERRUPT_AFTER,
            first,
            doing=f"{INTERRUPT_AFTER} messages of issue #1",
            poll=0.002,
        )
        if how == "SIGKILL":
            first.kill()
            code, took = -9, 0.0
        else:
            code, took = first.terminate(timeout=STOP_SECONDS + 20)
            assert code == 0, first.output()
            assert took < STOP_SECONDS, took
            assert "stopping (SIGTERM)" in first.log_text(), first.output()
        accepted_at_stop = len(received)
        assert accepted_at_stop < SUBSCRIBERS, "the send ended before the signal"
        assert issue_status(db, 1) == "sending"
        if how == "SIGTERM":
            # The messages in flight finished and were recorded; nothing else started.
            assert deliveries_by_status(db).get("sent") == accepted_at_stop
        relay.faults.delay = DELAY / 10

        second = start_daemon(config, log, script=True)
        started.append(second)
        to_finish = wait_for(
            lambda: issue_status(db, 1) == "sent", second, doing="issue #1 to be sent"
        )
        last_code, _ = second.terminate()
        assert last_code == 0, second.output()
        log_text = second.log_text()

    result = tally(list(received), message_ids(db), 1)
    assert result.skipped(everyone) == []
    assert set(result.per_recipient) == set(everyone)
    # A duplicate is the same message again: one Message-ID per recipient.
    assert {len(ids) for ids in result.ids_of.values()} == {1}
    assert deliveries_by_status(db) == {"sent": SUBSCRIBERS}
    # The resume line of the send (the job's own end line repeats it).
    resent = sum(
        int(n) for n in re.findall(r" send: issue #1 .*?(\d+) interrupted on the wire", log_text)
    )
    if how == "SIGKILL":
        assert result.duplicates <= resent <= CONNECTIONS, (result.duplicates, resent)
    else:
        assert result.duplicates == 0 and resent == 0, (result.duplicates, resent)
    assert set(result.per_recipient.values()) <= {1, 2}

    print(
        f"\n[daemon {how} {db.engine.dialect.name}] subscribers={SUBSCRIBERS} "
        f"connections={CONNECTIONS}: {how} {to_interrupt:.2f}s after start with "
        f"{accepted_at_stop} accepted"
        + (f" (exit {code} in {took:.2f}s)" if how == "SIGTERM" else "")
        + f"; restarted daemon finished in {to_finish:.1f}s; messages={result.messages} "
        f"skipped={len(result.skipped(everyone))} duplicates={result.duplicates} "
        f"(bound {CONNECTIONS if how == 'SIGKILL' else 0}) resent_on_resume={resent} | "
        f"total {time.monotonic() - began:.1f}s"
    )
