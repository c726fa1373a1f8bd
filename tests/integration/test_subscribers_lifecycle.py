"""Subscribers' lifecycle on SQLite and PostgreSQL: add, remove, force, forget, export."""

from __future__ import annotations

import csv
from dataclasses import asdict
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from digest.db.engine import Database
from digest.db.schema import Subscriber, Suppression
from digest.db.subscribers import mark_bounced, purge_unconfirmed
from digest.errors import SubscriberError
from digest.model import SubscriberStatus
from subscribers.importer import import_csv
from subscribers.lifecycle import add_subscriber, export_csv, forget, show, unsubscribe
from tests.support.clock import Clock

KEYS = ["old-key", "current-key"]


def status(db: Database, email: str) -> str | None:
    with db.session() as session:
        return session.scalar(select(Subscriber.status).where(Subscriber.email == email))


def test_add_remove_and_forced_return(db: Database, clock: Clock) -> None:
    person = add_subscriber(db, KEYS, " Ada@Example.COM ", clock(), name="Ada\nLovelace")
    assert (person.email, person.name, person.status) == (
        "ada@example.com",
        "Ada Lovelace",
        "active",
    )
    assert person.consent_at == clock() and person.consent_source == "cli"
    with pytest.raises(SubscriberError, match="already subscribed"):
        add_subscriber(db, KEYS, "ada@example.com", clock())
    unsubscribe(db, "ada@example.com", clock())
    assert status(db, "ada@example.com") == "unsubscribed"
    with pytest.raises(SubscriberError, match="use --force"):
        add_subscriber(db, KEYS, "ada@example.com", clock())
    add_subscriber(db, KEYS, "ada@example.com", clock(), force=True)
    assert status(db, "ada@example.com") == "active"
    with pytest.raises(SubscriberError, match="not a valid address"):
        add_subscriber(db, KEYS, "ada@", clock())


def test_remove_keeps_a_bounce_and_a_bounce_keeps_a_choice(db: Database, clock: Clock) -> None:
    # The CLI's remove and the web's unsubscribe apply the same rule: bounced, complained
    # and suppressed say more than "unsubscribed" and are kept.
    ada = add_subscriber(db, KEYS, "ada@example.com", clock())
    bob = add_subscriber(db, KEYS, "bob@example.com", clock())
    unsubscribe(db, "bob@example.com", clock())
    later = clock() + timedelta(hours=1)
    with db.session() as session:
        assert mark_bounced(session, [ada.id, bob.id], later) == 1
    assert status(db, "ada@example.com") == "bounced"
    assert status(db, "bob@example.com") == "unsubscribed"
    person = unsubscribe(db, "ada@example.com", clock())
    assert (person.status, person.unsubscribed_at, person.updated_at) == ("bounced", None, later)
    assert status(db, "ada@example.com") == "bounced"
    with pytest.raises(SubscriberError, match="not a subscriber"):
        unsubscribe(db, "nobody@example.com", clock())


def test_import_never_reactivates_unless_forced(db: Database, clock: Clock, tmp_path: Path) -> None:
    add_subscriber(db, KEYS, "gone@example.com", clock())
    unsubscribe(db, "gone@example.com", clock())
    roster = tmp_path / "people.csv"
    roster.write_text("email\ngone@example.com\nnew@example.com\n", encoding="utf-8")
    report = import_csv(db, roster, clock(), keys=KEYS)
    assert (report.added, report.already, report.reactivated) == (1, 1, 0)
    assert status(db, "gone@example.com") == "unsubscribed"
    forced = import_csv(db, roster, clock(), keys=KEYS, reactivate=True)
    assert forced.reactivated == 1 and status(db, "gone@example.com") == "active"


def test_forget_erases_and_keeps_a_keyed_hash_across_key_rotation(
    db: Database, clock: Clock, tmp_path: Path
) -> None:
    add_subscriber(db, KEYS, "erase@example.com", clock(), name="Erase Me")
    forget(db, "erase@example.com", clock())
    assert status(db, "erase@example.com") is None
    with db.session() as session:
        stored = session.scalars(select(Suppression.address_hash)).all()
    assert len(stored) == 1 and "erase" not in stored[0]
    roster = tmp_path / "people.csv"
    roster.write_text("email\nERASE@example.com\n", encoding="utf-8")
    # After a rotation the old key still recognises the hash.
    rotated = [*KEYS, "newest-key"]
    report = import_csv(db, roster, clock(), keys=rotated, reactivate=True)
    assert (report.added, report.suppressed) == (0, 1)
    with pytest.raises(SubscriberError, match="forgotten"):
        add_subscriber(db, rotated, "erase@example.com", clock(), force=True)


def test_export_is_safe_for_spreadsheets(db: Database, clock: Clock, tmp_path: Path) -> None:
    add_subscriber(db, KEYS, "calc@example.com", clock(), name='=HYPERLINK("http://evil")')
    add_subscriber(db, KEYS, "plain@example.com", clock(), name="Plain Name")
    out = tmp_path / "export.csv"
    assert export_csv(db, out) == 2
    rows = list(csv.DictReader(out.open(encoding="utf-8")))
    names = {r["email"]: r["name"] for r in rows}
    assert names["calc@example.com"] == '\'=HYPERLINK("http://evil")'
    assert names["plain@example.com"] == "Plain Name"
    assert export_csv(db, tmp_path / "none.csv", status=SubscriberStatus.BOUNCED) == 0


def test_show_tells_everything_stored(db: Database, clock: Clock) -> None:
    add_subscriber(db, KEYS, "me@example.com", clock(), language="fr")
    record = asdict(show(db, "me@example.com"))
    assert record["language"] == "fr" and record["status"] == "active"
    assert record["consent_source"] == "cli" and record["deliveries"] == {}
    with pytest.raises(SubscriberError, match="not a subscriber"):
        show(db, "nobody@example.com")


def test_unconfirmed_signups_are_purged_once_their_link_expired(db: Database, clock: Clock) -> None:
    with db.session() as session:
        for name, hours in (("old", 100), ("fresh", 1)):
            session.add(
                Subscriber(
                    email=f"{name}@example.com",
                    status="pending",
                    created_at=clock() - timedelta(hours=hours),
                    updated_at=clock(),
                )
            )
    add_subscriber(db, KEYS, "kept@example.com", clock() - timedelta(days=30))
    assert purge_unconfirmed(db, clock() - timedelta(hours=72)) == 1
    assert status(db, "old@example.com") is None
    assert status(db, "fresh@example.com") == "pending"
    assert status(db, "kept@example.com") == "active"


def test_import_maps_columns_the_operator_names(db: Database, clock: Clock, tmp_path: Path) -> None:
    roster = tmp_path / "crm.csv"
    roster.write_text("Contact;Who\nmapped@example.com;Map Ped\n", encoding="utf-8")
    with pytest.raises(SubscriberError, match="--email-column"):
        import_csv(db, roster, clock())
    report = import_csv(db, roster, clock(), email_column="Contact", name_column="who")
    assert report.added == 1
    with db.session() as session:
        person = session.scalars(select(Subscriber)).one()
    assert (person.email, person.name) == ("mapped@example.com", "Map Ped")
