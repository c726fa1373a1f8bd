"""The tests' time: a fixed date, never today's, so the suite passes whatever the wall clock
says (it is run once with the clock moved a year ahead to prove it)."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

# A Monday morning; every test that needs "now" starts here unless it says otherwise.
NOW = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)


class Clock:
    """Time under the test's control: `clock()` reads it, `advance()` moves it."""

    def __init__(self, start: datetime = NOW) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


def fixed() -> datetime:
    """The fixed clock, for commands run in-process (CliRunner's `obj=`, `main(clock=)`)."""
    return NOW


def fixed_time_env(start: datetime = NOW) -> dict[str, str]:
    """The environment for a real process whose clock starts at `start`: a process cannot be
    handed a clock object, so Debian's libfaketime (installed by tests/run.sh) sets it."""
    libraries = sorted(Path("/usr/lib").glob("*/faketime/libfaketimeMT.so.1"))
    assert libraries, "libfaketime is missing: apt-get install faketime (tests/run.sh does)"
    return {
        **os.environ,
        "LD_PRELOAD": str(libraries[0]),
        "FAKETIME": start.astimezone(UTC).strftime("@%Y-%m-%d %H:%M:%S"),
        "TZ": "UTC",
    }
