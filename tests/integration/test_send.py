"""Sending through a real SMTP server, with faults, on SQLite and PostgreSQL."""

from __future__ import annotations

import dataclasses
import socket
import subprocess
import sys
from collections import Counter
from collections.abc import Callable
from email.message import EmailMessage
from pathlib import Path

import pytest
from sqlalchemy import select, update

from digest.compose import compose_issue
from digest.db.engine import Database
from digest.db.schema import BounceEvent, Delivery, Issue, Item, Subscriber
from digest.errors import SendError
from digest.send import lease, send_issue
from digest.send.transport import Reply, SmtpTransport
from digest.send.wiring import smtp_relay
from digest.settings import Settings
from tests.support.clock import Clock
from tests.support.seed import seed
from tests.support.smtp import SmtpTestServer


@pytest.fixture
def ready(
    db: Database,
    db_url: str,
    clock: Clock,
    tmp_path: Path,
    make_settings: Callable[..., Settings],
    smtp_server: SmtpTestServer,
) -> Settings:
    settings = make_settings(
        db_url, smtp_port=smtp_server.port, smtp_connections=3, smtp_retry_delay_seconds=0.01
    )
    seed(db, clock, tmp_path, 40)
    compose_issue(db, settings, clock)
    return settings


def body(message: EmailMessage, kind: str) -> str:
    """The decoded text of the message's `kind` part (plain, html)."""
    part = message.get_body((kind,))
    assert part is not None
    return str(part.get_content())


def rcpt_counts(server: SmtpTestServer) -> Counter[str]:
    return Counter(r.rcpt for r in server.received)


def test_every_subscriber_gets_one_personal_message(
    db: Database, ready: Settings, clock: Clock, smtp_server: SmtpTestServer
) -> None:
    report = send_issue(db, ready, clock, relay=smtp_relay(ready))
    assert report.finished and report.sent == 40
    counts = rcpt_counts(smtp_server)
    assert len(counts) == 40 and set(counts.values()) == {1}
    links = set()
    for received in smtp_server.received:
        msg = received.message
        assert msg.get_content_type() == "multipart/alternative"
        parts = [p.get_content_type() for p in msg.iter_parts()]
        assert parts == ["text/plain", "text/html"]
        assert all(len(line) <= 998 for line in received.raw.split(b"\r\n"))
        unsubscribe = msg["List-Unsubscribe"].strip("<>")
        assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        html = body(msg, "html")
        text = body(msg, "plain")
        assert unsubscribe in html.replace("&amp;", "&") and unsubscribe in text
        assert msg["To"].addresses[0].addr_spec == received.rcpt
        links.add(unsubscribe)
    assert len(links) == 40  # each subscriber has their own link
    with db.session() as session:
        issue = session.scalars(select(Issue)).one()
        assert issue.status == "sent"
        states = set(session.scalars(select(Item.state).where(Item.state != "queued")))
        assert states == {"published"}


def test_rerun_sends_nothing_twice(
    db: Database, ready: Settings, clock: Clock, smtp_server: SmtpTestServer
) -> None:
    send_issue(db, ready, clock, relay=smtp_relay(ready))
    again = send_issue(db, ready, clock, relay=smtp_relay(ready))
    assert again.sent == 40
    assert len(smtp_server.received) == 40


