"""Pacing: overall rate, hourly cap, per-domain rates and spreading a batch by domain."""

from __future__ import annotations

import random
import sys
import threading
from collections import Counter
from collections.abc import Iterator, Sequence
from itertools import pairwise

import pytest

from digest.errors import ConfigError
from digest.send.pacing import (
    HOUR,
    Pacer,
    domain_of,
    parse_domain_rates,
    spread_by_domain,
)
from digest.settings import SmtpSettings

# Slots are computed as now + (slot - now), which may differ from the slot in the last bit.
EPS = 1e-6
START = 1000.0


class FakeClock:
    """A monotonic clock that moves only when someone sleeps; threads may share it.

    Each thread remembers the time it last read and when its last wait ended, so a thread
    can tell which slot it was given even while other threads move the clock on.
    """

    def __init__(self, start: float = START) -> None:
        self.now = start
        self.sleeps: list[float] = []
        self._lock = threading.Lock()
        self._local = threading.local()

    def monotonic(self) -> float:
        with self._lock:
            self._local.read = self._local.woke = self.now
            return self.now

    def sleep(self, seconds: float) -> None:
        assert seconds > 0
        with self._lock:
            self.sleeps.append(seconds)
            self._local.woke = self._local.read + seconds
            self.now = max(self.now, self._local.woke)

    def advance(self, seconds: float) -> None:
        with self._lock:
            self.now += seconds

    def woke_at(self) -> float:
        """When this thread's last `wait()` let it go."""
        woke: float = self._local.woke
        return woke


def pacer(
    clock: FakeClock,
    rate_per_second: float = 0.0,
    per_hour: int = 0,
    domain_rate: float = 0.0,
    domain_rates: Sequence[str] = (),
) -> Pacer:
    """A Pacer on the fake clock; the other arguments are Pacer's own."""
    return Pacer(
        rate_per_second,
        per_hour,
        domain_rate,
        domain_rates,
        monotonic=clock.monotonic,
        sleep=clock.sleep,
    )


def send(p: Pacer, clock: FakeClock, domain: str = "") -> float:
    """Wait as a worker does and return the time the message went (relative to START)."""
    p.wait(domain)
    return clock.woke_at() - START


def assert_paced(
    sent: Sequence[tuple[float, str]],
    *,
    interval: float = 0.0,
    per_hour: int = 0,
    domain_intervals: dict[str, float] | None = None,
) -> None:
    """Check every limit over (time, domain) pairs, in any order."""
    times = sorted(t for t, _ in sent)
    if interval:
        gaps = [b - a for a, b in pairwise(times)]
        assert min(gaps, default=interval) >= interval - EPS
    if per_hour:
        for first, last in zip(times, times[per_hour:], strict=False):
            assert last - first >= HOUR - EPS
    for domain, gap in (domain_intervals or {}).items():
        mine = sorted(t for t, d in sent if d == domain)
        for a, b in pairwise(mine):
            assert b - a >= gap - EPS


# --- overall rate -----------------------------------------------------------------------


def test_no_limits_never_sleep() -> None:
    clock = FakeClock()
    for p in (pacer(clock), pacer(clock, 0), pacer(clock, 0, 0, 0.0, ["gmail.com=0"])):
        for domain in ("", "gmail.com", "yahoo.com", "gmail.com"):
            p.wait(domain)
        p.wait()
    assert clock.sleeps == []


def test_overall_rate_spaces_messages_evenly() -> None:
    clock = FakeClock()
    p = pacer(clock, 4)
    assert [send(p, clock) for _ in range(5)] == pytest.approx([0, 0.25, 0.5, 0.75, 1.0])


def test_default_constructor_and_wait_without_domain_keep_working() -> None:
    clock = FakeClock()
    p = Pacer(2, monotonic=clock.monotonic, sleep=clock.sleep)
    p.wait()
    p.wait()
    assert clock.sleeps == pytest.approx([0.5])


def test_idle_time_is_not_saved_up_for_a_burst() -> None:
    clock = FakeClock()
    p = pacer(clock, 2)
    send(p, clock)
    clock.advance(60)
    assert send(p, clock) == pytest.approx(60)
    assert send(p, clock) == pytest.approx(60.5)


