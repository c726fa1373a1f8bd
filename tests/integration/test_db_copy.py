"""Moving from SQLite to PostgreSQL: `digest db copy` copies every row into a new database
made by the migrations, the ids go on from the highest, and a non-empty target is refused."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import func, select

from digest.db.copy import copy_database
from digest.db.engine import Database
from digest.db.schema import Base, Subscriber
from digest.errors import StorageError
from subscribers.lifecycle import add_subscriber
from tests.conftest import PG_ADMIN
from tests.support.cli import invoke, write_config
from tests.support.clock import Clock
from tests.support.seed import seed


@pytest.fixture
def empty_pg(pg_url: str) -> Iterator[str]:
    """A new, empty PostgreSQL database of its own (the session's one is shared)."""
    admin = psycopg.connect(PG_ADMIN, autocommit=True, connect_timeout=3)
    name = f"digest_copy_{secrets.token_hex(4)}"
    admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield pg_url.rsplit("/", 1)[0] + "/" + name
    finally:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


def counts(db: Database) -> dict[str, int]:
    with db.engine.connect() as conn:
        return {
            t.name: int(conn.execute(select(func.count()).select_from(t)).scalar() or 0)
            for t in Base.metadata.sorted_tables
        }


def test_db_copy_moves_everything_from_sqlite_to_postgresql(
    tmp_path: Path, empty_pg: str, clock: Clock
) -> None:
    sqlite_url = f"sqlite:///{tmp_path / 'digest.sqlite3'}"
    source = Database(sqlite_url)
    seed(source, clock, tmp_path, 25)
    config = write_config(tmp_path, sqlite_url, extra="[compose]\nmin_items = 1\n")
    invoke(config, "issue", "compose")
    before = counts(source)
    assert before["subscribers"] == 25 and before["issues"] == 1 and before["items"] == 5

    result = invoke(config, "db", "copy", empty_pg)
    assert f"copied {sum(before.values())} row(s)" in result.output

    target = Database(empty_pg)
    assert counts(target) == before
    # The ids go on after the copied ones: a new subscriber does not clash.
    person = add_subscriber(target, ["k"], "new@example.org", clock())
    with target.session() as session:
        assert person.id == session.scalar(select(func.max(Subscriber.id)))
        assert person.id > 25
    # A second copy into a database that has rows is refused, and changes nothing.
    with pytest.raises(StorageError, match="is not empty"):
        copy_database(source, target)
    assert counts(target)["subscribers"] == 26
    target.dispose()
    source.dispose()
