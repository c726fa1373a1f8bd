"""Parsing fetched feeds with feedparser into normalized entries."""

from __future__ import annotations

import calendar
import re
import time
from datetime import UTC, datetime
from typing import Any

import feedparser

from digest.collect import dates
from digest.collect.clean import (
    MAX_LOCATION,
    MAX_TITLE,
    clean_guid,
    clean_link,
    end_of_day,
    one_line,
)
from digest.collect.sniff import (
    MAX_ENTITY_EXPANSION,
    advertised_feed,
    entity_expansion,
    looks_like_html,
)
from digest.errors import CollectError
from digest.model import Entry, Fetched, ItemKind, ParseOptions
from digest.text import cut_at_word, parse_datetime, plain_text, sanitize_summary

# How expat places its errors: "<unknown>:6:0: no element found".
_SAX_PLACE = re.compile(r"^<unknown>:(\d+):(\d+): ")
# An untitled story is named by the start of its text.
UNTITLED_CHARS = 100


def parse_feed(fetched: Fetched, options: ParseOptions) -> list[Entry]:
    """Entries of an RSS or Atom feed; CollectError when the body is not a feed at all."""
    expansion = entity_expansion(fetched.body)
    if expansion > MAX_ENTITY_EXPANSION:
        raise CollectError(
            f"not accepted: the DOCTYPE's entities would expand to {expansion} bytes "
            f"(at most {MAX_ENTITY_EXPANSION})"
        )
    headers = {"content-location": fetched.url}
    if fetched.content_type:
        headers["content-type"] = fetched.content_type
    try:
        parsed = feedparser.parse(fetched.body, response_headers=headers, sanitize_html=True)
    except Exception as e:
        # feedparser trips over some ill-formed input itself: a stray </width> or
        # </media:player> (TypeError, KeyError), bytes that are not UTF-8 in the XML
        # declaration's encoding name (UnicodeDecodeError), a NUL in it (ValueError).
        raise CollectError(
            one_line(f"not a feed: feedparser failed on it: {e.__class__.__name__}: {e}")
        ) from e
    if not parsed.entries and not parsed.get("version"):
        raise CollectError(_not_a_feed(fetched, parsed.get("bozo_exception")))
    return [_entry(raw, fetched.url, options) for raw in parsed.entries]


def _not_a_feed(fetched: Fetched, reason: object) -> str:
    if not fetched.body.strip():
        return "not a feed: the body is empty"
    if looks_like_html(fetched):
        feed = advertised_feed(fetched)
        return one_line(
            "not a feed: an HTML page" + (f"; it names a feed at {feed}" if feed else "")
        )
    if reason is None:
        return "not a feed"
    where = _SAX_PLACE.sub(r"line \1, column \2: ", str(reason))
    return one_line(f"not a feed: {where}")


def _when(struct: time.struct_time | None) -> datetime | None:
    if struct is None:
        return None
    try:
        return datetime.fromtimestamp(calendar.timegm(struct), UTC)
    except (OverflowError, ValueError):
        return None


def _field(raw: Any, suffix: str) -> str | None:
    """A namespaced extension value such as ev:startdate, whatever prefix the feed used."""
    for key, value in raw.items():
        if (key == suffix or key.endswith("_" + suffix)) and isinstance(value, str) and value:
            return value.strip()
    return None


def _entry(raw: Any, base: str, options: ParseOptions) -> Entry:
    body = raw.get("summary") or ""
    if not body and raw.get("content"):
        body = raw["content"][0].get("value", "")
    return entry_from_text(
        options,
        title=raw.get("title", ""),
        link=clean_link(raw.get("link") or "", base),
        body=body,
        guid=raw.get("id") or None,
        published_at=_when(raw.get("published_parsed") or raw.get("updated_parsed")),
        start=_field(raw, "startdate") or _field(raw, "dtstart"),
        end=_field(raw, "enddate") or _field(raw, "dtend"),
        location=_field(raw, "location"),
        deadline=_field(raw, "deadline"),
    )