def test_reserve_returns_the_slot_without_sleeping() -> None:
    clock = FakeClock()
    p = pacer(clock, 10)
    slots = [p.reserve() - START for _ in range(3)]
    assert slots == pytest.approx([0, 0.1, 0.2])
    assert clock.sleeps == []


def test_negative_limits_are_refused() -> None:
    with pytest.raises(ValueError, match="rate_per_second"):
        Pacer(-1)
    with pytest.raises(ValueError, match="per_hour"):
        Pacer(0, per_hour=-1)
    with pytest.raises(ValueError, match="domain_rate"):
        Pacer(0, domain_rate=float("nan"))


# --- hourly cap -------------------------------------------------------------------------


def test_message_after_the_hourly_cap_waits_until_the_first_leaves_the_hour() -> None:
    clock = FakeClock()
    p = pacer(clock, 0, 3)
    assert [send(p, clock) for _ in range(3)] == [0, 0, 0]
    assert send(p, clock) == pytest.approx(HOUR)
    assert [send(p, clock) for _ in range(2)] == pytest.approx([HOUR, HOUR])
    assert send(p, clock) == pytest.approx(2 * HOUR)


def test_hourly_cap_is_a_sliding_window() -> None:
    clock = FakeClock()
    p = pacer(clock, 0, 3)
    sent = []
    for _ in range(3):
        sent.append(send(p, clock))
        clock.advance(1000)
    assert sent == [0, 1000, 2000]
    # Not a fixed clock hour, and not a bucket that refills: each message waits for the
    # one three back to be an hour old.
    assert [send(p, clock) for _ in range(3)] == pytest.approx([HOUR, HOUR + 1000, HOUR + 2000])


def test_an_idle_hour_allows_no_more_than_the_cap_at_once() -> None:
    clock = FakeClock()
    p = pacer(clock, 0, 2)
    send(p, clock)
    clock.advance(5 * HOUR)
    sent = [send(p, clock) for _ in range(3)]
    assert sent == pytest.approx([5 * HOUR, 5 * HOUR, 6 * HOUR])


def test_hourly_cap_with_an_overall_rate() -> None:
    clock = FakeClock()
    p = pacer(clock, 1, 4)
    sent = [send(p, clock) for _ in range(6)]
    assert sent == pytest.approx([0, 1, 2, 3, HOUR, HOUR + 1])


# --- per-domain rates -------------------------------------------------------------------


def test_domain_rate_spaces_one_domain_and_does_not_delay_others() -> None:
    clock = FakeClock()
    p = pacer(clock, 0, 0, 1.0)
    order = ["gmail.com", "gmail.com", "gmail.com", "yahoo.com", "web.de"]
    assert [p.reserve(d) - START for d in order] == [0, 1, 2, 0, 0]


def test_a_later_message_takes_a_free_slot_before_a_domain_held_one() -> None:
    clock = FakeClock()
    p = pacer(clock, 10, 0, 1.0)
    order = ["gmail.com", "gmail.com", "yahoo.com", "yahoo.com", "web.de"]
    slots = [p.reserve(d) - START for d in order]
    # gmail's second message waits a second; yahoo and web.de use the slots in between.
    assert slots == pytest.approx([0, 1.0, 0.1, 1.1, 0.2])
    assert_paced(list(zip(slots, order, strict=True)), interval=0.1)


def test_domains_match_case_insensitively_on_the_part_after_the_at() -> None:
    clock = FakeClock()
    p = pacer(clock, 0, 0, 2.0)
    sent = [send(p, clock, d) for d in ("Ann@GMail.com", "gmail.com", "bob@gmail.COM.")]
    assert sent == pytest.approx([0, 0.5, 1.0])


def test_no_domain_is_never_domain_limited() -> None:
    clock = FakeClock()
    p = pacer(clock, 0, 0, 1.0)
    assert [send(p, clock) for _ in range(3)] == [0, 0, 0]


