"""The daemon's log: one line per event with its time and level, on standard error (for
journald) and, with schedule.log_file, in a file reopened on SIGHUP (after logrotate moved
it); libraries speak only at WARNING and above."""

from __future__ import annotations

import logging
import sys
import threading
from logging.handlers import WatchedFileHandler
from pathlib import Path

from digest.errors import ConfigError
from digest.settings import Settings

FORMAT = "%(asctime)s %(levelname)s %(message)s"
DATE_FORMAT = "%Y-%m-%dT%H:%M:%S%z"
# Our own loggers tell the operator what happened, at INFO.
OURS = ("digest", "scheduler", "subscribers", "__main__")
# Libraries whose INFO lines are chatter to an operator: "Adding job tentatively",
# "Context impl SQLiteImpl.", "Will assume non-transactional DDL.", every HTTP request...
QUIET = (
    "apscheduler",
    "alembic",
    "sqlalchemy",
    "httpx",
    "httpcore",
    "uvicorn",
    "uvicorn.access",
    "uvicorn.error",
    "mail.log",  # aiosmtpd
    "asyncio",
    "urllib3",
    "tzlocal",
    "cssutils",
    "premailer",
)


class ReopeningFileHandler(WatchedFileHandler):
    """A log file that is reopened when asked (SIGHUP), besides when it was moved."""

    def __init__(self, filename: str) -> None:
        super().__init__(filename, encoding="utf-8")
        self._reopen = threading.Event()

    def request_reopen(self) -> None:
        # Called from a signal handler: only a flag; the next line reopens the file.
        self._reopen.set()

    def emit(self, record: logging.LogRecord) -> None:
        if self._reopen.is_set():
            self._reopen.clear()
            if self.stream is not None:
                self.stream.close()
            self.stream = self._open()
            self._statstream()
        super().emit(record)


_handlers: list[logging.Handler] = []


def log_path(settings: Settings) -> Path | None:
    """schedule.log_file, relative to the settings file; None when not set."""
    name = settings.schedule.log_file
    if not name:
        return None
    return (settings.base_dir / Path(name).expanduser()).resolve()


def setup_logging(settings: Settings, level: int = logging.INFO) -> None:
    """Log the daemon's lines to standard error and schedule.log_file; may be called again
    (it replaces what it set up before)."""
    root = logging.getLogger()
    for handler in _handlers:
        root.removeHandler(handler)
        handler.close()
    _handlers.clear()
    formatter = logging.Formatter(FORMAT, DATE_FORMAT)
    stderr = logging.StreamHandler(sys.stderr)
    _handlers.append(stderr)
    path = log_path(settings)
    if path is not None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            _handlers.append(ReopeningFileHandler(str(path)))
        except OSError as e:
            raise ConfigError(f"schedule.log_file: cannot write {path}: {e.strerror or e}") from e
    for handler in _handlers:
        handler.setFormatter(formatter)
        root.addHandler(handler)
    root.setLevel(logging.WARNING)
    for name in OURS:
        logging.getLogger(name).setLevel(level)
    for name in QUIET:
        logging.getLogger(name).setLevel(max(level, logging.WARNING))


def reopen_log_file() -> None:
    """Reopen the log file at its configured path (SIGHUP); standard error is left alone."""
    files = [handler for handler in _handlers if isinstance(handler, ReopeningFileHandler)]
    for handler in files:
        handler.request_reopen()
    if files:
        logging.getLogger("digest.daemon").info("log file reopened")
