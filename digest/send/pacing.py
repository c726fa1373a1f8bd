"""Pacing: send slots that respect a relay's overall rate, hourly quota and per-domain rates."""

from __future__ import annotations

import math
import threading
import time
from array import array
from bisect import bisect_right, insort
from collections import Counter
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, TypeVar

from digest.errors import ConfigError

if TYPE_CHECKING:
    from digest.settings import SmtpSettings

T = TypeVar("T")

HOUR = 3600.0
# Phases of the golden-ratio sequence are spread evenly over [0, 1) however many are taken.
_GOLDEN = (math.sqrt(5.0) - 1.0) / 2.0


def domain_of(address: str) -> str:
    """The normalized domain of an address or a bare domain: after the last '@', lower-case."""
    return address.rpartition("@")[2].strip().rstrip(".").lower()


def parse_domain_rates(entries: Sequence[str]) -> dict[str, float]:
    """Parse "domain=rate" entries into {domain: messages per second}; a later entry wins.

    A rate of 0 means that domain is not limited. Raises ConfigError for a malformed entry.
    """
    if isinstance(entries, str):
        raise TypeError("domain rates are a list of strings, not one string")
    rates: dict[str, float] = {}
    for entry in entries:
        name, equals, value = entry.partition("=")
        domain = domain_of(name)
        try:
            rate = float(value)
        except ValueError:
            rate = math.nan
        # `not rate >= 0` also rejects NaN.
        if not equals or not domain or "@" in name or not rate >= 0:
            raise ConfigError(
                f'domain rate {entry!r} is not "domain=rate" with a rate of 0 or more'
            )
        rates[domain] = rate
    return rates


def _interval(rate: float, what: str) -> float:
    """Seconds between two messages at `rate` per second; 0.0 means no limit."""
    if not rate >= 0:
        raise ValueError(f"{what} must be 0 or more, got {rate}")
    return 1.0 / rate if 0 < rate < math.inf else 0.0


