"""The daemon end to end, as a real process with schedules seconds apart, against a local feed
server, the test SMTP server and a real IMAP server (Dovecot, STARTTLS): the items are
collected, issue #1 is composed and sent to every subscriber exactly once, a DSN for one
delivery's VERP envelope sender arriving afterwards in the bounce mailbox suppresses that
subscriber, and issue #2 goes to everyone else, exactly once; SIGTERM then exits 0.

A "week" lasts 20 seconds here (schedule.send_cron = "S/20 * * * * *"), and
schedule.catch_up_hours is 0.001 (3.6 s): the daemon starts some 5 s after a weekly time, so
that week is skipped and said so, and issue #1 waits for the next one, by when the first
collect has run. The daemon runs on the real clock (see tests/support/daemon.py for why not
under libfaketime); the feeds are dated from it. Run with `-s` to see the figures."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import select

from digest.cli import cli
from digest.db.engine import Database
from digest.db.jobs import JobOutcome
from digest.db.schema import JobRun, Subscriber
from tests.support.daemon import (
    Daemon,
    daemon_now,
    daemons,
    issue_status,
    message_ids,
    start_daemon,
    tally,
    wait_for,
    write_settings,
)
from tests.support.dsn import dsn
from tests.support.feeds import RssItem, rss
from tests.support.http import FeedHttpServer, Route
from tests.support.imap import Account, DovecotServer, dovecot
from tests.support.keys import TEST_SECRET_KEY
from tests.support.smtp import SmtpTestServer

SUBSCRIBERS = 20
WEEK_SECONDS = 20
# The daemon is started this many seconds (and its start-up) after a weekly time: later
# than schedule.catch_up_hours (3.6 s), so that week is skipped, said so once.
LATE_START = 4
VICTIM = "reader07@example.com"


@pytest.fixture(scope="module")
def imap_server() -> Iterator[DovecotServer]:
    with dovecot() as running:
        yield running


def news(now: datetime, *numbers: int) -> bytes:
    return rss(
        [
            RssItem(
                title=f"Story {n}",
                guid=f"story-{n}",
                link=f"https://example.org/story/{n}",
                description=f"<p>About story {n}.</p>",
                published=now - timedelta(hours=10 - n),
            )
            for n in numbers
        ],
        title="Cluster news",
    )


def events(now: datetime) -> bytes:
    start = (now + timedelta(days=10)).replace(microsecond=0)
    return rss(
        [
            RssItem(
                title="Cluster Forum",
                guid="forum",
                link="https://example.org/forum",
                published=now - timedelta(days=1),
                extra=f"<ev:startdate>{start.isoformat()}</ev:startdate>"
                "<ev:location>Gent, Belgium</ev:location>",
            )
        ],
        title="Cluster events",
    )


def settings_file(
    tmp_path: Path,
    db_url: str,
    smtp_port: int,
    account: Account,
    log: Path,
    send_cron: str = "0 0 1 1 *",
) -> Path:
    server = account.server
    return write_settings(
        tmp_path / "digest.toml",
        {
            "database": {"url": db_url},
            "security": {"secret_key": TEST_SECRET_KEY},
            "newsletter": {"name": "Cluster Weekly"},
            "smtp": {
                "port": smtp_port,
                "verp": True,
                "connections": 2,
                "retry_delay_seconds": 0.5,
                "wait_seconds": 2.0,
            },
            "collect": {"timeout_seconds": 2.0, "allow_hosts": ["127.0.0.1"]},
            "compose": {"min_items": 1},
            "bounces": {
                "imap_host": "127.0.0.1",
                "imap_port": server.port,
                "imap_security": "starttls",
                "imap_user": account.user,
                "imap_password": account.password,
                "timeout_seconds": 10.0,
            },
            "schedule": {
                "send_cron": send_cron,
                "collect_cron": "*/2 * * * * *",
                "bounce_cron": "*/2 * * * * *",
                "retry_cron": "*/5 * * * * *",
                "housekeeping_cron": "0 0 1 1 *",
                "catch_up_hours": 0.001,
                "log_file": str(log),
                "stop_seconds": 10.0,
            },
        },
    )


def subscriber_status(db: Database, address: str) -> str:
    with db.session() as session:
        return str(
            session.scalars(select(Subscriber.status).where(Subscriber.email == address)).one()
        )


def job_outcomes(db: Database) -> dict[str, list[str]]:
    with db.session() as session:
        found: dict[str, list[str]] = {}
        for outcome, line in session.execute(select(JobRun.outcome, JobRun.line)):
            found.setdefault(str(outcome), []).append(line)
        return found


def cli_in_process(config: Path, *args: str) -> Result:
    """One command in-process, on the daemon's clock; fails the test unless it exits 0."""
    result = CliRunner().invoke(cli, ["--config", str(config), *args], obj=daemon_now)
    assert result.exit_code == 0, (args, result.output, result.exception)
    return result


