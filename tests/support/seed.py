"""A database ready to compose and send: five queued items and `count` subscribers."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from digest.db import subscribers as people
from digest.db.engine import Database
from digest.db.items import store_entries
from digest.db.schema import Delivery, Issue
from digest.model import Entry, ItemKind
from digest.settings import Settings
from subscribers.importer import import_csv
from tests.support.clock import NOW, Clock


def seed(db: Database, clock: Clock, tmp_path: Path, count: int) -> None:
    now = clock()
    entries = [
        Entry(
            kind=ItemKind.NEWS,
            title=f"News {n}",
            link=f"https://example.org/n/{n}",
            summary="<p>Summary</p>",
            guid=f"n{n}",
            published_at=now - timedelta(hours=n),
        )
        for n in range(3)
    ] + [
        Entry(
            kind=ItemKind.EVENT,
            title="Forum",
            link="https://example.org/e/1",
            summary="",
            guid="e1",
            event_start=now + timedelta(days=5),
        ),
        Entry(
            kind=ItemKind.CALL,
            title="Call",
            link="https://example.org/c/1",
            summary="",
            guid="c1",
            deadline=now + timedelta(days=9),
        ),
    ]
    store_entries(db, None, entries, now)
    roster = tmp_path / "people.csv"
    roster.write_text(
        "email,name\n" + "".join(f"user{n}@example.com,User {n}\n" for n in range(count)),
        encoding="utf-8",
    )
    import_csv(db, roster, now)


def mailed_issue(db: Database, settings: Settings, count: int) -> list[int]:
    """Issue #1, sent at NOW to `count` subscribers user0@example.com…; their ids."""
    ids = [
        people.add(
            db, settings.signing_keys, f"user{n}@example.com", NOW,
            name="", language="", origin="test", force=False,
        ).id
        for n in range(count)
    ]  # fmt: skip
    with db.session() as session:
        issue = Issue(
            number=1, subject="Issue 1", status="sent", created_at=NOW, composed_at=NOW,
            send_started_at=NOW, sent_at=NOW,
        )  # fmt: skip
        session.add(issue)
        session.flush()
        session.add_all(
            Delivery(
                issue_id=issue.id, subscriber_id=sid, status="sent", attempts=1,
                message_id=f"<1.{sid}>", created_at=NOW, updated_at=NOW, sent_at=NOW,
            )
            for sid in ids
        )  # fmt: skip
    return ids
