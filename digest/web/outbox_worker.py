"""The sender inside `digest serve`: a thread that sends the queued confirmation and notice
mails through the relay, woken when a page queues one and every web.outbox_poll_seconds for
retries. Pages never wait for it; a hung relay holds up only this thread."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import datetime

from digest.db.engine import Database
from digest.send.outbox import send_outbox
from digest.send.wiring import Relay

LOG = logging.getLogger(__name__)


class OutboxWorker:
    """Started and stopped with the app (its lifespan); `wake()` is cheap and thread-safe."""

    def __init__(
        self, db: Database, relay: Relay, clock: Callable[[], datetime], poll_seconds: float
    ) -> None:
        self.db, self.relay, self.clock = db, relay, clock
        self.poll_seconds = poll_seconds
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._stop.clear()
        # A daemon thread: a relay that never answers must not keep the process alive.
        self._thread = threading.Thread(target=self._run, name="digest-outbox", daemon=True)
        self._thread.start()

    def wake(self) -> None:
        self._wake.set()

    def stop(self, timeout: float = 2.0) -> None:
        """Ask the thread to stop and wait up to `timeout`; a mail it is sending meanwhile
        stays claimed for a while and is sent again later, by this or another sender."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _pause(self, seconds: float) -> None:
        """Until woken or `seconds` have passed, in short sleeps rather than one timed
        Event.wait: under libfaketime (the test suite run with the clock a year ahead) a timed
        wait is handed a deadline a year away and never ends."""
        end = time.monotonic() + seconds
        while not self._wake.is_set() and time.monotonic() < end:
            time.sleep(min(0.05, seconds))

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.clear()
            try:
                report = send_outbox(self.db, self.relay, self.clock, stop=self._stop)
                if report.sent or report.failed or report.given_up:
                    LOG.info("%s", report.line)
            except Exception:  # the database may be away for a moment: try again later
                LOG.exception("sending the outbox failed")
            self._pause(self.poll_seconds)
