"""The scheduler daemon as a real process for the end-to-end tests: a settings file written
whole, the daemon started as the operator starts it (`digest scheduler` or `python
scheduler.py`) on the real clock, waits with a deadline that fail with the daemon's log, and
what the relay accepted counted per recipient and per issue."""

from __future__ import annotations

import asyncio
import email
import email.policy
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from sqlalchemy import select

from digest.db.engine import Database
from digest.db.schema import Delivery, Issue
from tests.support.cli import DIGEST
from tests.support.smtp import Received, RecordingHandler, SmtpTestServer, free_port

ROOT = Path(__file__).resolve().parents[2]

Value = str | int | float | bool | list[str]


def _toml(value: Value) -> str:
    if isinstance(value, list):
        return "[" + ", ".join(_toml(item) for item in value) + "]"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def write_settings(path: Path, sections: Mapping[str, Mapping[str, Value]]) -> Path:
    """A settings file with these tables (`{"smtp": {"port": 2525}}`), written whole: the
    CLI in-process and the daemon process read the same file."""
    text = "".join(
        f"[{name}]\n" + "".join(f"{key} = {_toml(value)}\n" for key, value in values.items())
        for name, values in sections.items()
    )
    path.write_text(text, encoding="utf-8")
    return path


@dataclass
class Daemon:
    """One daemon process; its standard error goes to a file (a pipe nobody reads would
    block it), its log lines are also in schedule.log_file."""

    process: subprocess.Popen[bytes]
    log: Path
    stderr: Path
    started: float = field(default_factory=time.monotonic)

    @property
    def pid(self) -> int:
        return self.process.pid

    def output(self) -> str:
        """The log file and standard error, for a failing assertion's message."""
        parts = []
        for path in (self.log, self.stderr):
            if path.exists():
                parts.append(
                    f"--- {path.name}\n{path.read_text(encoding='utf-8', errors='replace')}"
                )
        return "\n".join(parts)

    def log_text(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace") if self.log.exists() else ""

    def terminate(self, timeout: float = 30.0) -> tuple[int, float]:
        """SIGTERM, then wait: (exit status, seconds it took)."""
        asked = time.monotonic()
        self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(timeout=timeout)
        return code, time.monotonic() - asked

    def kill(self) -> None:
        """SIGKILL: no handler runs, nothing is flushed or released by the process."""
        self.process.kill()
        self.process.wait(timeout=30)


def real_clock_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """This environment without libfaketime (present when the whole suite is run with the
    clock moved), for a daemon on the machine's real clock.

    The daemon cannot run under libfaketime (0.9.10, Python 3.11): with CLOCK_MONOTONIC
    faked as well (the default), a timed wait (APScheduler's wake-up for the next run,
    threading.Event.wait, queue.get(timeout=)) hands the kernel a deadline decades ahead and
    never wakes, so no job runs after the ones due at start-up; with it left real
    (FAKETIME_DONT_FAKE_MONOTONIC=1), every time.sleep fails with EINVAL. So these tests
    date their feeds and subscribers from `daemon_now()` instead of the fixed NOW."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("FAKETIME") and not (key == "LD_PRELOAD" and "faketime" in value)
    }
    # The daemon runs the code of this checkout, whatever the virtualenv installed.
    path = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)
    return {**env, "PYTHONPATH": path, "PYTHONUNBUFFERED": "1", **(extra or {})}


@cache
def _real_offset() -> float:
    """Seconds to add to this process's clock to read the real one (0 unless the suite runs
    under libfaketime)."""
    done = subprocess.run(
        [sys.executable, "-c", "import time; print(time.time())"],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
        env=real_clock_env(),
    )
    return float(done.stdout) - time.time()


def daemon_now() -> datetime:
    """The time as the daemon reads it: the machine's real clock."""
    return datetime.now(UTC) + timedelta(seconds=_real_offset())


def start_daemon(
    config: Path,
    log: Path,
    *,
    script: bool = False,
    env: Mapping[str, str] | None = None,
) -> Daemon:
    """`digest --config CONFIG scheduler` (or, with `script`, `python scheduler.py --config
    CONFIG` from the repository) on the real clock."""
    argv = (
        [sys.executable, str(ROOT / "scheduler.py"), "--config", str(config)]
        if script
        else [str(DIGEST), "--config", str(config), "scheduler"]
    )
    stderr = log.with_name(f"{log.name}.stderr.{time.monotonic_ns()}")
    with stderr.open("wb") as err:
        process = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=err,
            stderr=err,
            cwd=str(ROOT),
            env=real_clock_env(env),
        )
    return Daemon(process=process, log=log, stderr=stderr)


