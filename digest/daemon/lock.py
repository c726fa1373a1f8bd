"""One daemon per database: a PostgreSQL advisory lock, or a file lock beside the SQLite
database, held for the daemon's life; the holder is written down for `digest status`.

The operating system (flock) or the server (the advisory lock's session) frees the lock when
its holder dies however it dies, so a restart after SIGKILL or a power cut works at once.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

from digest.db.daemon import (
    AdvisoryLock,
    Holder,
    advisory_lock_held,
    beat,
    database_file,
    forget_holder,
    is_postgresql,
    read_holder,
    write_holder,
)
from digest.db.engine import Database
from digest.errors import DigestError, StorageError
from digest.settings import Settings

__all__ = ["DaemonLock", "Holder", "SchedulerRunning", "holding", "is_running", "lock_file"]

log = logging.getLogger("digest.daemon")
HEARTBEAT_SECONDS = 60.0
# A `digest status` probing the file lock holds it for a moment: a starting daemon that
# meets it tries again for about a second before it believes another daemon runs.
ACQUIRE_TRIES = 6
ACQUIRE_PAUSE = 0.2


class SchedulerRunning(DigestError):
    """Another daemon holds the lock of this database."""

    def __init__(self, holder: Holder | None) -> None:
        who = holder.line() if holder else "it has not said who it is yet"
        super().__init__(f"another scheduler is running ({who})")
        self.holder = holder


def utcnow() -> datetime:
    return datetime.now(UTC)


def lock_file(db: Database, settings: Settings) -> Path | None:
    """The file locked beside a SQLite database (in the data folder for an in-memory one);
    None for PostgreSQL, whose lock lives in the server."""
    if is_postgresql(db):
        return None
    database = database_file(db)
    if database is None:
        return settings.data_dir / "scheduler.lock"
    return database.with_name(database.name + ".scheduler.lock")


class DaemonLock:
    """The lock of one database, taken by `acquire`, kept alive by a heartbeat thread."""

    def __init__(
        self,
        db: Database,
        settings: Settings,
        clock: Callable[[], datetime] = utcnow,
        *,
        daemon: bool = True,
    ) -> None:
        self.db, self.clock, self.daemon = db, clock, daemon
        self.path = lock_file(db, settings)
        self.host, self.pid = socket.gethostname(), os.getpid()
        self.holder: Holder | None = None
        self._fd: int | None = None
        self._advisory: AdvisoryLock | None = None
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def acquire(self) -> Holder:
        """Take the lock and write the holder down; SchedulerRunning naming the holder when
        another daemon has it."""
        for attempt in range(ACQUIRE_TRIES):
            if self._try():
                break
            if attempt < ACQUIRE_TRIES - 1:
                time.sleep(ACQUIRE_PAUSE)
        else:
            raise SchedulerRunning(self._other_holder())
        now = self.clock()
        holder = Holder(host=self.host, pid=self.pid, since=now, heartbeat_at=now)
        if self._fd is not None:
            _write_lock_file(self._fd, holder)
        try:
            write_holder(self.db, holder)
        except BaseException:
            self.release()
            raise
        self.holder = holder
        return holder

    def _try(self) -> bool:
        if self.path is None:
            self._advisory = AdvisoryLock(self.db)
            if self._advisory.try_acquire():
                return True
            self._advisory = None
            return False
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # os.open's descriptors are not inherited by child processes, so no child keeps
        # the lock after the daemon dies.
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        self._fd = fd
        return True

    def _other_holder(self) -> Holder | None:
        from_file = _read_lock_file(self.path) if self.path else None
        try:
            recorded = read_holder(self.db)
        except StorageError:
            recorded = None
        return _merge(from_file, recorded)

    def heartbeat(self) -> bool:
        """Say the holder is alive; False when the lock is lost for good (a PostgreSQL
        connection that dropped and another daemon took the lock meanwhile)."""
        if self._advisory is not None and not self._advisory.alive():
            self._advisory.release()
            self._advisory = AdvisoryLock(self.db)
            if not self._advisory.try_acquire():
                self._advisory = None
                return False
            log.warning("scheduler lock taken again after its database connection was lost")
        beat(self.db, self.host, self.pid, self.clock())
        return True

    def start_heartbeat(self, on_lost: Callable[[str], None]) -> None:
        """Beat every HEARTBEAT_SECONDS in a thread; `on_lost` is called once if the lock
        is lost, with the reason."""

        def loop() -> None:
            failing = False
            while not self._stopping.wait(HEARTBEAT_SECONDS):
                try:
                    kept = self.heartbeat()
                except DigestError as e:
                    if not failing:
                        log.warning("scheduler heartbeat not recorded: %s", e)
                    failing = True
                    continue
                if failing:
                    log.info("scheduler heartbeat recorded again")
                failing = False
                if not kept:
                    on_lost("another scheduler took the lock while the database was away")
                    return

        self._thread = threading.Thread(target=loop, name="digest-heartbeat", daemon=True)
        self._thread.start()

    def release(self) -> None:
        """Free the lock. A daemon leaves its row with the time it stopped (status says
        "the scheduler stopped at T"); a one-off run removes its row."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self.holder is not None:
            with contextlib.suppress(DigestError):
                if self.daemon:
                    beat(self.db, self.host, self.pid, self.clock())
                else:
                    forget_holder(self.db, self.host, self.pid)
            self.holder = None
        if self._advisory is not None:
            self._advisory.release()
            self._advisory = None
        if self._fd is not None:
            os.close(self._fd)  # closing the only descriptor frees the flock
            self._fd = None


@contextlib.contextmanager
def holding(
    db: Database,
    settings: Settings,
    clock: Callable[[], datetime] = utcnow,
    *,
    daemon: bool = True,
) -> Iterator[DaemonLock]:
    """The lock for the block's duration (`daemon=False` for a one-off `--once` run)."""
    lock = DaemonLock(db, settings, clock, daemon=daemon)
    lock.acquire()
    try:
        yield lock
    finally:
        lock.release()


def is_running(db: Database, settings: Settings) -> Holder | None:
    """The daemon holding the lock now, or None: tried without waiting and let go at once
    (PostgreSQL: read from pg_locks, never taken)."""
    path = lock_file(db, settings)
    if path is None:
        if not advisory_lock_held(db):
            return None
        return read_holder(db) or _unknown()
    if not path.exists():
        return None
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return _merge(_read_lock_file(path), read_holder(db)) or _unknown()
    finally:
        os.close(fd)  # frees a shared lock this probe took
    return None


def _write_lock_file(fd: int, holder: Holder) -> None:
    line = f"{holder.host} {holder.pid} {holder.since.isoformat()}\n".encode()
    os.ftruncate(fd, 0)
    os.pwrite(fd, line, 0)


def _read_lock_file(path: Path) -> Holder | None:
    try:
        host, pid, since = path.read_text(encoding="utf-8").split()
        when = datetime.fromisoformat(since)
        return Holder(host=host, pid=int(pid), since=when, heartbeat_at=when)
    except (OSError, ValueError):
        return None


def _merge(from_file: Holder | None, recorded: Holder | None) -> Holder | None:
    """The lock file names the holder first (it is written right after the lock is taken);
    the database row adds its heartbeat when it is the same daemon."""
    if from_file is None:
        return recorded
    if recorded is not None and (recorded.host, recorded.pid) == (from_file.host, from_file.pid):
        return recorded
    return from_file


def _unknown() -> Holder:
    now = utcnow()
    return Holder(host="unknown", pid=0, since=now, heartbeat_at=now)
