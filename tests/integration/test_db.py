"""The database layer on real SQLite and PostgreSQL: migrations, UTC times, constraints,
and the errors a person sees when the database is wrong."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, create_engine, inspect, select, text
from sqlalchemy.exc import IntegrityError

from digest.db.engine import Database, current_revision, head_revision
from digest.db.schema import Base, Delivery, Issue, Source, Subscriber
from digest.errors import StorageError
from tests.support.feeds import closed_port_url

NOW = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)


def differences(conn: Connection) -> list[Any]:
    context = MigrationContext.configure(
        conn, opts={"compare_type": True, "compare_server_default": True}
    )
    return list(compare_metadata(context, Base.metadata))


def test_migrations_create_exactly_the_declared_schema(db: Database) -> None:
    assert current_revision(db.engine) == head_revision()
    with db.engine.connect() as conn:
        assert differences(conn) == []
        tables = set(inspect(conn).get_table_names())
    assert tables == set(Base.metadata.tables) | {"alembic_version"}


def test_the_schema_comparison_notices_a_difference(db: Database) -> None:
    # Guards the test above: an index missing from the database must show up as a difference.
    with db.engine.connect() as conn:
        transaction = conn.begin()
        try:
            conn.execute(text("DROP INDEX ix_items_kind_state"))
            found = differences(conn)
        finally:
            transaction.rollback()
    assert [d[0] for d in found] == ["add_index"]
    assert found[0][1].name == "ix_items_kind_state"


def add_source(db: Database, url: str, created_at: datetime) -> int:
    with db.session() as session:
        row = Source(url=url, kind="news", created_at=created_at)
        session.add(row)
        session.flush()
        return row.id


@pytest.mark.parametrize(
    "moment",
    [
        datetime(2026, 11, 23, 8, 0, 0, 123456, tzinfo=UTC),
        datetime(2026, 7, 1, 14, 30, tzinfo=ZoneInfo("Europe/Paris")),  # summer time, +02:00
        datetime(2026, 11, 23, 23, 59, 59, tzinfo=timezone(timedelta(hours=-9, minutes=-30))),
        datetime(2099, 12, 31, 23, 59, 59, tzinfo=UTC),
    ],
    ids=["micro", "paris", "minus-0930", "far"],
)
def test_times_come_back_as_aware_utc(db: Database, moment: datetime) -> None:
    source_id = add_source(db, "https://example.org/feed", moment)

    with db.session() as session:
        back = session.get_one(Source, source_id).created_at
        ordered = session.scalar(select(Source.id).where(Source.created_at == moment))

    assert back == moment
    assert back.tzinfo is UTC
    assert back.isoformat() == moment.astimezone(UTC).isoformat()
    assert ordered == source_id  # comparing in SQL works with an aware value of any zone


def test_a_naive_time_is_refused(db: Database) -> None:
    with pytest.raises(StorageError, match="naive datetime"):
        add_source(db, "https://example.org/naive", datetime(2026, 11, 23, 8, 0))
    with db.session() as session:
        assert session.scalars(select(Source)).first() is None


def test_one_delivery_per_issue_and_subscriber(db: Database) -> None:
    with db.session() as session:
        issue = Issue(number=1, subject="#1", created_at=NOW, composed_at=NOW)
        person = Subscriber(email="ann@example.com", created_at=NOW, updated_at=NOW)
        session.add_all([issue, person])
        session.flush()
        session.add(
            Delivery(
                issue_id=issue.id,
                subscriber_id=person.id,
                message_id="<1@example.com>",
                created_at=NOW,
                updated_at=NOW,
            )
        )
        pair = (issue.id, person.id)

    with pytest.raises(StorageError) as caught, db.session() as session:
        session.add(
            Delivery(
                issue_id=pair[0],
                subscriber_id=pair[1],
                message_id="<2@example.com>",
                created_at=NOW,
                updated_at=NOW,
            )
        )
    assert isinstance(caught.value.__cause__, IntegrityError)
    with db.session() as session:
        assert len(session.scalars(select(Delivery)).all()) == 1


@pytest.mark.parametrize(
    "url",
    ["nosuchdb://x", "this is not a url", "postgresql+nosuchdriver://u@127.0.0.1/x"],
)
def test_a_bad_url_is_a_storage_error(url: str) -> None:
    with pytest.raises(StorageError) as caught:
        Database(url)
    assert "database.url" in str(caught.value)


def test_an_unreachable_database_is_a_storage_error(tmp_path: Path) -> None:
    port = closed_port_url().split(":")[2].split("/")[0]
    for url in (
        f"postgresql+psycopg://postgres@127.0.0.1:{port}/nothing",
        f"sqlite:///{tmp_path}",  # a folder, not a file
    ):
        with pytest.raises(StorageError, match="cannot open the database"):
            Database(url)


def test_an_empty_database_without_auto_upgrade_says_what_to_run(empty_db_url: str) -> None:
    with pytest.raises(StorageError) as caught:
        Database(empty_db_url, auto_upgrade=False)
    message = str(caught.value)
    assert "run `digest db upgrade`" in message
    assert "revision none" in message and head_revision() in message

    upgraded = Database(empty_db_url)  # auto_upgrade, the default, migrates it
    upgraded.dispose()
    database = Database(empty_db_url, auto_upgrade=False)
    assert current_revision(database.engine) == head_revision()
    database.dispose()


def test_a_database_holding_other_tables_is_a_storage_error(empty_db_url: str) -> None:
    # Someone else's table where digest wants its own: refused with a readable error.
    engine = create_engine(empty_db_url)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE sources (id INTEGER PRIMARY KEY, feed TEXT)"))
    engine.dispose()

    with pytest.raises(StorageError, match="sources"):
        Database(empty_db_url)


def test_the_head_read_from_the_files_is_alembics() -> None:
    from alembic.script import ScriptDirectory

    from digest.db.engine import _alembic_config

    engine = create_engine("sqlite://")  # never connected: the scripts are only read
    script = ScriptDirectory.from_config(_alembic_config(engine))
    assert head_revision() == script.get_current_head()
