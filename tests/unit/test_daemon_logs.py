"""The daemon's log: one line per event with time, level and message, in schedule.log_file
(reopened when asked) and on standard error; the libraries' INFO chatter left out."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from digest.daemon.logs import QUIET, ReopeningFileHandler, reopen_log_file, setup_logging
from digest.db.engine import Database
from digest.settings import Settings


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    """setup_logging changes the process's loggers: put them back for the other tests."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    names = ("digest", "scheduler", "subscribers", "__main__", *QUIET)
    levels = {name: logging.getLogger(name).level for name in names}
    yield
    for handler in root.handlers:
        if handler not in handlers:
            root.removeHandler(handler)
            handler.close()
    root.setLevel(level)
    for name, value in levels.items():
        logging.getLogger(name).setLevel(value)


def test_one_line_per_event_with_time_level_and_message(
    tmp_path: Path, make_settings: Callable[..., Settings], capsys: pytest.CaptureFixture[str]
) -> None:
    log = tmp_path / "logs" / "digest.log"
    setup_logging(make_settings(schedule_log_file=str(log)))
    logging.getLogger("digest.scheduler").info("weekly: ok in 1.2s: issue #3 sent to 40")
    logging.getLogger("digest.daemon").warning("source failing")
    lines = log.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 2
    when, level, message = lines[0].split(" ", 2)
    assert len(when) == len("2026-11-23T08:00:00+0000") and when[10] == "T"
    assert (level, message) == ("INFO", "weekly: ok in 1.2s: issue #3 sent to 40")
    assert lines[1].split(" ", 2)[1:] == ["WARNING", "source failing"]
    assert capsys.readouterr().err.splitlines()[-1].endswith(" WARNING source failing")


def test_library_chatter_stays_out_and_their_warnings_come_through(
    tmp_path: Path, make_settings: Callable[..., Settings]
) -> None:
    log = tmp_path / "digest.log"
    setup_logging(make_settings(schedule_log_file=str(log)))
    # A new database: Alembic migrates it ("Context impl SQLiteImpl.", "Will assume
    # non-transactional DDL.", "Running upgrade ..." at INFO).
    Database(f"sqlite:///{tmp_path / 'fresh.sqlite3'}").dispose()
    logging.getLogger("apscheduler.scheduler").info("Adding job tentatively")
    logging.getLogger("httpx").info("HTTP Request: GET https://example.org/feed")
    logging.getLogger("uvicorn.error").info("Started server process")
    logging.getLogger("some.other.library").info("hello")
    logging.getLogger("apscheduler.executors.default").warning("Run time of job was missed")
    text = log.read_text(encoding="utf-8")
    for chatter in ("Context impl", "non-transactional", "Running upgrade", "tentatively"):
        assert chatter not in text
    assert "HTTP Request" not in text and "Started server" not in text and "hello" not in text
    assert text.splitlines() == [text.splitlines()[0]]
    assert text.rstrip().endswith("WARNING Run time of job was missed")


def test_the_file_is_reopened_when_asked(
    tmp_path: Path, make_settings: Callable[..., Settings]
) -> None:
    log = tmp_path / "digest.log"
    setup_logging(make_settings(schedule_log_file=str(log)))
    logger = logging.getLogger("digest.daemon")
    logger.info("before")
    rotated = tmp_path / "digest.log.1"
    log.rename(rotated)
    reopen_log_file()  # what SIGHUP does
    logger.info("after")
    assert "before" in rotated.read_text() and "after" not in rotated.read_text()
    new = log.read_text()
    assert "log file reopened" in new and "after" in new


def test_a_relative_log_file_lies_beside_the_settings_file(
    tmp_path: Path, make_settings: Callable[..., Settings]
) -> None:
    setup_logging(make_settings(schedule_log_file="var/digest.log"))
    logging.getLogger("digest").info("hello")
    assert "hello" in (tmp_path / "var" / "digest.log").read_text()


def test_setting_up_again_replaces_the_handlers(
    tmp_path: Path, make_settings: Callable[..., Settings]
) -> None:
    settings = make_settings(schedule_log_file=str(tmp_path / "digest.log"))
    setup_logging(settings)
    setup_logging(settings)
    files = [h for h in logging.getLogger().handlers if isinstance(h, ReopeningFileHandler)]
    assert len(files) == 1
    logging.getLogger("digest").info("once")
    assert (tmp_path / "digest.log").read_text().count("once") == 1