def entry_from_text(
    options: ParseOptions,
    *,
    title: str,
    link: str,
    body: str,
    guid: str | None = None,
    published_at: datetime | None = None,
    start: str | None = None,
    end: str | None = None,
    location: str | None = None,
    deadline: str | None = None,
) -> Entry:
    """An entry from one story's fields as text: dates read from the structured values when
    there are any, else from the title and summary; a missing date is flagged, never made up.
    JSON feeds and editors' entries come through here too."""
    kind = options.kind.item_kind
    text = f"{title}\n{plain_text(body)}"
    dayfirst, tz, now = options.dayfirst, options.timezone, options.now
    starts = ends = deadline_at = None
    review = None
    if kind is ItemKind.EVENT:
        found = (
            _structured(start, dayfirst=dayfirst, tz=tz, now=now)
            if start
            else dates.find_date(text, dayfirst=dayfirst, tz=tz, now=now)
        )
        starts = found.start if found else None
        ends = parse_datetime(end, dayfirst=dayfirst, tz=tz) if end else None
        if ends is None and found is not None:
            ends = found.end  # "12–14 March 2027" ends on the 14th
        if starts is None:
            review = "no start date found"
    elif kind is ItemKind.CALL:
        deadline_at = find_deadline(deadline, text, dayfirst=dayfirst, tz=tz, now=now)
        if deadline_at is None:
            # The words that were not read, so the editor can read them ("before mid-May").
            phrase = dates.deadline_phrase(text)
            review = f"no deadline found: “{phrase}”" if phrase else "no deadline found"
    return Entry(
        kind=kind,
        title=_title(title, body),
        link=clean_link(link),
        summary=sanitize_summary(body, options.summary_chars),
        guid=clean_guid(guid),
        published_at=published_at,
        event_start=starts,
        event_end=ends,
        location=(cut_at_word(plain_text(location or ""), MAX_LOCATION) or None)
        if kind is ItemKind.EVENT
        else None,
        deadline=deadline_at,
        needs_review=review,
    )


def _title(title: str, body: str) -> str:
    """The story's title as plain text; an untitled one (RSS allows that) is named by the
    start of its text."""
    text = plain_text(title)
    if text:
        return cut_at_word(text, MAX_TITLE)
    return cut_at_word(plain_text(body), UNTITLED_CHARS) or "(untitled)"


def _structured(
    value: str, *, dayfirst: bool, tz: str, now: datetime | None
) -> dates.FoundDate | None:
    """A structured date field: ISO 8601 and what dateutil reads, else prose ("15 janvier")."""
    when = parse_datetime(value, dayfirst=dayfirst, tz=tz)
    if when is not None:
        return dates.FoundDate(start=when, has_time=":" in value, phrase=value)
    return dates.find_date(value, dayfirst=dayfirst, tz=tz, now=now)


def find_date(
    text: str, *, dayfirst: bool = True, tz: str = "UTC", now: datetime | None = None
) -> datetime | None:
    """The first date written in `text` (an event's title or summary), or None."""
    found = dates.find_date(text, dayfirst=dayfirst, tz=tz, now=now)
    return found.start if found else None


def find_deadline(
    structured: str | None,
    text: str,
    *,
    dayfirst: bool = True,
    tz: str = "UTC",
    now: datetime | None = None,
) -> datetime | None:
    """A call's deadline: a structured field if present, else a deadline phrase in the text
    ("Deadline: 22/10/2017", "before 15 January 2027"; see digest.collect.dates)."""
    found = _structured(structured, dayfirst=dayfirst, tz=tz, now=now) if structured else None
    if found is None:
        found = dates.find_deadline(text, dayfirst=dayfirst, tz=tz, now=now)
    if found is None:
        return None
    # A bare date means the call is open until the end of that day.
    return found.start if found.has_time else end_of_day(found.start, tz)