def test_overrides_replace_the_domain_rate_and_zero_means_no_limit() -> None:
    clock = FakeClock()
    p = pacer(clock, 0, 0, 1.0, ["GMail.com=5", "yahoo.com=0"])
    gmail = [p.reserve("x@gmail.com") - START for _ in range(3)]
    yahoo = [p.reserve("yahoo.com") - START for _ in range(3)]
    other = [p.reserve("web.de") - START for _ in range(3)]
    assert gmail == pytest.approx([0, 0.2, 0.4])
    assert yahoo == [0, 0, 0]
    assert other == pytest.approx([0, 1, 2])


def test_from_settings_uses_every_smtp_limit() -> None:
    clock = FakeClock()
    smtp = SmtpSettings(
        rate_per_second=10,
        per_hour=5,
        domain_rate_per_second=1,
        domain_rates=["yahoo.com=2"],
    )
    p = Pacer.from_settings(smtp, monotonic=clock.monotonic, sleep=clock.sleep)
    slots = [p.reserve(d) - START for d in ("gmail.com", "gmail.com", "yahoo.com", "yahoo.com")]
    assert slots == pytest.approx([0, 1.0, 0.1, 0.6])
    assert p.reserve("web.de") - START == pytest.approx(0.2)
    assert p.reserve("web.org") - START == pytest.approx(HOUR)


# --- invariants under random and concurrent use -----------------------------------------


@pytest.mark.parametrize("seed", range(6))
def test_random_traffic_obeys_every_limit(seed: int) -> None:
    rng = random.Random(seed)
    clock = FakeClock()
    rate = rng.choice([0.0, 5.0, 50.0])
    per_hour = rng.choice([0, 40, 300])
    domain_rate = rng.choice([0.0, 1.0, 3.0])
    p = pacer(clock, rate, per_hour, domain_rate, ["gmail.com=2", "yahoo.com=0"])
    # Enough domains that the pacer forgets old ones on the way.
    domains = ["gmail.com", "yahoo.com", "web.de", *(f"d{i}.org" for i in range(1500))]
    weights = [30, 10, 10, *([0.05] * 1500)]
    sent = []
    for _ in range(3000):
        if rng.random() < 0.1:
            clock.advance(rng.expovariate(1.0))
        domain = rng.choices(domains, weights)[0]
        sent.append((p.reserve(domain) - START, domain))
    intervals = {"gmail.com": 0.5} | (
        {"web.de": 1 / domain_rate, "d7.org": 1 / domain_rate} if domain_rate else {}
    )
    assert_paced(
        sent, interval=1 / rate if rate else 0, per_hour=per_hour, domain_intervals=intervals
    )


@pytest.fixture
def busy_switching() -> Iterator[None]:
    """Switch threads very often, so that races would show."""
    before = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    yield
    sys.setswitchinterval(before)