def test_temporary_failures_are_retried_and_permanent_ones_recorded(
    db: Database, ready: Settings, clock: Clock, smtp_server: SmtpTestServer
) -> None:
    smtp_server.faults.defer["user3@example.com"] = 2
    smtp_server.faults.refuse["user5@example.com"] = "550 5.1.1 No such user here"
    smtp_server.faults.refuse["user6@example.com"] = "554 5.7.1 Rejected by policy"
    smtp_server.faults.refuse["user7@example.com"] = "552 5.2.2 Mailbox full"

    def sleep(seconds: float) -> None:
        clock.advance(seconds=seconds)

    report = send_issue(db, ready, clock, relay=smtp_relay(ready), sleep=sleep)
    counts = rcpt_counts(smtp_server)
    assert counts["user3@example.com"] == 1
    assert "user5@example.com" not in counts and "user6@example.com" not in counts
    assert smtp_server.handler.attempts["user3@example.com"] == 3
    # 552 at RCPT is temporary (RFC 5321 4.5.3.1.10): retried, and the run does not wait
    # for retries further away than smtp.wait_seconds; the issue stays `sending`.
    assert report.counts == {"sent": 37, "failed": 2, "deferred": 1}
    assert report.status == "sending" and report.next_due is not None
    assert report.exit_status == 4
    tried = smtp_server.handler.attempts["user7@example.com"]
    # Past the retry deadline (smtp.retry_for_hours), the next run tries once more, then
    # gives up with a reason that says so.
    clock.advance(hours=ready.smtp.retry_for_hours + 1)
    report = send_issue(db, ready, clock, relay=smtp_relay(ready), sleep=sleep)
    assert smtp_server.handler.attempts["user7@example.com"] == tried + 1
    assert report.counts == {"sent": 37, "failed": 3} and report.status == "sent"
    assert report.exit_status == 3
    gave_up = [row.reply for row in report.failures]
    assert len(gave_up) == 1 and gave_up[0].startswith(f"gave up after {tried + 1} attempt(s)")
    assert "552 5.2.2 Mailbox full" in gave_up[0]
    with db.session() as session:
        statuses = dict(session.execute(select(Subscriber.email, Subscriber.status)).all())
        assert statuses["user5@example.com"] == "bounced"  # 5.1.1: the address is bad
        assert statuses["user6@example.com"] == "active"  # policy refusal: not the address
        bounces = {b.kind: b for b in session.scalars(select(BounceEvent))}
        assert sorted(bounces) == ["hard", "soft"]  # a policy refusal counts as a soft bounce
        assert bounces["hard"].status_code == "5.1.1"
        reply = session.scalar(
            select(Delivery.last_reply)
            .join(Subscriber)
            .where(Subscriber.email == "user6@example.com")
        )
        assert reply is not None and reply.startswith("554")


def test_dropped_connection_is_retried_without_loss(
    db: Database, ready: Settings, clock: Clock, smtp_server: SmtpTestServer
) -> None:
    smtp_server.faults.drop_after = 10
    report = send_issue(
        db, ready, clock, relay=smtp_relay(ready), sleep=lambda s: clock.advance(seconds=s)
    )
    assert report.finished and report.sent == 40
    assert smtp_server.handler.dropped == 1
    counts = rcpt_counts(smtp_server)
    assert len(counts) == 40 and set(counts.values()) == {1}


class Crash(Exception):
    pass


def test_crash_halfway_resumes_without_duplicates_or_gaps(
    db: Database, ready: Settings, clock: Clock, smtp_server: SmtpTestServer
) -> None:
    sent = 0

    class CrashingTransport(SmtpTransport):
        def send(
            self, envelope_from: str, recipient: str, message: bytes, *, stuffed: bool = False
        ) -> Reply:
            nonlocal sent
            if sent >= 15:
                raise Crash("power cut")
            sent += 1
            return super().send(envelope_from, recipient, message, stuffed=stuffed)

    with pytest.raises(Crash):
        send_issue(db, ready, clock, relay=smtp_relay(ready, lambda: CrashingTransport(ready.smtp)))
    assert 15 <= len(smtp_server.received) < 40
    with db.session() as session:
        assert session.scalar(select(Issue.status)) == "sending"
    report = send_issue(db, ready, clock, relay=smtp_relay(ready))
    assert report.finished
    counts = rcpt_counts(smtp_server)
    assert len(counts) == 40 and set(counts.values()) == {1}


def test_unsubscribed_before_the_run_is_skipped(
    db: Database, ready: Settings, clock: Clock, smtp_server: SmtpTestServer
) -> None:
    with db.session() as session:
        person = session.scalars(
            select(Subscriber).where(Subscriber.email == "user1@example.com")
        ).one()
        person.status = "unsubscribed"
    report = send_issue(db, ready, clock, relay=smtp_relay(ready))
    assert "user1@example.com" not in rcpt_counts(smtp_server)
    assert report.sent == 39


def test_dry_run_changes_nothing(
    db: Database, ready: Settings, clock: Clock, smtp_server: SmtpTestServer
) -> None:
    report = send_issue(db, ready, clock, relay=smtp_relay(ready), dry_run=True)
    assert report.dry_run and report.recipients == 40 and report.sample_size > 1000
    assert smtp_server.received == []
    with db.session() as session:
        assert session.scalars(select(Delivery)).first() is None
        assert session.scalar(select(Issue.status)) == "draft"


