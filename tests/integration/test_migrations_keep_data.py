"""Upgrading a database that has data keeps all of it: on SQLite a migration that rebuilds a
table must not run the ON DELETE actions of the rows that point at it."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from sqlalchemy import text

from digest.db.engine import Database, _alembic_config, head_revision, make_engine

ROWS = [
    "INSERT INTO sources (id, url, name, kind, dayfirst, timezone, created_at, items_found, "
    "consecutive_failures) VALUES (1, 'https://e.org/f', '', 'news', 1, 'UTC', "
    "'2026-11-20 08:00:00', 0, 0)",
    "INSERT INTO items (id, source_id, kind, dedupe_key, title, link, summary, published_at, "
    "content_hash, state, first_seen_at, updated_at) VALUES (1, 1, 'news', 'k1', 'T', "
    "'https://e.org/1', '', '2026-11-20 08:00:00', 'h', 'in_issue', '2026-11-20 08:00:00', "
    "'2026-11-20 08:00:00')",
    "INSERT INTO issues (id, number, subject, preheader, status, html, text, intro, "
    "spotlight_kind, spotlight_title, spotlight_text, spotlight_by, spotlight_url, created_at, "
    "composed_at) VALUES (1, 1, 'S', '', 'sending', '', '', '', '', '', '', '', '', "
    "'2026-11-20 08:00:00', '2026-11-20 08:00:00')",
    "INSERT INTO issue_items (issue_id, item_id, section, position) VALUES (1, 1, 'news', 0)",
    "INSERT INTO subscribers (id, email, name, language, status, origin, wants_news, "
    "wants_events, wants_calls, paused, consent_source, confirm_source, created_at, updated_at) "
    "VALUES (1, 'a@e.org', '', '', 'active', 'cli', 1, 1, 1, 0, '', '', '2026-11-20 08:00:00', "
    "'2026-11-20 08:00:00')",
    "INSERT INTO deliveries (id, issue_id, subscriber_id, status, attempts, message_id, "
    "created_at, updated_at, temporary) VALUES (1, 1, 1, 'failed', 1, '<m@e.org>', "
    "'2026-11-20 08:00:00', '2026-11-20 08:00:00', 0)",
    "INSERT INTO bounce_events (id, subscriber_id, delivery_id, kind, status_code, diagnostic, "
    "origin, received_at) VALUES (1, 1, 1, 'hard', '5.1.1', 'x', 'smtp', '2026-11-20 08:00:00')",
]


def test_upgrading_a_sqlite_database_with_data_keeps_every_row(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'old.sqlite3'}")
    config = _alembic_config(engine)
    command.upgrade(config, "0002")
    with engine.begin() as conn:
        for row in ROWS:
            conn.execute(text(row))
    engine.dispose()

    db = Database(f"sqlite:///{tmp_path / 'old.sqlite3'}")  # upgrades to the head
    with db.engine.connect() as conn:
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar() == (
            head_revision()
        )
        assert conn.execute(text("SELECT count(*) FROM issue_items")).scalar() == 1
        assert conn.execute(text("SELECT delivery_id FROM bounce_events")).scalar() == 1
        assert conn.execute(text("SELECT count(*) FROM deliveries")).scalar() == 1
        assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1  # on again after
    db.dispose()
