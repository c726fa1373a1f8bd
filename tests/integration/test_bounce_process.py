"""Processing returned mail on SQLite and PostgreSQL: kept for audit, tied to a delivery we
made, applied through the policy; duplicates, forgeries and unreadable mail change nothing."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, select

from digest.bounces.process import Classifier, Processed, process_event, process_message
from digest.db import bounces as repo
from digest.db import subscribers as people
from digest.db.engine import Database
from digest.db.schema import (
    BounceEvent,
    BounceMessage,
    Delivery,
    Issue,
    StatusChange,
    Subscriber,
)
from digest.model import BounceKind, BounceReason, BounceReport, ProviderEvent, SubscriberStatus
from digest.send.verp import envelope_sender
from digest.settings import Settings
from subscribers.tokens import UNSUBSCRIBE, TokenSigner
from tests.support.clock import Clock
from tests.support.dsn import auto_reply, complaint, dsn, unsubscribe_request

S = SubscriberStatus
BASE = "newsletter@example.com"  # newsletter.from_address: the VERP base by default
EMAILS = [f"user{n}@example.com" for n in range(4)]


class World:
    """Subscribers, the issues mailed to them, and the processing call, on one database."""

    def __init__(self, db: Database, settings: Settings, clock: Clock) -> None:
        self.db, self.settings, self.clock = db, settings, clock
        self.ids = {
            email: people.add(
                db, settings.signing_keys, email, clock(),
                name="", language="", origin="test", force=False,
            ).id
            for email in EMAILS
        }  # fmt: skip
        self.issues = 0

    def unsubscribe_token(self, email: str) -> str:
        """The token of the unsubscribe links mailed to `email` (bound to their link key)."""
        person = people.get(self.db, self.ids[email])
        assert person is not None
        return TokenSigner(self.settings.signing_keys, UNSUBSCRIBE).sign(person.id, person.link_key)

    def mail(self, emails: list[str] | None = None) -> dict[str, int]:
        """A new issue sent now to `emails` (default: all); their delivery ids."""
        self.issues += 1
        now = self.clock()
        with self.db.session() as session:
            issue = Issue(
                number=self.issues, subject=f"Issue {self.issues}", status="sent",
                created_at=now, composed_at=now, send_started_at=now, sent_at=now,
            )  # fmt: skip
            session.add(issue)
            session.flush()
            rows = {
                email: Delivery(
                    issue_id=issue.id, subscriber_id=self.ids[email], status="sent", attempts=1,
                    message_id=f"<{issue.number}.{email}>", created_at=now, updated_at=now,
                    sent_at=now, first_attempt_at=now,
                )
                for email in (EMAILS if emails is None else emails)
            }  # fmt: skip
            session.add_all(rows.values())
            session.flush()
            return {email: row.id for email, row in rows.items()}

    def verp(self, delivery_id: int) -> str:
        return envelope_sender(BASE, delivery_id, self.settings.signing_keys)

    def process(
        self, raw: bytes, *, key: str | None = None, classifier: Classifier | None = None
    ) -> Processed:
        return process_message(
            self.db,
            self.settings,
            raw,
            channel="stdin",
            now=self.clock(),
            key=key,
            classifier=classifier,
        )

    def status(self, email: str) -> S:
        person = people.get(self.db, self.ids[email])
        assert person is not None
        return person.status

    def changes(self, email: str) -> list[StatusChange]:
        with self.db.session() as session:
            return list(
                session.scalars(
                    select(StatusChange)
                    .where(StatusChange.subscriber_id == self.ids[email])
                    .order_by(StatusChange.id)
                )
            )

    def kept(self) -> list[BounceMessage]:
        with self.db.session() as session:
            return list(session.scalars(select(BounceMessage).order_by(BounceMessage.id)))


@pytest.fixture
def world(db: Database, db_url: str, clock: Clock, make_settings: Callable[..., Settings]) -> World:
    return World(db, make_settings(db_url), clock)


def test_a_hard_bounce_stops_the_subscriber_and_says_why(world: World) -> None:
    world.mail()
    done = world.process(dsn(to=BASE, recipient="user1@example.com"))
    assert (done.outcome, done.kind, done.status_after) == ("applied", "hard", S.BOUNCED)
    assert done.subscriber_id == world.ids["user1@example.com"]
    assert world.status("user1@example.com") is S.BOUNCED
    assert world.status("user2@example.com") is S.ACTIVE
    (change,) = world.changes("user1@example.com")
    assert (change.before, change.after, change.event) == ("active", "bounced", "hard_bounce")
    assert "5.1.1" in change.reason and change.bounce_event_id is not None
    with world.db.session() as session:
        event = session.get(BounceEvent, change.bounce_event_id)
        assert event is not None
        assert (event.kind, event.origin, event.status_code, event.smtp_code) == (
            "hard", "dsn", "5.1.1", 550
        )  # fmt: skip
        assert event.message_id == done.message_id and event.issue_id is not None
    (row,) = world.kept()
    assert (row.outcome, row.kind, row.reason, row.channel) == (
        "applied", "hard", "user_unknown", "stdin"
    )  # fmt: skip
    assert row.raw.startswith(b"Return-Path: <>") and "bounced" in row.note


def test_the_same_message_twice_is_processed_once(world: World) -> None:
    world.mail()
    raw = dsn(to=BASE, recipient="user1@example.com", status="5.2.2", code=552)
    first = world.process(raw)
    again = world.process(raw)
    assert first.outcome == "applied" and again.outcome == "duplicate"
    assert again.message_id is None and "processed before" in again.line
    keyed = world.process(raw + b"\r\n", key="imap:INBOX:42")
    assert keyed.outcome == "applied"
    assert world.process(b"other bytes", key="imap:INBOX:42").outcome == "duplicate"
    with world.db.session() as session:
        assert session.scalar(select(func.count()).select_from(BounceEvent)) == 2
    assert len(world.kept()) == 2
    assert first.message_id is not None and repo.has_key(world.db, world.kept()[0].key)
    assert world.kept()[0].key.startswith("sha256:")


def test_a_report_about_an_address_we_never_mailed_is_set_aside(world: World) -> None:
    world.mail(["user0@example.com"])
    stranger = world.process(dsn(to=BASE, recipient="stranger@example.org", serial="1"))
    unmailed = world.process(dsn(to=BASE, recipient="user3@example.com", serial="2"))
    assert stranger.outcome == unmailed.outcome == "set_aside"
    assert stranger.status_after is None and unmailed.status_after is None
    assert world.status("user3@example.com") is S.ACTIVE
    notes = [row.note for row in world.kept()]
    assert "stranger@example.org is not a subscriber" in notes[0]
    assert "user3@example.com was never mailed" in notes[1]
    assert world.kept()[1].subscriber_id == world.ids["user3@example.com"]
    with world.db.session() as session:
        assert session.scalar(select(func.count()).select_from(BounceEvent)) == 0


def test_a_verp_token_that_does_not_verify_is_set_aside(world: World) -> None:
    ids = world.mail()
    real = world.verp(ids["user0@example.com"])
    local, domain = real.split("@")
    forged = f"{local[:-3]}{'aaa' if not local.endswith('aaa') else 'bbb'}@{domain}"
    done = world.process(dsn(to=forged, recipient="user0@example.com"))
    assert done.outcome == "set_aside" and "does not verify" in done.line
    assert world.status("user0@example.com") is S.ACTIVE


def test_a_verified_verp_token_names_the_subscriber_whatever_the_text_says(
    world: World,
) -> None:
    ids = world.mail()
    done = world.process(
        dsn(to=world.verp(ids["user1@example.com"]), recipient="user2@example.com")
    )
    assert done.outcome == "applied" and done.subscriber_id == world.ids["user1@example.com"]
    assert world.status("user1@example.com") is S.BOUNCED
    assert world.status("user2@example.com") is S.ACTIVE
    (row,) = world.kept()
    assert row.delivery_id == ids["user1@example.com"]
    assert "the text names user2@example.com" in row.note


def soft(world: World, email: str, serial: str) -> Processed:
    return world.process(
        dsn(to=BASE, recipient=email, status="5.2.2", code=552, diagnostic="Mailbox full",
            serial=serial)
    )  # fmt: skip


def test_soft_bounces_on_three_distinct_issues_stop_the_subscriber(world: World) -> None:
    who = "user2@example.com"
    world.mail()
    assert soft(world, who, "1a").status_after is None
    assert soft(world, who, "1b").status_after is None  # the same issue again: still one
    assert world.status(who) is S.ACTIVE
    for serial in ("2", "3"):
        world.clock.advance(days=7)
        world.mail()
        last = soft(world, who, serial)
    assert last.status_after is S.BOUNCED and world.status(who) is S.BOUNCED
    (change,) = world.changes(who)
    assert change.event == "soft_limit" and "3 distinct issues" in change.reason


def test_a_delivery_that_went_through_starts_the_count_over(world: World) -> None:
    who = "user2@example.com"
    for serial in ("1", "2"):
        world.mail()
        soft(world, who, serial)
        world.clock.advance(days=7)
    world.mail()  # this one went through: nothing came back
    world.clock.advance(days=7)
    for serial in ("4", "5"):
        world.mail()
        assert soft(world, who, serial).status_after is None
        world.clock.advance(days=7)
    assert world.status(who) is S.ACTIVE
    world.mail()
    assert soft(world, who, "6").status_after is S.BOUNCED


def test_soft_bounces_out_of_the_window_do_not_count(world: World) -> None:
    who = "user2@example.com"
    for serial in ("1", "2", "3"):
        world.mail(["user1@example.com", who])
        soft(world, who, serial)
        world.clock.advance(days=16)
    assert world.status(who) is S.ACTIVE


def test_a_complaint_stops_the_subscriber_for_good(world: World) -> None:
    ids = world.mail()
    who = "user3@example.com"
    done = world.process(complaint(to=BASE, recipient=who, mail_from=world.verp(ids[who])))
    assert (done.outcome, done.kind, done.status_after) == ("applied", "complaint", S.COMPLAINED)
    assert world.status(who) is S.COMPLAINED
    (change,) = world.changes(who)
    assert change.event == "complaint"
    with world.db.session() as session:
        assert session.scalars(select(BounceEvent.origin)).one() == "arf"


def test_an_auto_reply_is_kept_and_ignored(world: World) -> None:
    world.mail()
    done = world.process(auto_reply(to=BASE, sender="user0@example.com"))
    assert (done.outcome, done.kind) == ("ignored", "not_bounce")
    assert world.status("user0@example.com") is S.ACTIVE
    assert world.kept()[0].reason == "vacation"


def test_garbage_is_set_aside_never_dropped(world: World) -> None:
    world.mail()
    done = world.process(b"\x00\xff\xfe not mail at all \x89PNG\r\n\x1a")
    assert done.outcome == "set_aside" and done.message_id is not None
    (row,) = world.kept()
    assert row.raw == b"\x00\xff\xfe not mail at all \x89PNG\r\n\x1a"
    assert "not recognised" in row.note


def test_a_classifier_that_fails_sets_the_message_aside(world: World) -> None:
    def broken(raw: bytes, *, verp_keys: list[str]) -> BounceReport:
        raise ValueError("cannot parse")

    done = world.process(b"Subject: x\r\n\r\nbody", classifier=broken)
    assert done.outcome == "set_aside" and "cannot parse" in done.line


def test_a_mailto_unsubscribe_request_unsubscribes(world: World) -> None:
    who = "user1@example.com"
    token = world.unsubscribe_token(who)
    done = world.process(unsubscribe_request(to="leave@example.org", sender=who, token=token))
    assert (done.outcome, done.kind, done.status_after) == (
        "applied",
        "unsubscribe",
        S.UNSUBSCRIBED,
    )
    assert world.status(who) is S.UNSUBSCRIBED
    (change,) = world.changes(who)
    assert (change.event, change.after) == ("unsubscribe", "unsubscribed")
    assert "mailto" in change.reason
    forged = world.process(
        unsubscribe_request(to="leave@example.org", sender=who, token=token[:-2] + "xx")
    )
    assert forged.outcome == "set_aside" and "does not verify" in forged.line


def test_a_mailto_request_of_a_forgotten_person_changes_nobody_else(world: World) -> None:
    """The token binds the record's link key: even a record given the forgotten person's id
    (as SQLite did before ids were never reused) is not reached by their old request."""
    who = "user3@example.com"
    token = world.unsubscribe_token(who)
    people.forget(world.db, who, world.clock())
    with world.db.session() as session:
        session.add(
            Subscriber(
                id=world.ids[who], email="next@example.com", status=S.ACTIVE,
                created_at=world.clock(), updated_at=world.clock(),
            )
        )  # fmt: skip
    done = world.process(unsubscribe_request(to="leave@example.org", sender=who, token=token))
    assert done.outcome == "set_aside" and "not on record" in done.line
    after = people.get(world.db, world.ids[who])
    assert after is not None and after.email == "next@example.com" and after.status is S.ACTIVE


def test_a_webhook_event_is_applied_once(world: World) -> None:
    ids = world.mail()
    event = ProviderEvent(
        key="mailgun:evt-1",
        report=BounceReport(
            is_bounce=True, kind=BounceKind.HARD, recipients=("user0@example.com",),
            reason=BounceReason.USER_UNKNOWN, status="5.1.1", delivery_id=ids["user0@example.com"],
        ),
        raw=b'{"event": "bounce"}',
    )  # fmt: skip
    now = world.clock()
    first = process_event(world.db, world.settings, event, channel="mailgun", now=now)
    again = process_event(world.db, world.settings, event, channel="mailgun", now=now)
    assert (first.outcome, first.status_after, again.outcome) == ("applied", S.BOUNCED, "duplicate")
    assert world.kept()[0].key == "mailgun:evt-1"
    with world.db.session() as session:
        assert session.scalars(select(BounceEvent.origin)).one() == "webhook"


def test_forget_erases_the_raw_messages_and_the_status_history(world: World) -> None:
    ids = world.mail()
    who = "user1@example.com"
    world.process(dsn(to=world.verp(ids[who]), recipient=who, serial="1"))
    world.process(dsn(to=BASE, recipient="user2@example.com", serial="2"))
    assert world.changes(who)
    people.forget(world.db, who, world.clock())
    kept = world.kept()
    assert len(kept) == 1 and b"user1@example.com" not in kept[0].raw
    with world.db.session() as session:
        assert session.scalar(select(func.count()).select_from(StatusChange)) == 1
        assert session.scalar(select(func.count()).select_from(BounceEvent)) == 2


def test_prune_deletes_messages_past_keep_days(world: World) -> None:
    world.mail()
    world.process(auto_reply(to=BASE, sender="user0@example.com"))
    world.clock.advance(days=91)
    world.process(dsn(to=BASE, recipient="user1@example.com"))
    now: datetime = world.clock()
    assert repo.prune(world.db, now, world.settings.bounces.keep_days) == 1
    assert [row.kind for row in world.kept()] == ["hard"]
    assert repo.prune(world.db, now + timedelta(days=1), 90) == 0