class Pacer:
    """Hands out send slots to worker threads; every limit of 0 means no limit.

    A slot obeys three limits at once:

    - overall: any two slots are at least `1 / rate_per_second` apart;
    - hourly: at most `per_hour` slots in any 3600 s window (a sliding window, as relays
      count their quotas, not a token bucket that would allow a burst after an idle hour);
    - per domain: two slots for one recipient domain are at least `1 / rate` apart, the rate
      being that domain's override or `domain_rate`. The domain "" is never limited.

    A message held back by its domain does not hold back the others: a later caller for
    another domain may take an earlier free slot. Slots are times on the `monotonic` clock
    at which the message may be handed to the relay.
    """

    def __init__(
        self,
        rate_per_second: float = 0.0,
        per_hour: int = 0,
        domain_rate: float = 0.0,
        domain_rates: Sequence[str] = (),
        *,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if per_hour < 0:
            raise ValueError(f"per_hour must be 0 or more, got {per_hour}")
        self._interval = _interval(rate_per_second, "rate_per_second")
        self._domain_interval = _interval(domain_rate, "domain_rate")
        self._domain_intervals = {
            domain: _interval(rate, f"rate of {domain}")
            for domain, rate in parse_domain_rates(domain_rates).items()
        }
        self._per_hour = per_hour
        self._monotonic, self._sleep = monotonic, sleep
        self._lock = threading.Lock()
        # Slots that a new slot could come too close to: sorted, from `now - interval` on.
        self._taken: list[float] = []
        # Earliest next slot per domain; an entry in the past is the same as none.
        self._domain_next: dict[str, float] = {}
        self._prune_at = 1024
        # For the hourly cap: the last `per_hour` slots in the order they were handed out
        # (a ring of 8 bytes a message), and how many were handed out in all.
        self._recent = array("d")
        self._count = 0

    @classmethod
    def from_settings(
        cls,
        smtp: SmtpSettings,
        *,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> Pacer:
        """A pacer with the limits of the [smtp] settings."""
        return cls(
            smtp.rate_per_second,
            smtp.per_hour,
            smtp.domain_rate_per_second,
            smtp.domain_rates,
            monotonic=monotonic,
            sleep=sleep,
        )

    def wait(self, recipient_domain: str = "") -> None:
        """Block the calling thread until a message to this domain (or address) may go."""
        slot, now = self._reserve(recipient_domain)
        if slot > now:
            self._sleep(slot - now)

    def reserve(self, recipient_domain: str = "") -> float:
        """Reserve the next slot for this domain without sleeping; the caller waits for it."""
        return self._reserve(recipient_domain)[0]

    def _reserve(self, recipient_domain: str) -> tuple[float, float]:
        """The slot taken and the time it was taken at."""
        domain = domain_of(recipient_domain)
        domain_interval = (
            self._domain_intervals.get(domain, self._domain_interval) if domain else 0.0
        )
        with self._lock:
            # The clock is read under the lock, so `now` never goes backwards from one
            # reservation to the next and the pruning of old slots stays correct.
            now = self._monotonic()
            earliest = now
            if domain_interval:
                earliest = max(earliest, self._domain_next.get(domain, now))
            if self._per_hour and self._count >= self._per_hour:
                earliest = max(earliest, self._recent[self._count % self._per_hour] + HOUR)
            slot = self._first_free(earliest, now)
            self._take(slot, domain, domain_interval, now)
        return slot, now

    def _first_free(self, earliest: float, now: float) -> float:
        """The first time from `earliest` on that is `interval` away from every taken slot."""
        if not self._interval:
            return earliest
        taken, interval = self._taken, self._interval
        del taken[: bisect_right(taken, now - interval)]
        slot = earliest
        for other in taken[bisect_right(taken, slot - interval) :]:
            if other >= slot + interval:
                break
            if other > slot - interval:
                slot = other + interval
        return slot

    def _take(self, slot: float, domain: str, domain_interval: float, now: float) -> None:
        if self._interval:
            insort(self._taken, slot)
        if domain_interval:
            self._domain_next[domain] = slot + domain_interval
            if len(self._domain_next) > self._prune_at:
                self._domain_next = {d: t for d, t in self._domain_next.items() if t > now}
                self._prune_at = max(1024, 2 * len(self._domain_next))
        if self._per_hour:
            # Each slot is at least an hour after the one handed out per_hour reservations
            # before it, so any hour holds at most one slot of every residue class of the
            # reservation count: at most per_hour in all, even when a later caller took an
            # earlier slot. When slots are handed out in time order this is exactly the
            # sliding window, with no slot later than it must be.
            if self._count < self._per_hour:
                self._recent.append(slot)
            else:
                self._recent[self._count % self._per_hour] = slot
        self._count += 1


def spread_by_domain(recipients: Sequence[T], domain: Callable[[T], str]) -> list[T]:
    """Reorder a batch so that each domain's recipients are spread evenly through it.

    The i-th of a domain's c recipients goes near position (i + phase) / c of the batch, so a
    domain with a share p of the batch has about p * k of any k consecutive recipients. The
    phases differ per domain (largest domains first), which spreads many small domains too.
    Recipients of one domain keep their order; `domain` is called once per recipient, and
    recipients with equal keys are one domain (pass `domain_of(...)` to ignore case).
    """
    keys = [domain(recipient) for recipient in recipients]
    counts = Counter(keys)
    # Sorting is stable: among domains of equal size, the first one seen comes first.
    by_size = sorted(counts, key=lambda key: -counts[key])
    phase = {key: (0.5 + rank * _GOLDEN) % 1.0 for rank, key in enumerate(by_size)}
    seen = dict.fromkeys(counts, 0)
    position: list[float] = []
    for key in keys:
        position.append((seen[key] + phase[key]) / counts[key])
        seen[key] += 1
    order = sorted(range(len(keys)), key=position.__getitem__)
    return [recipients[i] for i in order]
