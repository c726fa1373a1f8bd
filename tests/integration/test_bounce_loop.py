"""The bounce loop end to end, through real SMTP: an issue goes out with VERP, an MTA's DSN
comes back to one delivery's envelope sender, `digest bounces ingest -` reads it from
standard input, the subscriber is bounced, and the next issue is not sent to them."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from click.testing import CliRunner
from sqlalchemy import select

from digest.cli import cli
from digest.compose import compose_issue
from digest.db.engine import Database
from digest.db.items import store_entries
from digest.db.schema import BounceEvent, Delivery, StatusChange, Subscriber
from digest.model import Entry, ItemKind
from digest.send import send_issue
from digest.send.verp import delivery_of
from digest.send.wiring import smtp_relay
from digest.settings import load_settings
from tests.support.cli import write_config
from tests.support.clock import Clock, fixed
from tests.support.dsn import dsn
from tests.support.seed import seed
from tests.support.smtp import SmtpTestServer


def test_a_dsn_for_one_delivery_stops_the_next_issue_to_that_address(
    db: Database, db_url: str, clock: Clock, tmp_path: Path, smtp_server: SmtpTestServer
) -> None:
    config = write_config(tmp_path, db_url, smtp_server.port)
    settings = load_settings(config)
    assert settings.smtp.verp
    seed(db, clock, tmp_path, 4)
    compose_issue(db, settings, clock)
    first = send_issue(db, settings, clock, relay=smtp_relay(settings))
    assert first.sent == 4
    # Each delivery went out from its own signed envelope sender.
    senders = {r.rcpt: r.mail_from for r in smtp_server.received}
    assert len(set(senders.values())) == 4
    victim = "user2@example.com"
    envelope = senders[victim]
    delivery_id = delivery_of(envelope, settings.signing_keys)
    assert delivery_id is not None and "+" in envelope

    # The recipient's MTA refuses it later and its DSN goes back to the envelope sender;
    # the text names the address as the remote server wrote it.
    original = next(r for r in smtp_server.received if r.rcpt == victim)
    headers = original.raw.split(b"\r\n\r\n", 1)[0].decode()
    bounce = dsn(to=envelope, recipient=victim.upper(), original=headers)
    result = CliRunner().invoke(
        cli, ["--config", str(config), "bounces", "ingest", "-"], input=bounce, obj=fixed
    )
    assert result.exit_code == 0, (result.output, result.exception)
    assert "hard" in result.output and victim in result.output

    with db.session() as session:
        status = dict(session.execute(select(Subscriber.email, Subscriber.status)).all())
        assert status[victim] == "bounced"
        assert {s for e, s in status.items() if e != victim} == {"active"}
        event = session.scalars(select(BounceEvent)).one()
        assert (event.delivery_id, event.kind, event.origin) == (delivery_id, "hard", "dsn")
        change = session.scalars(select(StatusChange)).one()
        assert (change.event, change.bounce_event_id) == ("hard_bounce", event.id)

    # The same DSN again (the MTA retried the pipe) changes nothing.
    again = CliRunner().invoke(
        cli, ["--config", str(config), "bounces", "ingest", "-"], input=bounce, obj=fixed
    )
    assert again.exit_code == 0 and "duplicate" in again.output

    # A week later the next issue goes to everyone else.
    clock.advance(days=7)
    store_entries(
        db,
        None,
        [
            Entry(
                kind=ItemKind.NEWS,
                title=f"Later {n}",
                link=f"https://example.org/later/{n}",
                summary="<p>Later</p>",
                guid=f"later{n}",
                published_at=clock() - timedelta(hours=n),
            )
            for n in range(3)
        ],
        clock(),
    )
    smtp_server.received.clear()
    compose_issue(db, settings, clock)
    second = send_issue(db, settings, clock, relay=smtp_relay(settings))
    assert second.number == first.number + 1
    assert sorted(r.rcpt for r in smtp_server.received) == [
        "user0@example.com",
        "user1@example.com",
        "user3@example.com",
    ]
    with db.session() as session:
        rows = session.execute(
            select(Subscriber.email, Delivery.status)
            .join(Subscriber)
            .where(Delivery.issue_id != event.issue_id)
        ).all()
        assert victim not in {email for email, status in rows if status == "sent"}

    stats = CliRunner().invoke(cli, ["--config", str(config), "bounces", "stats"], obj=fixed)
    assert stats.exit_code == 0, (stats.output, stats.exception)
    assert f"#{first.number}" in stats.output and "1 (25.00%)" in stats.output


def test_refusals_at_send_time_are_bounce_events_the_policy_weighs(
    db: Database, db_url: str, clock: Clock, tmp_path: Path, smtp_server: SmtpTestServer
) -> None:
    settings = load_settings(write_config(tmp_path, db_url, smtp_server.port))
    seed(db, clock, tmp_path, 4)
    smtp_server.faults.refuse["user1@example.com"] = "550 5.1.1 No such user here"
    smtp_server.faults.refuse["user2@example.com"] = "554 5.7.1 Rejected by policy"
    compose_issue(db, settings, clock)
    report = send_issue(db, settings, clock, relay=smtp_relay(settings))
    assert report.counts == {"sent": 2, "failed": 2}
    with db.session() as session:
        status = dict(session.execute(select(Subscriber.email, Subscriber.status)).all())
        assert status["user1@example.com"] == "bounced"  # 5.1.x: the address is bad
        assert status["user2@example.com"] == "active"  # one soft bounce of three
        events = {
            e.kind: e
            for e in session.scalars(select(BounceEvent).where(BounceEvent.origin == "smtp"))
        }
        assert set(events) == {"hard", "soft"}
        assert (events["soft"].status_code, events["soft"].smtp_code) == ("5.7.1", 554)
        assert events["soft"].issue_id is not None
        change = session.scalars(select(StatusChange)).one()
        assert (change.event, change.after) == ("hard_bounce", "bounced")
        assert change.bounce_event_id == events["hard"].id
