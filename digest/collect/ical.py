"""iCalendar (.ics) sources: every VEVENT in the look-ahead window, recurrences expanded."""

from __future__ import annotations

import html
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import icalendar
import recurring_ical_events

from digest.collect.clean import MAX_LOCATION, MAX_TITLE, clean_guid, clean_link, one_line
from digest.collect.rrules import check_rules
from digest.errors import CollectError
from digest.model import Entry, Fetched, ItemKind, ParseOptions
from digest.text import cut_at_word, plain_text, sanitize_summary

# A calendar whose rules would produce more occurrences than this in the window is cut.
MAX_OCCURRENCES = 500


def looks_like_calendar(fetched: Fetched) -> bool:
    """Served as text/calendar, or starting with an iCalendar BEGIN: line (BEGIN:VCALENDAR,
    or the bare BEGIN:VEVENT of an event exported on its own)."""
    kind = fetched.content_type.split(";")[0].strip().lower()
    head = fetched.body[:64].lstrip(b"\xef\xbb\xbf \t\r\n").upper()
    return kind == "text/calendar" or head.startswith(b"BEGIN:")


def parse_calendar(fetched: Fetched, options: ParseOptions) -> list[Entry]:
    """Events starting between now and now + lookahead, one entry per occurrence."""
    calendars = _calendars(fetched.body)
    now = options.now or datetime.now(ZoneInfo("UTC"))
    stop = now + timedelta(days=options.lookahead_days)
    tz = ZoneInfo(options.timezone)
    events: list[Any] = []
    recurring: set[str] = set()
    for calendar in calendars:
        check_rules(calendar, stop, tz)
        events += _occurrences(calendar, now, stop, tz)[: MAX_OCCURRENCES - len(events)]
        recurring |= _recurring_uids(calendar)
    return [_entry(event, tz, options.summary_chars, recurring) for event in events]


def _calendars(body: bytes) -> list[Any]:
    """The VCALENDARs of a body (some exports hold several; events exported on their own,
    without one, are put in one); CollectError if it has neither."""
    try:
        components = icalendar.Calendar.from_ical(body, multiple=True)
    except Exception as e:  # fuzzed input makes icalendar raise many kinds, not only ValueError
        raise CollectError(one_line(f"not a valid calendar: {e}")) from e
    calendars: list[Any] = [c for c in components if c.name == "VCALENDAR"]
    loose: list[Any] = [c for c in components if c.name == "VEVENT"]
    if loose:
        wrapper = icalendar.Calendar()
        wrapper.subcomponents = loose
        calendars.append(wrapper)
    if not calendars:
        found = ", ".join(sorted({c.name for c in components})) or "no component"
        raise CollectError(
            one_line(f"not a valid calendar: no complete VCALENDAR or VEVENT ({found})")
        )
    return calendars


def _occurrences(calendar: Any, start: datetime, stop: datetime, tz: ZoneInfo) -> list[Any]:
    """The occurrences that start in [start, stop], at most MAX_OCCURRENCES of them.

    A series' `between()` builds all its occurrences from DTSTART on at once, so the rules
    are checked first (digest.collect.rrules): a FREQ=SECONDLY rule has millions in the
    window. Events already under way are left out. A series that cannot be expanded (no
    DTSTART, a broken rule or zone) is left out too, unless no series can be: then the
    calendar is an error.
    """
    found: list[Any] = []
    series_list, error = _series(calendar)
    expanded = 0
    for series in series_list:
        try:
            for occurrence in series.between(start, stop):
                event = occurrence.as_component(False)
                begins = _moment(event["DTSTART"].dt, tz) if event.get("DTSTART") else None
                if begins is not None and begins < start:
                    continue
                found.append(event)
                if len(found) >= MAX_OCCURRENCES:
                    return found
            expanded += 1
        except Exception as e:  # the library raises many kinds on broken rules and zones
            error = error or e
    if error is not None and not expanded:
        raise CollectError(
            one_line(f"calendar cannot be expanded: {error.__class__.__name__}: {error}")
        ) from error
    return found


