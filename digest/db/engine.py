"""Opening the database: engine, sessions, and schema migrations with Alembic."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from digest.errors import StorageError

MIGRATIONS = Path(__file__).parent / "migrations"


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets readers (status, preview) work while a send writes; foreign keys are off by
    # default in SQLite; the busy timeout makes parallel writers wait instead of failing.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def make_engine(url: str, pool_size: int = 5) -> Engine:
    """An engine for `url`; a SQLite file's folder is created if needed. `pool_size`
    connections are kept open; as many again may be opened for a moment."""
    try:
        parsed = make_url(url)
    except ArgumentError as e:
        raise StorageError(f"database.url {url!r} is not a database URL: {e}") from e
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        Path(parsed.database or "").parent.mkdir(parents=True, exist_ok=True)
    try:
        pooled = parsed.get_backend_name() != "sqlite" or parsed.database not in (
            None,
            "",
            ":memory:",
        )
        sizes = {"pool_size": pool_size, "max_overflow": pool_size} if pooled else {}
        engine = create_engine(parsed, pool_pre_ping=True, **sizes)
    except (NoSuchModuleError, ArgumentError, ImportError) as e:
        raise StorageError(
            f"database.url {parsed.render_as_string(hide_password=True)!r}: {e}"
        ) from e
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def _alembic_config(engine: Engine) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["engine"] = engine
    return cfg


def head_revision() -> str:
    head = ScriptDirectory.from_config(_alembic_config(None)).get_current_head()  # type: ignore[arg-type]
    assert head is not None
    return head


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade(engine: Engine) -> tuple[str | None, str]:
    """Apply every pending migration; returns (revision before, revision after)."""
    before = current_revision(engine)
    command.upgrade(_alembic_config(engine), "head")
    return before, head_revision()


class Database:
    """The engine and a session factory, opened once per command and passed down."""

    def __init__(self, url: str, *, auto_upgrade: bool = True, pool_size: int = 5) -> None:
        self.engine = make_engine(url, pool_size)
        self.url = self.engine.url.render_as_string(hide_password=True)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        try:
            current = current_revision(self.engine)
            if current != head_revision():
                if not auto_upgrade:
                    raise StorageError(
                        f"{self.url}: schema is at revision {current or 'none'}, this version "
                        f"needs {head_revision()}: run `digest db upgrade`"
                    )
                upgrade(self.engine)
        except OperationalError as e:
            raise StorageError(f"{self.url}: cannot open the database: {e.orig}") from e
        except SQLAlchemyError as e:
            # PostgreSQL reports a clash with existing tables as a ProgrammingError.
            reason = getattr(e, "orig", None) or e
            raise StorageError(
                f"{self.url}: cannot migrate the schema to {head_revision()}: {reason}"
            ) from e

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session in one transaction: committed on success, rolled back on error."""
        with self._sessions() as session:
            try:
                yield session
                session.commit()
            except SQLAlchemyError as e:
                session.rollback()
                raise StorageError(f"database error: {e.__class__.__name__}: {e}") from e
            except BaseException:
                session.rollback()
                raise

    def dispose(self) -> None:
        self.engine.dispose()
