"""iCalendar (.ics) sources: every VEVENT in the look-ahead window, recurrences expanded."""

from __future__ import annotations

import html
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import icalendar
import recurring_ical_events

from digest.collect.clean import plain_text, sanitize_summary
from digest.errors import CollectError
from digest.model import Entry, Fetched, ItemKind, ParseOptions

# A calendar whose rules would produce more occurrences than this in the window is cut.
MAX_OCCURRENCES = 500


def looks_like_calendar(fetched: Fetched) -> bool:
    kind = fetched.content_type.split(";")[0].strip().lower()
    head = fetched.body[:64].lstrip(b"\xef\xbb\xbf \t\r\n").upper()
    return kind == "text/calendar" or head.startswith(b"BEGIN:VCALENDAR")


def parse_calendar(fetched: Fetched, options: ParseOptions) -> list[Entry]:
    """Events starting between now and now + lookahead, one entry per occurrence."""
    try:
        calendar = icalendar.Calendar.from_ical(fetched.body)
    except (ValueError, IndexError, KeyError, TypeError) as e:
        raise CollectError(f"not a valid calendar: {e}".splitlines()[0]) from e
    now = options.now or datetime.now(ZoneInfo("UTC"))
    window_end = now + timedelta(days=options.lookahead_days)
    try:
        occurrences = recurring_ical_events.of(calendar, components=["VEVENT"]).between(
            now, window_end
        )
        events = []
        for event in occurrences:
            events.append(event)
            if len(events) >= MAX_OCCURRENCES:
                break
    except Exception as e:  # the library raises many kinds on broken rules and zones
        raise CollectError(f"calendar cannot be expanded: {e.__class__.__name__}: {e}") from e
    tz = ZoneInfo(options.timezone)
    return [_entry(event, tz, options.summary_chars) for event in events]


def _moment(value: Any, tz: ZoneInfo) -> datetime | None:
    """An aware UTC datetime from a DTSTART/DTEND value (all-day dates start at midnight)."""
    if isinstance(value, datetime):
        aware = value if value.tzinfo else value.replace(tzinfo=tz)
        return aware.astimezone(ZoneInfo("UTC"))
    if isinstance(value, date):
        return datetime.combine(value, time(0, 0), tzinfo=tz).astimezone(ZoneInfo("UTC"))
    return None


def _text(event: Any, name: str) -> str:
    value = event.get(name)
    return str(value) if value is not None else ""


def _entry(event: Any, tz: ZoneInfo, summary_chars: int) -> Entry:
    start_prop, end_prop = event.get("DTSTART"), event.get("DTEND")
    start = _moment(start_prop.dt, tz) if start_prop is not None else None
    end = _moment(end_prop.dt, tz) if end_prop is not None else None
    if end is not None and isinstance(end_prop.dt, date) and not isinstance(end_prop.dt, datetime):
        end -= timedelta(seconds=1)  # DTEND of an all-day event is exclusive
    uid = _text(event, "UID")
    # Each occurrence of a recurring event is its own item.
    recurring = event.get("RRULE") is not None or event.get("RECURRENCE-ID") is not None
    guid = f"{uid}#{start.isoformat()}" if uid and recurring and start else uid or None
    description = _text(event, "DESCRIPTION")
    paragraphs = "".join(
        f"<p>{html.escape(part.strip())}</p>" for part in description.split("\n\n") if part.strip()
    )
    return Entry(
        kind=ItemKind.EVENT,
        title=plain_text(_text(event, "SUMMARY")) or "(untitled event)",
        link=_text(event, "URL").strip(),
        summary=sanitize_summary(paragraphs, summary_chars),
        guid=guid,
        published_at=_moment(event["DTSTAMP"].dt, tz) if event.get("DTSTAMP") else None,
        event_start=start,
        event_end=end,
        location=plain_text(_text(event, "LOCATION")) or None,
        needs_review=None if start else "no start date found",
    )