# A race shows in about half of the rounds when the pacer's lock is taken out.
@pytest.mark.parametrize("round_", range(5))
@pytest.mark.usefixtures("busy_switching")
def test_threads_waiting_at_once_get_slots_within_every_limit(round_: int) -> None:
    clock = FakeClock()
    p = pacer(clock, 20, 150, 2.0, ["gmail.com=5"])
    sent: list[tuple[float, str]] = []
    lock = threading.Lock()
    domains = ["gmail.com", "GMAIL.com", "yahoo.com", "web.de", "example.org"]

    def worker(seed: int) -> None:
        rng = random.Random(seed)
        for _ in range(100):
            domain = rng.choice(domains)
            went = send(p, clock, f"someone@{domain}")
            with lock:
                sent.append((went, domain.lower()))

    threads = [threading.Thread(target=worker, args=(100 * round_ + n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(sent) == 800
    assert_paced(
        sent,
        interval=0.05,
        per_hour=150,
        domain_intervals={"gmail.com": 0.2, "yahoo.com": 0.5, "web.de": 0.5},
    )
    # The cap binds: 800 messages at 150 an hour need a little over five hours.
    assert max(t for t, _ in sent) >= 5 * HOUR


# --- parse_domain_rates and domain_of ---------------------------------------------------


def test_parse_domain_rates() -> None:
    entries = [" GMail.com = 5 ", "yahoo.com=2.5", "web.de=0", "yahoo.com=1"]
    assert parse_domain_rates(entries) == {"gmail.com": 5.0, "yahoo.com": 1.0, "web.de": 0.0}
    assert parse_domain_rates([]) == {}


@pytest.mark.parametrize(
    "entry", ["gmail.com", "=5", "gmail.com=", "gmail.com=fast", "gmail.com=-1", "a@b.com=1"]
)
def test_parse_domain_rates_refuses_malformed_entries(entry: str) -> None:
    with pytest.raises(ConfigError, match="domain=rate"):
        parse_domain_rates([entry])
    with pytest.raises(ConfigError):
        Pacer(0, domain_rates=[entry])


def test_parse_domain_rates_wants_a_list_not_one_string() -> None:
    with pytest.raises(TypeError):
        parse_domain_rates("gmail.com=5")


def test_domain_of() -> None:
    assert domain_of("Ann.Lee@Mail.Example.COM") == "mail.example.com"
    assert domain_of("gmail.com.") == "gmail.com"
    assert domain_of('"a@b"@web.de') == "web.de"
    assert domain_of("") == ""


# --- spread_by_domain -------------------------------------------------------------------


def batch(seed: int, n: int = 5000) -> list[tuple[int, str]]:
    """(id, domain) pairs: one big domain, a middle one and a long tail, shuffled."""
    rng = random.Random(seed)
    big = int(n * rng.uniform(0.2, 0.7))
    domains = ["gmail.com"] * big + ["yahoo.com"] * (n // 10)
    while len(domains) < n:
        domains += [f"d{rng.randrange(10**6)}.org"] * rng.choice([1, 1, 1, 2, 3, 10, 40])
    rng.shuffle(domains)
    return list(enumerate(domains[:n]))


def domain(item: tuple[int, str]) -> str:
    return item[1]


@pytest.mark.parametrize("seed", range(5))
def test_spread_returns_every_recipient_once(seed: int) -> None:
    items = batch(seed)
    spread = spread_by_domain(items, domain)
    assert len(spread) == len(items)
    assert Counter(spread) == Counter(items)


@pytest.mark.parametrize("seed", range(5))
def test_spread_keeps_the_order_within_each_domain(seed: int) -> None:
    items = batch(seed)
    spread = spread_by_domain(items, domain)
    for name in {d for _, d in items}:
        assert [i for i, d in spread if d == name] == [i for i, d in items if d == name]


@pytest.mark.parametrize("seed", range(5))
def test_spread_gives_every_window_about_the_overall_share(seed: int) -> None:
    items = sorted(batch(seed), key=domain)  # the worst input: each domain in one run
    spread = [d for _, d in spread_by_domain(items, domain)]
    for name in ("gmail.com", "yahoo.com"):
        share = spread.count(name) / len(spread)
        before = [0]
        for d in spread:
            before.append(before[-1] + (d == name))
        for k in (20, 100, 1000):
            counts = (before[i + k] - before[i] for i in range(len(spread) - k + 1))
            worst = max(abs(c - share * k) for c in counts)
            assert worst <= 5, (name, k, worst)


def test_spread_interleaves_two_domains_alternately() -> None:
    items = [(i, "gmail.com") for i in range(4)] + [(i, "yahoo.com") for i in range(4, 8)]
    spread = [d for _, d in spread_by_domain(items, domain)]
    assert all(a != b for a, b in pairwise(spread))


def test_spread_of_one_domain_or_nothing_changes_nothing() -> None:
    items = [(i, "gmail.com") for i in range(10)]
    assert spread_by_domain(items, domain) == items
    assert spread_by_domain([], domain) == []


def test_spread_handles_a_large_batch_with_many_small_domains() -> None:
    items = [(i, "gmail.com") for i in range(50_000)] + [(i, f"x{i}.org") for i in range(50_000)]
    spread = spread_by_domain(items, domain)
    assert Counter(spread) == Counter(items)
    # Half the batch is gmail, so no three in a row come from it.
    runs = "".join("g" if d == "gmail.com" else "." for _, d in spread)
    assert "ggg" not in runs
