"""What is kept about people, and what an old link can reach, on SQLite and PostgreSQL:
ids never reused, links bound to the record's link key, a suppression list that outlives
key rotation, `forget` leaving no copy in SQLite's files, and a CSV export no spreadsheet
runs as formulas."""

from __future__ import annotations

import csv
import io
import unicodedata
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import func, select

from digest.db import subscribers as repo
from digest.db.engine import Database
from digest.db.schema import AppKey, Subscriber, Suppression
from digest.db.subscriber_import import NewSubscriber, import_batches
from digest.errors import SubscriberError
from digest.model import SubscriberStatus
from digest.send.message import build_template
from digest.send.personalize import Personalizer
from digest.settings import Settings
from subscribers.addresses import address_hash
from subscribers.lifecycle import add_subscriber, export_csv, forget
from subscribers.web_actions import SignupKind, signup
from tests.support.clock import Clock
from tests.support.keys import NEXT_SECRET_KEY, TEST_SECRET_KEY
from tests.support.smtp import SmtpTestServer
from tests.support.web import BASE, GMAIL_BODY, GMAIL_HEADERS, Site, link_in, make_site, person

pytestmark = pytest.mark.filterwarnings("ignore:Using `httpx` with `starlette.testclient`")
S = SubscriberStatus


@pytest.fixture
def site(
    db: Database,
    db_url: str,
    clock: Clock,
    smtp_server: SmtpTestServer,
    make_settings: Callable[..., Settings],
) -> Site:
    settings = make_settings(db_url, smtp_port=smtp_server.port, newsletter_base_url=BASE)
    return make_site(db, settings, clock, smtp_server)


# 1. Ids never reused, links bound to the record --------------------------------------------


def test_ids_are_never_reused_after_forget_or_purge(db: Database, clock: Clock) -> None:
    keys = [TEST_SECRET_KEY]
    add_subscriber(db, keys, "first@example.org", clock())
    last = add_subscriber(db, keys, "last@example.org", clock())
    forget(db, "last@example.org", clock())
    after_forget = add_subscriber(db, keys, "next@example.org", clock())
    assert after_forget.id > last.id
    pending = signup(db, keys, "pending@example.org", clock())
    clock.advance(days=30)
    assert repo.purge_unconfirmed(db, clock()) == 1
    after_purge = signup(db, keys, "later@example.org", clock())
    assert after_purge.kind is SignupKind.NEW and after_purge.subscriber_id > pending.subscriber_id


def test_every_record_gets_its_own_link_key(db: Database, clock: Clock) -> None:
    keys = [TEST_SECRET_KEY]
    add_subscriber(db, keys, "a@example.org", clock())
    signup(db, keys, "b@example.org", clock())
    rows = [NewSubscriber(email=f"c{n}@example.org", name="") for n in range(3)]
    import_batches(db, [rows], clock(), origin="csv", source="test", keys=keys, reactivate=False)
    with db.session() as session:
        link_keys = list(session.scalars(select(Subscriber.link_key)))
    assert len(link_keys) == 5 == len(set(link_keys))
    assert all(len(k) >= 22 for k in link_keys)


def mailed_links(site: Site, subscriber_id: int) -> tuple[str, str]:
    """The (unsubscribe, preferences) paths of the message the send stage makes for them."""
    found = repo.get(site.db, subscriber_id)
    assert found is not None
    template = build_template(
        settings=site.settings,
        subject="Issue",
        html_body="<p>x</p>",
        text_body="x",
        number=1,
        date=site.clock(),
    )
    personal = Personalizer(template, site.settings)
    links = personal.links(found.id, found.name, link_key=found.link_key)
    return links.unsubscribe.removeprefix(BASE), links.preferences.removeprefix(BASE)


