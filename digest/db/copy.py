"""Copying the whole database into another one (SQLite to PostgreSQL, or back): the target's
schema is made by the migrations, then every table is copied in foreign-key order."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import Integer, func, insert, select

from digest.db.engine import Database
from digest.db.schema import Base
from digest.errors import StorageError

BATCH = 1000


def copy_database(
    source: Database,
    target: Database,
    *,
    progress: Callable[[str, int], None] = lambda table, rows: None,
) -> dict[str, int]:
    """Copy every row of `source` into `target`, whose schema must be current and empty;
    returns the rows copied per table. One transaction on the target: a failure leaves it
    empty."""
    tables = Base.metadata.sorted_tables  # parents before children
    with target.engine.begin() as into:
        for table in tables:
            if into.execute(select(func.count()).select_from(table)).scalar():
                raise StorageError(
                    f"{target.url}: table {table.name} is not empty: copy only into a new "
                    "database (a failed copy leaves none behind)"
                )
        counts: dict[str, int] = {}
        with source.engine.connect() as read:
            for table in tables:
                copied = 0
                rows = read.execute(select(table).order_by(*table.primary_key.columns))
                while batch := rows.fetchmany(BATCH):
                    into.execute(insert(table), [row._asdict() for row in batch])
                    copied += len(batch)
                    progress(table.name, copied)
                counts[table.name] = copied
        if into.dialect.name == "postgresql":
            # Ids were copied as they were: each sequence goes on after the highest one.
            for table in tables:
                keys = list(table.primary_key.columns)
                if len(keys) == 1 and isinstance(keys[0].type, Integer):
                    sequence = func.pg_get_serial_sequence(table.name, keys[0].name)
                    highest = select(func.max(keys[0])).scalar_subquery()
                    into.execute(
                        select(func.setval(sequence, func.coalesce(highest, 0) + 1, False)).where(
                            sequence.is_not(None)
                        )
                    )
    return counts