def test_the_daemon_collects_sends_once_ingests_a_bounce_and_skips_them_next_week(
    db: Database,
    db_url: str,
    tmp_path: Path,
    smtp_server: SmtpTestServer,
    http_server: FeedHttpServer,
    imap_server: DovecotServer,
) -> None:
    began = time.monotonic()
    account = imap_server.account()
    log = tmp_path / "daemon.log"
    config = settings_file(tmp_path, db_url, smtp_server.port, account, log)
    now = daemon_now()
    http_server.routes["/news.xml"] = Route(news(now, 1, 2, 3))
    http_server.routes["/events.xml"] = Route(events(now))
    cli_in_process(config, "sources", "add", http_server.url("/news.xml"), "--kind", "news")
    cli_in_process(config, "sources", "add", http_server.url("/events.xml"), "--kind", "events")
    roster = tmp_path / "people.csv"
    everyone = [f"reader{n:02d}@example.com" for n in range(SUBSCRIBERS)]
    roster.write_text("email,name\n" + "".join(f"{a},R {a[6:8]}\n" for a in everyone))
    imported = cli_in_process(config, "subscribers", "import", str(roster))
    assert imported.stdout.startswith(f"imported {SUBSCRIBERS} new subscriber(s)")

    # The weekly times fall LATE_START seconds before now, and every 20 s after.
    phase = (daemon_now().second - LATE_START) % WEEK_SECONDS
    settings_file(
        tmp_path, db_url, smtp_server.port, account, log, f"{phase}/{WEEK_SECONDS} * * * * *"
    )
    with daemons() as started:
        daemon = start_daemon(
            config,
            log,
            # STARTTLS to Dovecot: the daemon trusts the fixture's self-signed certificate.
            env={"SSL_CERT_FILE": str(imap_server.cafile)},
        )
        started.append(daemon)
        run_e2e(db, config, daemon, smtp_server, http_server, account, everyone, began)


