"""Alembic environment: runs migrations on the engine digest hands it.

On SQLite, Alembic's batch mode rebuilds a table to alter it (copy, drop, rename); with
foreign keys on, dropping the old table would run its ON DELETE actions (CASCADE, SET NULL)
on the rows that point at it, or fail. So they are off while migrating, and checked after.
"""

from alembic import context
from sqlalchemy import text

from digest.db.schema import Base

engine = context.config.attributes["engine"]
sqlite = engine.dialect.name == "sqlite"

with engine.connect() as connection:
    if sqlite:
        # A no-op inside a transaction: this runs before the migration's transaction begins.
        connection.execute(text("PRAGMA foreign_keys=OFF"))
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=sqlite,
        compare_type=True,
    )
    try:
        with context.begin_transaction():
            context.run_migrations()
            if sqlite:
                broken = connection.execute(text("PRAGMA foreign_key_check")).fetchall()
                if broken:
                    raise RuntimeError(f"the migration broke foreign keys: {broken[:5]}")
        connection.commit()
    except BaseException:
        connection.rollback()
        raise
    finally:
        if sqlite:  # outside any transaction again, so it takes effect
            connection.execute(text("PRAGMA foreign_keys=ON"))
            connection.commit()
