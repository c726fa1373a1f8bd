"""Recurrence rules checked before they are expanded, since expanding cannot be stopped.

dateutil walks a rule from its DTSTART, one period after another, whatever window is asked
for: FREQ=SECONDLY for 90 days is 7.8 million occurrences (a minute and gigabytes), and
FREQ=HOURLY since 1900 is a million steps before the window even starts. A rule that no
day matches makes it search until the year 9999, and INTERVAL=0 makes it loop for ever.
"""

from __future__ import annotations

import calendar
import math
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from digest.errors import CollectError

# Steps of rule expansion one calendar may cost: about a second of dateutil's time.
MAX_RULE_STEPS = 300_000

_UTC = ZoneInfo("UTC")
_SECONDS = {
    "SECONDLY": 1,
    "MINUTELY": 60,
    "HOURLY": 3_600,
    "DAILY": 86_400,
    "WEEKLY": 604_800,
    "MONTHLY": 2_629_746,
    "YEARLY": 31_556_952,
}
# Each BY part: the length of one of its values, and how many values there are before they
# repeat (24 hours make a day). Listed from the coarsest to the finest.
_PARTS = (
    ("BYMONTH", 2_629_746, 12),
    ("BYWEEKNO", 604_800, 53),
    ("BYYEARDAY", 86_400, 366),
    ("BYMONTHDAY", 86_400, 31),
    ("BYDAY", 86_400, 7),
    ("BYHOUR", 3_600, 24),
    ("BYMINUTE", 60, 60),
    ("BYSECOND", 1, 60),
)


def check_rules(vcalendar: Any, stop: datetime, tz: ZoneInfo) -> None:
    """Make the calendar's rules safe to expand up to `stop`, or raise CollectError.

    A rule no day can ever match (BYMONTH=2;BYMONTHDAY=30) is dropped, leaving its event a
    single one at DTSTART, which is all it would give: dateutil would search for a match
    until the year 9999, seconds for each such rule. A rule with INTERVAL below 1 never
    ends at all, and rules that would take more than MAX_RULE_STEPS steps are refused.
    """
    total = 0
    for event in vcalendar.walk("VEVENT"):
        try:
            rules = _as_list(event.get("RRULE") or [])
            start = _utc(event["DTSTART"].dt, tz)
            intervals = [int(_first(rule, "INTERVAL", 1)) for rule in rules]
            possible = [rule for rule in rules if not never_matches(rule)]
            steps = sum(_rule_steps(rule, start, stop, tz) for rule in possible)
        except Exception:  # noqa: S112 - broken; expanding reports it, or leaves it out
            continue
        uid = str(event.get("UID") or event.get("SUMMARY") or "?")[:80]
        if any(interval < 1 for interval in intervals):
            raise CollectError(f"calendar cannot be expanded: event {uid!r} has INTERVAL < 1")
        if len(possible) < len(rules):
            del event["RRULE"]
            if possible:
                event.add("RRULE", possible[0])
                for rule in possible[1:]:
                    event.add("RRULE", rule)
        total += steps
        if total > MAX_RULE_STEPS:
            raise CollectError(
                f"calendar cannot be expanded: the rule of event {uid!r} repeats about "
                f"{steps} times up to the end of the window (at most {MAX_RULE_STEPS} in all)"
            )


def never_matches(rule: Any) -> bool:
    """True when no day of any year passes the rule's BYMONTH, BYMONTHDAY and BYYEARDAY
    (checked on a common and a leap year); False when it has no such parts."""
    months = {int(str(m)) for m in _as_list(rule.get("BYMONTH") or [])}
    monthdays = {int(d) for d in _as_list(rule.get("BYMONTHDAY") or [])}
    yeardays = {int(d) for d in _as_list(rule.get("BYYEARDAY") or [])}
    if not monthdays and not yeardays:
        return False
    for year in (2023, 2024):
        first = date(year, 1, 1)
        length = 366 if calendar.isleap(year) else 365
        for number in range(1, length + 1):
            day = first + timedelta(days=number - 1)
            month_length = calendar.monthrange(year, day.month)[1]
            if months and day.month not in months:
                continue
            if monthdays and not {day.day, day.day - month_length - 1} & monthdays:
                continue
            if yeardays and not {number, number - length - 1} & yeardays:
                continue
            return False
    return True


def _rule_steps(rule: Any, start: datetime, stop: datetime, tz: ZoneInfo) -> int:
    freq = str(_first(rule, "FREQ", "")).upper()
    period = _SECONDS.get(freq)
    if period is None:
        return 0
    until = _first(rule, "UNTIL", None)
    end = min(stop, _utc(until, tz)) if until is not None else stop
    if end <= start:
        return 1
    interval = max(1, int(_first(rule, "INTERVAL", 1)))
    periods = (end - start).total_seconds() / (period * interval) + 1
    # A part finer than FREQ picks several values in each period: BYHOUR=9,17 in a monthly
    # rule is two hours on each of 30 days. Parts of the same size (BYMONTHDAY and BYDAY)
    # filter each other, so only the first counts.
    per_period, unit = 1.0, float(period)
    for part, size, repeat in _PARTS:
        values = rule.get(part)
        if values and size < unit:
            per_period *= len(_as_list(values)) * max(1.0, unit / (size * repeat))
            unit = size
    count = _first(rule, "COUNT", None)
    if count is not None:
        periods = min(periods, int(count))
    return math.ceil(periods * per_period)


def _first(rule: Any, key: str, default: Any) -> Any:
    values = rule.get(key)
    if not values:
        return default
    return values[0] if isinstance(values, list) else values


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _utc(value: Any, tz: ZoneInfo) -> datetime:
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=tz)).astimezone(_UTC)
    if isinstance(value, date):
        return datetime.combine(value, time(0, 0), tzinfo=tz).astimezone(_UTC)
    raise TypeError(f"not a date: {value!r}")
