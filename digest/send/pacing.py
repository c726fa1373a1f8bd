"""Pacing: at most N messages per second across all connections."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class Pacer:
    """Hands out send slots `1/rate` seconds apart; a rate of 0 means no limit."""

    def __init__(
        self,
        rate_per_second: float,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._interval = 1.0 / rate_per_second if rate_per_second > 0 else 0.0
        self._next = 0.0
        self._lock = threading.Lock()
        self._monotonic, self._sleep = monotonic, sleep

    def wait(self) -> None:
        if not self._interval:
            return
        with self._lock:
            now = self._monotonic()
            slot = max(self._next, now)
            self._next = slot + self._interval
        if slot > now:
            self._sleep(slot - now)