@contextmanager
def daemons() -> Iterator[list[Daemon]]:
    """The daemons a test starts; any still running at the end is killed (by its pid)."""
    started: list[Daemon] = []
    try:
        yield started
    finally:
        for daemon in started:
            if daemon.process.poll() is None:
                daemon.process.kill()
                daemon.process.wait(timeout=30)


def wait_for(
    what: Callable[[], bool],
    daemon: Daemon | None,
    *,
    timeout: float = 60.0,
    doing: str = "",
    poll: float = 0.05,
) -> float:
    """Poll `what` until it holds; the seconds it took. Fails at once when the daemon
    exited, and after `timeout`, with the daemon's log."""
    began = time.monotonic()
    deadline = began + timeout
    while not what():
        if daemon is not None and daemon.process.poll() is not None:
            raise AssertionError(
                f"the daemon exited with {daemon.process.returncode} while waiting for "
                f"{doing}\n{daemon.output()}"
            )
        if time.monotonic() > deadline:
            raise AssertionError(
                f"waited {timeout:.0f}s in vain for {doing}\n" + (daemon.output() if daemon else "")
            )
        time.sleep(poll)
    return time.monotonic() - began


# -- a relay slow to answer ------------------------------------------------------------------


class KeepsThenWaits(RecordingHandler):
    """A relay that keeps each message as soon as its data is in, then takes `faults.delay`
    to answer 250: a sender that dies meanwhile cannot know the message was kept, the case
    that makes a duplicate after a restart."""

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        with self.lock:
            for rcpt in envelope.rcpt_tos:
                self.received.append(
                    Received(str(envelope.mail_from), rcpt, envelope.original_content or b"")
                )
        if self.faults.delay:
            await asyncio.sleep(self.faults.delay)
        return "250 2.0.0 OK queued"


class SlowRelay(SmtpTestServer):
    """The test SMTP server with a `KeepsThenWaits` handler."""

    def __init__(self) -> None:
        self.handler = KeepsThenWaits()
        self.controller = Controller(self.handler, hostname="127.0.0.1", port=free_port())


# -- the database, as the test reads it while the daemon writes ------------------------------


def issue_status(db: Database, number: int) -> str | None:
    with db.session() as session:
        status = session.scalars(select(Issue.status).where(Issue.number == number)).first()
        return None if status is None else str(status)


def message_ids(db: Database) -> dict[str, int]:
    """Every delivery's Message-ID -> the number of its issue."""
    with db.session() as session:
        rows = session.execute(select(Delivery.message_id, Issue.number).join(Issue))
        return {str(message_id): int(number) for message_id, number in rows}


def message_id(received: Received) -> str:
    head = received.raw.split(b"\r\n\r\n", 1)[0] + b"\r\n\r\n"
    parsed = email.message_from_bytes(head, policy=email.policy.compat32)
    return str(parsed["Message-ID"] or "").strip()


@dataclass(frozen=True, slots=True)
class Tally:
    """What the relay accepted for one issue: per recipient and per Message-ID."""

    per_recipient: Counter[str]
    per_message_id: Counter[str]
    ids_of: dict[str, set[str]]  # recipient -> the Message-IDs it got

    @property
    def messages(self) -> int:
        return sum(self.per_recipient.values())

    @property
    def duplicates(self) -> int:
        return sum(n - 1 for n in self.per_recipient.values())

    def skipped(self, expected: Iterable[str]) -> list[str]:
        return sorted(set(expected) - set(self.per_recipient))


def tally(received: Iterable[Received], issue_of: Mapping[str, int], number: int) -> Tally:
    """The messages of issue `number` among `received` (known by their Message-ID);
    a message whose Message-ID no delivery has fails the test."""
    per_recipient: Counter[str] = Counter()
    per_id: Counter[str] = Counter()
    ids_of: dict[str, set[str]] = {}
    for item in received:
        mid = message_id(item)
        assert mid in issue_of, f"a message no delivery made: {mid!r} to {item.rcpt}"
        if issue_of[mid] != number:
            continue
        per_recipient[item.rcpt] += 1
        per_id[mid] += 1
        ids_of.setdefault(item.rcpt, set()).add(mid)
    return Tally(per_recipient, per_id, ids_of)