@pytest.mark.parametrize("same_id", [False, True], ids=["next-id", "same-id"])
def test_a_forgotten_person_s_old_links_do_nothing_to_the_next_person(
    site: Site, same_id: bool
) -> None:
    """The forgotten person's links, kept in an old mail, against the record made after
    them: with the next id, and with their very id (as SQLite gave it before ids were never
    reused): the link key the links are bound to is not theirs."""
    site.add("keeper@example.org")
    old_id = site.add("forgotten@example.org", name="Former")
    unsubscribe, preferences = mailed_links(site, old_id)
    assert "forgotten@example.org" in site.client.get(preferences).text  # they work
    forget(site.db, "forgotten@example.org", site.clock())
    if same_id:
        with site.db.session() as session:
            now = site.clock()
            session.add(
                Subscriber(
                    id=old_id, email="newcomer@example.org", name="Newcomer", status=S.ACTIVE,
                    created_at=now, updated_at=now,
                )
            )  # fmt: skip
        new_id = old_id
    else:
        new_id = site.add("newcomer@example.org", name="Newcomer")
        assert new_id != old_id
    page = site.client.get(preferences)
    assert page.status_code == 410
    assert "newcomer@example.org" not in page.text and "Newcomer" not in page.text
    before = repo.get(site.db, new_id)
    saved = site.client.post(
        preferences, data={"action": "save", "paused": "1"}, headers={"Origin": BASE}
    )
    assert saved.status_code == 410 and "newcomer@example.org" not in saved.text
    again = site.client.post(preferences, data={"action": "resubscribe"}, headers={"Origin": BASE})
    assert again.status_code == 410
    left = site.client.post(unsubscribe, content=GMAIL_BODY, headers=GMAIL_HEADERS)
    assert left.status_code == 200  # the forgotten person is told they get nothing
    assert repo.get(site.db, new_id) == before
    assert before is not None and before.status is S.ACTIVE and not before.paused
    assert site.mail_to("newcomer@example.org") == []


def test_a_pending_person_s_confirm_link_does_not_confirm_the_next_one(site: Site) -> None:
    site.signup("first@example.org")
    (mail,) = site.mail_to("first@example.org")
    path = link_in(mail, "confirm")
    first = person(site.db, "first@example.org")
    assert first is not None
    forget(site.db, "first@example.org", site.clock())
    with site.db.session() as session:
        now = site.clock()
        session.add(
            Subscriber(
                id=first.id, email="second@example.org", status=S.PENDING,
                consent_at=first.consent_at, created_at=now, updated_at=now,
            )
        )  # fmt: skip
    answer = site.client.post(path, headers={"Origin": BASE})
    assert answer.status_code == 410
    second = person(site.db, "second@example.org")
    assert second is not None and second.status == S.PENDING


# 7. The suppression list outlives key rotation ----------------------------------------------


def test_a_forgotten_address_stays_refused_after_the_signing_key_is_dropped(
    db: Database, clock: Clock, make_settings: Callable[..., Settings], db_url: str
) -> None:
    before = make_settings(db_url, security_secret_key=TEST_SECRET_KEY)
    add_subscriber(db, before.signing_keys, "gone@example.org", clock())
    forget(db, "gone@example.org", clock())
    # Rotate: a new key, the old one kept for a while, then dropped.
    rotated = make_settings(
        db_url, security_secret_key=NEXT_SECRET_KEY, security_old_secret_keys=[TEST_SECRET_KEY]
    )
    dropped = make_settings(db_url, security_secret_key=NEXT_SECRET_KEY)
    for settings in (rotated, dropped):
        keys = settings.signing_keys
        with pytest.raises(SubscriberError, match="forgotten"):
            add_subscriber(db, keys, "gone@example.org", clock(), force=True)
        assert signup(db, keys, "gone@example.org", clock()).kind is SignupKind.SUPPRESSED
        rows = [NewSubscriber(email="gone@example.org", name="")]
        imported = import_batches(
            db, [rows], clock(), origin="csv", source="t", keys=keys, reactivate=True
        )
        assert imported.suppressed == 1 and imported.added == 0
    assert person(db, "gone@example.org") is None
    with db.session() as session:
        # Only a hash is kept, under the application's own suppression key.
        (kept,) = session.scalars(select(Suppression.address_hash))
        key = session.scalars(select(AppKey.value).where(AppKey.name == "suppression")).one()
        assert kept == address_hash(key, "gone@example.org")
        assert key not in (TEST_SECRET_KEY, NEXT_SECRET_KEY) and len(key) >= 43


