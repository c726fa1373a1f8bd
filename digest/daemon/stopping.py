"""Stopping the daemon cleanly: the process-wide stop event the jobs watch, the signal
handlers (SIGTERM and SIGINT stop, SIGHUP reopens the log file), and the bounded wait for
the work in flight.

A signal handler only sets `STOP`: raised at an arbitrary point of the main thread, an
exception could leave a database transaction or a lock half done. The scheduler runs in a
thread of its own while the main thread waits for `STOP`; the jobs run in the scheduler's
worker threads and watch `STOP` too (`send_issue(..., stop=STOP)` lets the messages on the
wire finish, records them and starts no other).
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from collections.abc import Callable
from types import FrameType

log = logging.getLogger("digest.daemon")

# Set when the daemon is asked to stop; every job hands it to the work that can stop early.
STOP = threading.Event()
_stopped_at: float | None = None


def install(on_hangup: Callable[[], None] | None = None) -> None:
    """Handle SIGTERM and SIGINT (stop) and SIGHUP (`on_hangup`); call from the main thread
    before the scheduler starts. The stop event starts clear."""
    global _stopped_at
    STOP.clear()
    _stopped_at = None
    signal.signal(signal.SIGTERM, _on_stop)
    signal.signal(signal.SIGINT, _on_stop)
    if on_hangup is not None:
        hangup = on_hangup

        def _on_hangup(signum: int, frame: FrameType | None) -> None:
            hangup()

        signal.signal(signal.SIGHUP, _on_hangup)


def _on_stop(signum: int, frame: FrameType | None) -> None:
    name = signal.Signals(signum).name
    if STOP.is_set():
        log.info("already stopping (%s)", name)
        return
    _stop()
    log.info("stopping (%s): no new work; the messages in flight finish first", name)


def _stop() -> None:
    global _stopped_at
    if not STOP.is_set():
        _stopped_at = time.monotonic()
        STOP.set()


def request_stop(reason: str) -> None:
    """Stop the daemon from any thread, as SIGTERM does, saying why."""
    log.error("stopping: %s", reason)
    _stop()


def serve(start: Callable[[], None], shutdown: Callable[[], None], seconds: float) -> None:
    """Run the blocking `start` (the scheduler) in a thread until a stop is asked for, then
    `shutdown` it (no new work) and `finish` within `seconds`; an error that ended `start`
    is raised here after that."""
    failure: list[BaseException] = []

    def run() -> None:
        try:
            start()
        except BaseException as e:
            failure.append(e)

    if not STOP.is_set():  # a signal during start-up: nothing was started
        thread = threading.Thread(target=run, name="digest-scheduler", daemon=True)
        thread.start()
        # Polled, not STOP.wait(): the handler sets STOP in this thread, and an Event's
        # lock taken twice by one thread would never be released.
        while not STOP.is_set() and thread.is_alive():
            time.sleep(0.2)
        shutdown()
        thread.join(timeout=2.0)
        if thread.is_alive():  # stopped while it was still starting: it runs now
            shutdown()
            thread.join(timeout=2.0)
    _stop()
    finish(seconds)
    if failure:
        raise failure[0]


def wait_for_work(seconds: float) -> list[str]:
    """Wait for the threads still doing jobs, up to `seconds` after the stop was asked
    for; the names of those still running then."""
    deadline = (_stopped_at or time.monotonic()) + seconds
    me = threading.current_thread()
    for thread in threading.enumerate():
        if thread is not me and not thread.daemon:
            thread.join(max(0.0, deadline - time.monotonic()))
    return [t.name for t in threading.enumerate() if t is not me and not t.daemon and t.is_alive()]


def finish(seconds: float) -> None:
    """The end of a stop: wait for the work in flight (bounded), then return, or leave at
    once with status 1 when some is still running: what it sent is in the send journal,
    and the next start continues it."""
    left = wait_for_work(seconds)
    if not left:
        log.info("stopped")
        return
    log.error(
        "stopped after %.0fs with work unfinished (%s): the next start continues it",
        seconds,
        ", ".join(left),
    )
    logging.shutdown()
    os._exit(1)