def run_e2e(
    db: Database,
    config: Path,
    daemon: Daemon,
    smtp_server: SmtpTestServer,
    http_server: FeedHttpServer,
    account: Account,
    everyone: list[str],
    began: float,
) -> None:
    # Issue #1: the week the daemon started late in is skipped; the next weekly time sends.
    to_first = wait_for(
        lambda: issue_status(db, 1) == "sent", daemon, timeout=WEEK_SECONDS + 30, doing="issue #1"
    )
    log_text = daemon.log_text()
    late = re.findall(r"weekly: skipped in .*: week of .* skipped: .*catch_up_hours", log_text)
    assert len(late) == 1, log_text
    issue_of = message_ids(db)
    first = tally(list(smtp_server.received), issue_of, 1)
    assert first.skipped(everyone) == []
    assert set(first.per_recipient) == set(everyone)
    assert set(first.per_recipient.values()) == {1}, first.per_recipient
    assert set(first.per_message_id.values()) == {1}
    assert len(first.per_message_id) == len(everyone)
    # VERP: each delivery its own envelope sender.
    senders = {r.rcpt: r.mail_from for r in smtp_server.received}
    assert len(set(senders.values())) == len(everyone)
    assert all("+" in sender for sender in senders.values())

    # A DSN for one delivery comes back to its envelope sender, into the bounce mailbox.
    original = next(r for r in smtp_server.received if r.rcpt == VICTIM)
    headers = original.raw.split(b"\r\n\r\n", 1)[0].decode()
    dropped = time.monotonic()
    account.append(dsn(to=senders[VICTIM], recipient=VICTIM, original=headers))
    to_bounced = wait_for(
        lambda: subscriber_status(db, VICTIM) == "bounced",
        daemon,
        timeout=30,
        doing=f"the bounce of {VICTIM} to be ingested",
    )
    assert account.messages() == []
    assert len(account.messages("digest-processed")) == 1
    assert {subscriber_status(db, a) for a in everyone if a != VICTIM} == {"active"}

    # A new story arrives: the next weekly time composes issue #2 from it.
    http_server.routes["/news.xml"] = Route(news(daemon_now(), 1, 2, 3, 4))
    added = time.monotonic()
    to_second = wait_for(
        lambda: issue_status(db, 2) == "sent",
        daemon,
        timeout=2 * WEEK_SECONDS + 15,
        doing="issue #2",
    )
    issue_of = message_ids(db)
    # Issue #1 is still exactly once each: nothing of it was sent again.
    again = tally(list(smtp_server.received), issue_of, 1)
    assert again.per_recipient == first.per_recipient
    second = tally(list(smtp_server.received), issue_of, 2)
    others = [a for a in everyone if a != VICTIM]
    assert VICTIM not in second.per_recipient
    assert set(second.per_recipient) == set(others)
    assert set(second.per_recipient.values()) == {1}, second.per_recipient
    assert set(second.per_message_id.values()) == {1}
    assert issue_status(db, 3) is None

    # `digest status` sees the daemon and both issues.
    shown = CliRunner().invoke(cli, ["--config", str(config), "status", "--json"], obj=daemon_now)
    report = json.loads(shown.stdout)
    assert report["daemon"]["running"] is True, shown.output
    assert report["latest_issue"]["number"] == 2
    assert report["latest_issue"]["status"] == "sent"

    code, took = daemon.terminate()
    assert code == 0, daemon.output()
    assert "stopping (SIGTERM)" in daemon.log_text() and "stopped" in daemon.log_text()
    outcomes = job_outcomes(db)
    assert JobOutcome.FAILED not in outcomes, outcomes[JobOutcome.FAILED]
    assert JobOutcome.RUNNING not in outcomes, outcomes[JobOutcome.RUNNING]
    weekly_skips = sum("issue #2 not composed" in line for line in outcomes["skipped"])

    print(
        f"\n[daemon e2e {db.engine.dialect.name}] subscribers={len(everyone)} "
        f"issue1: {first.messages} messages to {len(first.per_recipient)} recipients, "
        f"duplicates={first.duplicates}, skipped={len(first.skipped(everyone))}, "
        f"sent {to_first:.1f}s after the daemon started | "
        f"bounce ingested {to_bounced:.1f}s after the DSN was appended "
        f"(at {dropped - daemon.started:.1f}s) | "
        f"issue2: {second.messages} messages, victim got {second.per_recipient[VICTIM]}, "
        f"duplicates={second.duplicates}, skipped={len(second.skipped(others))}, "
        f"sent {to_second:.1f}s after the new story was served "
        f"(at {added - daemon.started:.1f}s; {weekly_skips} empty week(s) between) | "
        f"SIGTERM exit {code} in {took:.2f}s | total {time.monotonic() - began:.1f}s"
    )
