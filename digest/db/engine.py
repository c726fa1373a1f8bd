"""Opening the database: engine, sessions, and schema migrations with Alembic."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, create_engine, event, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from digest.errors import StorageError
from digest.files import PRIVATE_FILE, make_private, private_folder

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).parent / "migrations"


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets readers (status, preview) work while a send writes; foreign keys are off by
    # default in SQLite; the busy timeout makes parallel writers wait instead of failing.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    # Deleted rows are overwritten with zeros, so what `forget` erases is gone from the file.
    cursor.execute("PRAGMA secure_delete=ON")
    cursor.close()


def checkpoint(engine: Engine) -> None:
    """On SQLite, copy the write-ahead log into the database and empty it, so that the old
    versions of erased rows it holds are gone too (elsewhere: nothing to do). A reader that
    holds an old snapshot at this moment keeps part of the log; the next checkpoint (SQLite
    runs them itself as the log grows) overwrites it."""
    if engine.dialect.name != "sqlite":
        return
    with engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")


def _private_sqlite_files(database: Path) -> None:
    """The database's folder (when made here) and file, owner-only; SQLite gives the -wal
    and -shm files it makes the database file's permissions, and those already there are
    narrowed too. A file of another owner is left as it is (SQLite says what it can't do)."""
    private_folder(database.parent)
    try:
        make_private(database)
        for suffix in ("-wal", "-shm", "-journal"):
            extra = database.with_name(database.name + suffix)
            if extra.exists():
                extra.chmod(PRIVATE_FILE)
    except OSError:
        pass


def make_engine(url: str, pool_size: int = 5) -> Engine:
    """An engine for `url`; a SQLite file's folder is created if needed. `pool_size`
    connections are kept open; as many again may be opened for a moment."""
    try:
        parsed = make_url(url)
    except ArgumentError as e:
        raise StorageError(f"database.url {url!r} is not a database URL: {e}") from e
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        _private_sqlite_files(Path(parsed.database or ""))
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
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["engine"] = engine
    return cfg


_REVISION = re.compile(r"^(down_)?revision\s*=\s*['\"]?([\w-]+|None)['\"]?\s*$", re.MULTILINE)


@cache
def head_revision() -> str:
    """The newest migration, read from the migration files' `revision` and `down_revision`
    lines: Alembic itself (a third of a second to import) is loaded only to migrate."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in (MIGRATIONS / "versions").glob("*.py"):
        for down, value in _REVISION.findall(path.read_text(encoding="utf-8")):
            (parents if down else revisions).add(value)
    heads = revisions - parents
    if len(heads) != 1:
        raise StorageError(f"migrations have {len(heads)} heads: {sorted(heads)}")
    return heads.pop()


def current_revision(engine: Engine) -> str | None:
    """The revision the database's schema is at; None for a database without one."""
    with engine.connect() as conn:
        if not inspect(conn).has_table("alembic_version"):
            return None
        return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()


def upgrade(engine: Engine) -> tuple[str | None, str]:
    """Apply every pending migration; returns (revision before, revision after)."""
    from alembic import command

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
