"""Who runs the daemon: the `daemon_holder` row, and the PostgreSQL advisory lock that makes
one scheduler per database (digest.daemon.lock decides; here are only the statements)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Connection, delete, text, update
from sqlalchemy.exc import SQLAlchemyError

from digest.db.engine import Database
from digest.db.schema import DaemonHolder
from digest.errors import StorageError

# The advisory lock's key: "digest" in ASCII and a 1. Advisory locks are per database, so
# two newsletters on one PostgreSQL server each have their own.
LOCK_KEY = 0x6469_6765_7374_0001
_HOLDER_ID = 1


@dataclass(frozen=True, slots=True, kw_only=True)
class Holder:
    """The daemon that holds (or last held) the lock, and when it was last seen alive."""

    host: str
    pid: int
    since: datetime
    heartbeat_at: datetime

    def line(self) -> str:
        since = self.since.astimezone(UTC)
        return f"host {self.host}, pid {self.pid}, since {since:%Y-%m-%d %H:%M:%S} UTC"

    def as_dict(self) -> dict[str, object]:
        return {
            "host": self.host,
            "pid": self.pid,
            "since": self.since,
            "heartbeat_at": self.heartbeat_at,
        }


def database_file(db: Database) -> Path | None:
    """The SQLite database's file; None for PostgreSQL or an in-memory database."""
    url = db.engine.url
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return None
    return Path(url.database or "")


def is_postgresql(db: Database) -> bool:
    return db.engine.dialect.name == "postgresql"


def read_holder(db: Database) -> Holder | None:
    with db.session() as session:
        row = session.get(DaemonHolder, _HOLDER_ID)
        if row is None:
            return None
        return Holder(host=row.host, pid=row.pid, since=row.since, heartbeat_at=row.heartbeat_at)


def write_holder(db: Database, holder: Holder) -> None:
    """Record the new holder, replacing whoever held the lock before."""
    with db.session() as session:
        row = session.get(DaemonHolder, _HOLDER_ID)
        if row is None:
            row = DaemonHolder(id=_HOLDER_ID)
            session.add(row)
        row.host, row.pid = holder.host, holder.pid
        row.since, row.heartbeat_at = holder.since, holder.heartbeat_at


def beat(db: Database, host: str, pid: int, now: datetime) -> None:
    """The holder is alive at `now` (a row another holder took over is left alone)."""
    with db.session() as session:
        session.execute(
            update(DaemonHolder)
            .where(
                DaemonHolder.id == _HOLDER_ID, DaemonHolder.host == host, DaemonHolder.pid == pid
            )
            .values(heartbeat_at=now)
        )


def forget_holder(db: Database, host: str, pid: int) -> None:
    """Remove the row of a holder that is not a daemon (a `--once` run) when it is done."""
    with db.session() as session:
        session.execute(
            delete(DaemonHolder).where(DaemonHolder.host == host, DaemonHolder.pid == pid)
        )


class AdvisoryLock:
    """A session-level PostgreSQL advisory lock on a connection of its own, held while the
    daemon lives: the server releases it when the connection ends, however the process dies."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._conn: Connection | None = None

    def try_acquire(self) -> bool:
        try:
            conn = self._db.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
            got = bool(conn.scalar(text("SELECT pg_try_advisory_lock(:key)"), {"key": LOCK_KEY}))
        except SQLAlchemyError as e:
            raise StorageError(f"{self._db.url}: cannot take the scheduler lock: {e}") from e
        if not got:
            conn.close()
            return False
        self._conn = conn
        return True

    def alive(self) -> bool:
        """True while the lock's connection is up (a server restart ends it, and the lock)."""
        if self._conn is None:
            return False
        try:
            self._conn.execute(text("SELECT 1"))
        except SQLAlchemyError:
            return False
        return True

    def release(self) -> None:
        conn, self._conn = self._conn, None
        if conn is None:
            return
        try:
            conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": LOCK_KEY})
        except SQLAlchemyError:
            pass  # the connection is gone, and the lock with it
        finally:
            conn.invalidate()  # never back to the pool: the lock belongs to this session
            conn.close()


def advisory_lock_held(db: Database) -> bool:
    """Whether some session holds the scheduler's advisory lock, read from pg_locks without
    taking it (so a `digest status` never keeps a starting daemon out)."""
    query = text(
        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted"
        " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
        " AND classid = CAST(:high AS oid) AND objid = CAST(:low AS oid) AND objsubid = 1"
    )
    with db.session() as session:
        held = session.scalar(query, {"high": LOCK_KEY >> 32, "low": LOCK_KEY & 0xFFFFFFFF})
    return bool(held)