def test_suppressions_made_with_a_signing_key_are_kept_past_its_removal(
    db: Database, clock: Clock
) -> None:
    """Before the suppression key, `forget` hashed with the newest signing key. Such an entry
    is still found under the signing keys, and hashed again under the suppression key when it
    is, so that dropping the signing key later no longer empties it."""
    with db.session() as session:
        legacy = address_hash(TEST_SECRET_KEY, "old@example.org")
        session.add(Suppression(address_hash=legacy, reason="forgotten", created_at=clock()))
    forget(db, "someone-else@example.org", clock())  # the suppression key now exists
    with pytest.raises(SubscriberError):
        add_subscriber(db, [TEST_SECRET_KEY], "old@example.org", clock())
    # The refused add rolled back; a signup (which stores nothing) keeps the new hash.
    assert signup(db, [TEST_SECRET_KEY], "old@example.org", clock()).kind is SignupKind.SUPPRESSED
    with pytest.raises(SubscriberError):
        add_subscriber(db, [NEXT_SECRET_KEY], "old@example.org", clock())
    with db.session() as session:
        assert session.scalar(select(func.count()).select_from(Suppression)) == 3


# 8. `forget` leaves no copy in SQLite's files -----------------------------------------------


def test_forget_leaves_the_address_in_neither_the_database_nor_its_log(
    tmp_path: Path, clock: Clock
) -> None:
    path = tmp_path / "people.sqlite3"
    db = Database(f"sqlite:///{path}")
    try:
        keys = [TEST_SECRET_KEY]
        address = "unique-person-7c1f@example.org"
        add_subscriber(db, keys, address, clock(), name="Unique Person Name")
        for n in range(20):
            add_subscriber(db, keys, f"other{n}@example.org", clock())
        repo.unsubscribe(db, address, clock(), source="test")
        add_subscriber(db, keys, address, clock(), force=True)
        forget(db, address, clock())
        # While the database is still open, as in a running `digest serve`.
        for file in (path, path.with_name(path.name + "-wal")):
            data = file.read_bytes() if file.exists() else b""
            assert address.encode() not in data, file.name
            assert b"Unique Person Name" not in data, file.name
    finally:
        db.dispose()


# 11. CSV export ---------------------------------------------------------------------------

HOSTILE_NAMES = [
    "=1+1",
    "x;=1+1;y",
    "a,@SUM(A1)",
    "n\t-2+3",
    "＝1+1",
    "＋1",
    "－1",
    "＠SUM(A1)",
    "x；＝1",
    ' "=HYPERLINK(1)',
    "Plain Name",
]
FORMULA = set("=+-@")


@pytest.mark.parametrize("separator", [",", ";", "\t", "|"])
def test_the_export_quotes_every_field_and_runs_no_formula_however_it_is_split(
    db: Database, clock: Clock, tmp_path: Path, separator: str
) -> None:
    for n, name in enumerate(HOSTILE_NAMES):
        add_subscriber(db, [TEST_SECRET_KEY], f"p{n}@example.org", clock(), name=name)
    out = tmp_path / "export.csv"
    assert export_csv(db, out) == len(HOSTILE_NAMES)
    text = out.read_text(encoding="utf-8")
    lines = text.splitlines()
    assert all(line.startswith('"') and line.endswith('"') for line in lines)
    rows = list(csv.reader(io.StringIO(text)))
    names = [row[1] for row in rows[1:]]
    assert names[-1] == "Plain Name"
    # The cells as a spreadsheet that splits on `separator` (and folds full-width forms)
    # would read them, quotes and all.
    for line in lines[1:]:
        for cell in unicodedata.normalize("NFKC", line).split(separator):
            shown = cell.strip().strip('"').lstrip(" ")
            assert shown[:1] not in FORMULA, (separator, line)