def _series(calendar: Any) -> tuple[list[Any], Exception | None]:
    """The event series of a calendar and the first error met collecting them. When the
    whole calendar fails, each event (with its edited occurrences) is tried on its own, in a
    calendar with the same properties and time zones, so one broken event costs only itself."""
    try:
        return list(recurring_ical_events.of(calendar, components=["VEVENT"]).series), None
    except Exception as e:  # the library raises many kinds on broken rules and zones
        error: Exception = e
    by_uid: dict[str, list[Any]] = {}
    for event in calendar.walk("VEVENT"):
        by_uid.setdefault(str(event.get("UID", id(event))), []).append(event)
    zones = [c for c in calendar.subcomponents if c.name == "VTIMEZONE"]
    series: list[Any] = []
    for events in by_uid.values():
        alone = icalendar.Calendar()
        alone.update(calendar)
        alone.subcomponents = [*zones, *events]
        try:
            series += recurring_ical_events.of(alone, components=["VEVENT"]).series
        except Exception:  # noqa: S112 - this event is broken; the first error is kept
            continue
    return series, error


def _recurring_uids(calendar: Any) -> set[str]:
    """UIDs of events that repeat (a rule, extra dates, or edited occurrences).

    Told from the calendar itself: the expanded occurrences all carry a RECURRENCE-ID.
    """
    return {
        str(event["UID"])
        for event in calendar.walk("VEVENT")
        if event.get("UID") is not None
        and any(event.get(name) is not None for name in ("RRULE", "RDATE", "RECURRENCE-ID"))
    }


def _moment(value: Any, tz: ZoneInfo) -> datetime | None:
    """An aware UTC datetime from a DTSTART/DTEND value (all-day dates start at midnight);
    None for anything else, or a moment past the calendar's ends (year 1 east of UTC)."""
    try:
        if isinstance(value, datetime):
            aware = value if value.tzinfo else value.replace(tzinfo=tz)
            return aware.astimezone(ZoneInfo("UTC"))
        if isinstance(value, date):
            return datetime.combine(value, time(0, 0), tzinfo=tz).astimezone(ZoneInfo("UTC"))
    except (OverflowError, ValueError):
        return None
    return None


def _value(event: Any, name: str) -> Any:
    """The date or time of a property, None when it is missing or broken."""
    prop = event.get(name)
    try:
        return prop.dt if prop is not None else None
    except Exception:  # icalendar's BrokenCalendarProperty, among others
        return None


def _text(event: Any, name: str) -> str:
    value = event.get(name)
    return str(value) if value is not None else ""


def _entry(event: Any, tz: ZoneInfo, summary_chars: int, recurring: set[str]) -> Entry:
    start_value, end_value = _value(event, "DTSTART"), _value(event, "DTEND")
    start, end = _moment(start_value, tz), _moment(end_value, tz)
    if end is not None and isinstance(end_value, date) and not isinstance(end_value, datetime):
        end -= timedelta(seconds=1)  # DTEND of an all-day event is exclusive
    uid = _text(event, "UID")
    guid = uid or None
    if uid in recurring:
        # Each occurrence of a recurring event is its own item, named by the slot it was
        # planned in (its RECURRENCE-ID), so a moved or edited occurrence updates that item.
        slot = _moment(_value(event, "RECURRENCE-ID"), tz) or start
        guid = f"{uid}#{slot.isoformat()}" if slot else uid
    description = _text(event, "DESCRIPTION")
    paragraphs = "".join(
        f"<p>{html.escape(part.strip())}</p>" for part in description.split("\n\n") if part.strip()
    )
    return Entry(
        kind=ItemKind.EVENT,
        title=cut_at_word(plain_text(_text(event, "SUMMARY")), MAX_TITLE) or "(untitled event)",
        link=clean_link(_text(event, "URL")),
        summary=sanitize_summary(paragraphs, summary_chars),
        guid=clean_guid(guid),
        published_at=_moment(_value(event, "DTSTAMP"), tz),
        event_start=start,
        event_end=end,
        location=cut_at_word(plain_text(_text(event, "LOCATION")), MAX_LOCATION) or None,
        needs_review=None if start else "no start date found",
    )
