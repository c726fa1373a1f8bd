"""The bounce policy: what a bounce history means for a subscriber's status, as a table of
cases over values with a fixed clock; and when an issue's rates deserve a warning."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from digest.bounces.policy import PastBounce, decide, rate_warnings, soft_count
from digest.model import BounceKind
from digest.settings import BounceSettings
from subscribers.status import Event
from tests.support.clock import NOW

RULES = BounceSettings()  # 3 soft bounces on distinct issues within 30 days


def ago(days: float) -> datetime:
    return NOW - timedelta(days=days)


def soft(days: float, issue: int | None) -> PastBounce:
    return PastBounce(at=ago(days), issue_id=issue)


# (kind, soft history including this bounce, last delivery that went through) -> event
CASES: list[tuple[str, BounceKind, list[PastBounce], datetime | None, Event | None]] = [
    ("hard stops at once", BounceKind.HARD, [], None, Event.HARD_BOUNCE),
    ("hard after a delivery", BounceKind.HARD, [], ago(1), Event.HARD_BOUNCE),
    ("complaint stops at once", BounceKind.COMPLAINT, [], None, Event.COMPLAINT),
    ("not a bounce", BounceKind.NOT_BOUNCE, [], None, None),
    ("one soft", BounceKind.SOFT, [soft(0, 1)], None, None),
    ("two soft", BounceKind.SOFT, [soft(14, 1), soft(0, 2)], None, None),
    ("three soft, distinct issues", BounceKind.SOFT, [soft(14, 1), soft(7, 2), soft(0, 3)],
     None, Event.SOFT_LIMIT),
    ("three soft, one issue twice", BounceKind.SOFT, [soft(7, 1), soft(6, 1), soft(0, 2)],
     None, None),
    ("three soft, one out of the window", BounceKind.SOFT,
     [soft(31, 1), soft(7, 2), soft(0, 3)], None, None),
    ("three soft, first on the window's edge", BounceKind.SOFT,
     [soft(30, 1), soft(7, 2), soft(0, 3)], None, Event.SOFT_LIMIT),
    ("a delivery in between resets", BounceKind.SOFT, [soft(14, 1), soft(7, 2), soft(0, 4)],
     ago(3), None),
    ("a delivery before them all", BounceKind.SOFT, [soft(14, 2), soft(7, 3), soft(0, 4)],
     ago(20), Event.SOFT_LIMIT),
    ("issue unknown counts on its own", BounceKind.SOFT,
     [soft(14, None), soft(7, None), soft(0, 3)], None, Event.SOFT_LIMIT),
    ("four soft", BounceKind.SOFT, [soft(21, 1), soft(14, 2), soft(7, 3), soft(0, 4)], None,
     Event.SOFT_LIMIT),
]  # fmt: skip


@pytest.mark.parametrize(
    ("kind", "history", "delivered", "expected"),
    [pytest.param(*case[1:], id=case[0]) for case in CASES],
)
def test_decide(
    kind: BounceKind, history: list[PastBounce], delivered: datetime | None, expected: Event | None
) -> None:
    decision = decide(kind, soft_history=history, last_delivered=delivered, now=NOW, rules=RULES)
    assert decision.event == expected
    assert decision.reason


def test_the_limit_and_window_are_settings() -> None:
    strict = BounceSettings(soft_limit=2, soft_window_days=7)
    history = [soft(6, 1), soft(0, 2)]
    assert decide(BounceKind.SOFT, soft_history=history, now=NOW, rules=strict).event is (
        Event.SOFT_LIMIT
    )
    late = decide(BounceKind.SOFT, soft_history=[soft(8, 1), soft(0, 2)], now=NOW, rules=strict)
    assert late.event is None
    assert soft_count([soft(8, 1), soft(0, 2)], last_delivered=None, now=NOW, rules=strict) == 1


def test_reasons_say_why_in_words() -> None:
    one = decide(BounceKind.SOFT, soft_history=[soft(0, 1)], now=NOW, rules=RULES, detail="452")
    assert one.reason == "soft bounce 1 of 3 within 30 days: 452"
    three = decide(
        BounceKind.SOFT, soft_history=[soft(2, 1), soft(1, 2), soft(0, 3)], now=NOW, rules=RULES
    )
    assert three.reason == "soft bounces on 3 distinct issues within 30 days (limit 3)"
    hard = decide(BounceKind.HARD, now=NOW, rules=RULES, detail="550 5.1.1 user_unknown")
    assert hard.reason == "hard bounce: 550 5.1.1 user_unknown"


@pytest.mark.parametrize(
    ("hard", "complaints", "warned"),
    [
        (0.0, 0.0, []),
        (0.02, 0.0, []),  # at the hard-bounce limit: not above it
        (0.0201, 0.0, ["hard-bounce rate 2.01 %"]),
        (0.0, 0.0023, []),
        (0.0, 0.0024, ["complaint rate 0.24 %"]),  # 80 % of 0.3 %: near it
        (0.05, 0.004, ["complaint rate 0.40 %", "hard-bounce rate 5.00 %"]),
    ],
)
def test_rate_warnings(hard: float, complaints: float, warned: list[str]) -> None:
    found = rate_warnings(7, hard_rate=hard, complaint_rate=complaints, rules=RULES)
    assert len(found) == len(warned)
    for line, words in zip(found, warned, strict=True):
        assert line.startswith("issue #7: ")
        assert words.replace(" %", "%") in line
