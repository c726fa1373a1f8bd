"""Parsing in a child process, so that a parser stuck on hostile input is stopped at a
deadline and kept to a memory limit while the run goes on.

feedparser falls back to a lenient parser on ill-formed XML, and that parser is quadratic or
worse on some inputs: one megabyte of `&` takes ten seconds, nine megabytes of unclosed tags
take a minute and a half and two gigabytes. Python cannot interrupt a thread, so the parsing
runs in a worker process that is killed when it overruns.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import resource
import signal
import traceback
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from types import TracebackType
from typing import Any

from digest.collect import internal_error
from digest.collect.formats import parse_body
from digest.errors import CollectError
from digest.model import Entry, Fetched, ParseOptions

# Address space of the parsing process: the interpreter and its libraries take about a
# fifth of it, a 10 MB feed a few hundred megabytes more at most.
PARSE_MEMORY_BYTES = 2_000_000_000
# Importing the parsers in a new process takes a second or two on a slow machine.
START_SECONDS = 60.0
LOG = logging.getLogger(__name__)


class ParseSandbox:
    """One worker process that parses fetched bodies; restarted after a kill."""

    def __init__(self, deadline_seconds: float) -> None:
        self.deadline = deadline_seconds
        self._process: BaseProcess | None = None
        self._conn: Connection | None = None
        self._inline = False

    def __enter__(self) -> ParseSandbox:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.close()

    @property
    def pid(self) -> int | None:
        """The worker's process id while it runs."""
        return self._process.pid if self._process is not None else None

    def parse(self, fetched: Fetched, options: ParseOptions) -> list[Entry]:
        """parse_body(fetched, options), in the worker; CollectError when it fails, overruns
        the deadline or dies. Where no worker can be started (a main module that starts work
        on import, say), parsing runs here, unbounded, as it did before there was a worker."""
        conn = None if self._inline else self._worker()
        if conn is None:
            self._inline = True
            return parse_body(fetched, options)
        conn.send((fetched, options))
        if not conn.poll(self.deadline):
            self._stop()
            raise CollectError(f"parsing took longer than {self.deadline:g}s and was stopped")
        try:
            status, value = conn.recv()
        except (EOFError, OSError):
            code = self._stop()
            raise CollectError(
                f"the parsing process died (exit code {code}), probably out of memory"
            ) from None
        if status == "ok":
            entries: list[Entry] = value
            return entries
        if status == "internal":
            line, trace = value
            LOG.error("%s: internal error while parsing\n%s", fetched.url, trace.rstrip())
            raise CollectError(line)
        raise CollectError(str(value))

    def close(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(OSError):
                self._conn.send(None)
        self._stop(wait=2.0)

    def _worker(self) -> Connection | None:
        if self._conn is not None and self._process is not None and self._process.is_alive():
            return self._conn
        self._stop()
        methods = multiprocessing.get_all_start_methods()
        # forkserver forks from a clean single-threaded process that has the parsers loaded:
        # fast, and safe in a program that runs threads (the scheduler, test servers).
        context = multiprocessing.get_context("forkserver" if "forkserver" in methods else None)
        if "forkserver" in methods:
            context.set_forkserver_preload(["digest.collect.formats"])
        parent, child = context.Pipe()
        process = context.Process(target=_serve, args=(child,), name="digest-parse", daemon=True)
        try:
            process.start()
        except (OSError, RuntimeError):
            return None
        child.close()
        self._process, self._conn = process, parent
        try:
            if parent.poll(START_SECONDS) and parent.recv() == "ready":  # parsers imported
                return parent
        except (EOFError, OSError):
            pass
        self._stop()
        return None

    def _stop(self, wait: float = 0.0) -> int | None:
        process, conn = self._process, self._conn
        self._process = self._conn = None
        if conn is not None:
            conn.close()
        if process is None:
            return None
        if wait:
            process.join(wait)
        if process.is_alive():
            process.kill()
        process.join(5)
        return process.exitcode


def _serve(conn: Connection) -> None:
    """The worker: parse what comes through the pipe until None or the pipe closes."""
    # Ctrl-C is for the parent, which stops this process itself.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    with contextlib.suppress(ValueError, OSError):  # not every platform enforces it
        resource.setrlimit(resource.RLIMIT_AS, (PARSE_MEMORY_BYTES, PARSE_MEMORY_BYTES))
    conn.send("ready")
    while True:
        try:
            job: Any = conn.recv()
        except (EOFError, OSError):
            return
        if job is None:
            return
        try:
            reply: tuple[str, object] = ("ok", parse_body(*job))
        except CollectError as e:
            reply = ("error", str(e))
        except MemoryError:
            reply = ("error", f"parsing needed more than {PARSE_MEMORY_BYTES // 10**6} MB")
        except Exception as e:
            # A bug, not a hostile feed: the parent logs the traceback from here.
            reply = ("internal", (internal_error(e), traceback.format_exc()))
        conn.send(reply)