def test_a_second_sender_is_refused_while_the_first_holds_the_lease(
    db: Database, ready: Settings, clock: Clock, smtp_server: SmtpTestServer
) -> None:
    with db.session() as session:
        issue_id = session.scalars(select(Issue.id)).one()
    # A live process on this machine (this one, under another token) is sending.
    lease.acquire(db, issue_id, lease.Owner.me(), clock())
    with pytest.raises(SendError, match="on this machine is sending this issue"):
        send_issue(db, ready, clock, relay=smtp_relay(ready))
    assert smtp_server.received == []
    with db.session() as session:
        assert session.scalars(select(Delivery)).first() is None  # nothing was requeued


def test_a_lease_is_taken_over_when_its_holder_is_gone(
    db: Database, ready: Settings, clock: Clock, smtp_server: SmtpTestServer
) -> None:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    with db.session() as session:
        issue_id = session.scalars(select(Issue.id)).one()
    gone = lease.Owner(socket.gethostname(), dead.pid, "gone")
    lease.acquire(db, issue_id, gone, clock())
    assert send_issue(db, ready, clock, relay=smtp_relay(ready)).finished


def test_a_stale_lease_is_taken_over(
    db: Database, ready: Settings, clock: Clock, smtp_server: SmtpTestServer
) -> None:
    with db.session() as session:
        issue_id = session.scalars(select(Issue.id)).one()
    elsewhere = lease.Owner("another-host", 4242, "away")
    lease.acquire(db, issue_id, elsewhere, clock())
    with pytest.raises(SendError):
        send_issue(db, ready, clock, relay=smtp_relay(ready))
    clock.advance(seconds=lease.LEASE_SECONDS + 1)
    report = send_issue(db, ready, clock, relay=smtp_relay(ready))
    assert report.finished and report.sent == 40
    with db.session() as session:
        assert session.scalar(select(Issue.send_owner)) is None  # released at the end


def test_preferences_choose_sections_and_pause(
    db: Database, ready: Settings, clock: Clock, smtp_server: SmtpTestServer
) -> None:
    with db.session() as session:
        people = {p.email: p for p in session.scalars(select(Subscriber))}
        people["user1@example.com"].wants_news = False  # events and calls only
        people["user2@example.com"].paused = True
        for kind in ("news", "events"):  # calls only: the issue has one call
            setattr(people["user3@example.com"], f"wants_{kind}", False)
        for kind in ("news", "events", "calls"):  # nothing at all
            setattr(people["user4@example.com"], f"wants_{kind}", False)
    report = send_issue(db, ready, clock, relay=smtp_relay(ready))
    assert report.finished
    assert report.counts == {"sent": 38, "skipped": 1}  # user2 pauses: no row at all
    by_rcpt = {r.rcpt: r.message for r in smtp_server.received}
    assert "user2@example.com" not in by_rcpt and "user4@example.com" not in by_rcpt

    def sections(rcpt: str) -> tuple[bool, bool, bool]:
        text = body(by_rcpt[rcpt], "plain")
        return ("LATEST NEWS" in text, "UPCOMING EVENTS" in text, "OPEN CALLS" in text)

    assert sections("user0@example.com") == (True, True, True)
    assert sections("user1@example.com") == (False, True, True)
    assert sections("user3@example.com") == (False, False, True)
    html = body(by_rcpt["user1@example.com"], "html")
    assert "Latest news" not in html and "Upcoming events" in html


def test_an_unsubscribe_during_the_run_takes_effect_before_the_next_message(
    db: Database, ready: Settings, clock: Clock, smtp_server: SmtpTestServer
) -> None:
    sent = 0

    class UnsubscribingTransport(SmtpTransport):
        def send(
            self, envelope_from: str, recipient: str, message: bytes, *, stuffed: bool = False
        ) -> Reply:
            nonlocal sent
            sent += 1
            if sent == 1:
                with db.session() as session:
                    session.execute(
                        update(Subscriber)
                        .where(Subscriber.email == "user39@example.com")
                        .values(status="unsubscribed")
                    )
            return super().send(envelope_from, recipient, message, stuffed=stuffed)

    ready_one = dataclasses.replace(ready, smtp=dataclasses.replace(ready.smtp, connections=1))
    report = send_issue(
        db,
        ready_one,
        clock,
        relay=smtp_relay(ready_one, lambda: UnsubscribingTransport(ready_one.smtp)),
    )
    assert report.finished and report.counts == {"sent": 39, "skipped": 1}
    assert "user39@example.com" not in rcpt_counts(smtp_server)
    with db.session() as session:
        assert session.scalar(select(Issue.status)) == "sent"


def test_a_hard_bounce_keeps_a_complaint_made_while_the_message_was_on_the_wire(
    db: Database, ready: Settings, clock: Clock, smtp_server: SmtpTestServer
) -> None:
    smtp_server.faults.refuse["user8@example.com"] = "550 5.1.1 No such user here"
    smtp_server.faults.refuse["user9@example.com"] = "550 5.1.1 No such user here"

    class ComplainingTransport(SmtpTransport):
        def send(
            self, envelope_from: str, recipient: str, message: bytes, *, stuffed: bool = False
        ) -> Reply:
            if recipient == "user8@example.com":
                # Reported an earlier issue as spam while this one was being sent.
                with db.session() as session:
                    session.execute(
                        update(Subscriber)
                        .where(Subscriber.email == recipient)
                        .values(status="complained")
                    )
            return super().send(envelope_from, recipient, message, stuffed=stuffed)

    relay = smtp_relay(ready, lambda: ComplainingTransport(ready.smtp))
    report = send_issue(db, ready, clock, relay=relay)
    assert report.finished and report.counts == {"sent": 38, "failed": 2}
    with db.session() as session:
        statuses = dict(session.execute(select(Subscriber.email, Subscriber.status)).all())
        assert statuses["user8@example.com"] == "complained"  # says more than "bounced"
        assert statuses["user9@example.com"] == "bounced"
        assert len(session.scalars(select(BounceEvent)).all()) == 2


def test_list_unsubscribe_offers_mailto_when_a_mailbox_is_set(
    db: Database,
    db_url: str,
    clock: Clock,
    tmp_path: Path,
    make_settings: Callable[..., Settings],
    smtp_server: SmtpTestServer,
) -> None:
    settings = make_settings(
        db_url,
        smtp_port=smtp_server.port,
        newsletter_unsubscribe_mailto="leave@example.com",
        newsletter_base_url="https://news.example.org",
    )
    seed(db, clock, tmp_path, 2)
    compose_issue(db, settings, clock)
    send_issue(db, settings, clock, relay=smtp_relay(settings))
    header = smtp_server.received[0].message["List-Unsubscribe"]
    https_part, mailto_part = (part.strip(" <>") for part in header.split(","))
    assert https_part.startswith("https://news.example.org/unsubscribe/")
    token = https_part.rsplit("/", 1)[1]
    assert mailto_part == f"mailto:leave@example.com?subject=unsubscribe%20{token}"


def test_greeting_uses_each_first_name_and_social_links_show_in_the_footer(
    db: Database,
    db_url: str,
    clock: Clock,
    tmp_path: Path,
    make_settings: Callable[..., Settings],
    smtp_server: SmtpTestServer,
) -> None:
    settings = make_settings(
        db_url,
        smtp_port=smtp_server.port,
        newsletter_greeting="Hello {first_name},",
        newsletter_greeting_fallback="reader",
        newsletter_social_links="Mastodon https://social.example.org/@digest",
    )
    seed(db, clock, tmp_path, 1)  # "User 0"
    with db.session() as session:
        session.add(
            Subscriber(email="anon@example.com", name="", created_at=clock(), updated_at=clock())
        )
    compose_issue(db, settings, clock)
    send_issue(db, settings, clock, relay=smtp_relay(settings))
    texts = {r.rcpt: body(r.message, "plain") for r in smtp_server.received}
    assert "Hello User," in texts["user0@example.com"]
    assert "Hello reader," in texts["anon@example.com"]
    html = body(smtp_server.received[0].message, "html")
    assert "%%" not in html and 'href="https://social.example.org/@digest"' in html
    assert "Mastodon: https://social.example.org/@digest" in texts["anon@example.com"]
