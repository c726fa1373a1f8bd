"""Parsing fetched feeds with feedparser into normalized entries."""

from __future__ import annotations

import calendar
import re
import time
from datetime import UTC, datetime
from typing import Any

import feedparser

from digest.collect.clean import (
    end_of_day,
    parse_datetime,
    plain_text,
    sanitize_summary,
)
from digest.errors import CollectError
from digest.model import Entry, Fetched, ItemKind, SourceKind

# "Deadline: 22/10/2017", "deadline for applications: 13 December 2017", "Deadline - 2027-01-22"
_DEADLINE = re.compile(
    r"deadline[^:\n<]{0,40}?[:\-–]\s*"
    r"(\d{4}-\d{2}-\d{2}(?:[T ][\d:]+(?:Z|[+-]\d{2}:?\d{2})?)?"
    r"|\d{1,2}[./]\d{1,2}[./]\d{2,4}"
    r"|\d{1,2}(?:st|nd|rd|th)?\s+[A-Za-z]{3,9}\.?,?\s+\d{4}"
    r"|[A-Za-z]{3,9}\.?\s+\d{1,2}(?:st|nd|rd|th)?,?\s+\d{4})",
    re.IGNORECASE,
)
_DATE_ONLY = re.compile(r"^[^:]*$")  # no time of day in the matched text


def parse_feed(fetched: Fetched, kind: SourceKind, summary_chars: int) -> list[Entry]:
    """Entries of one feed; raises CollectError when the body is not a feed at all."""
    headers = {"content-location": fetched.url}
    if fetched.content_type:
        headers["content-type"] = fetched.content_type
    parsed = feedparser.parse(fetched.body, response_headers=headers, sanitize_html=True)
    if not parsed.entries and not parsed.get("version"):
        reason = parsed.get("bozo_exception")
        detail = f": {reason}" if reason else ""
        raise CollectError(f"not a feed{detail}".splitlines()[0])
    return [_entry(raw, kind.item_kind, summary_chars) for raw in parsed.entries]


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


def _entry(raw: Any, kind: ItemKind, summary_chars: int) -> Entry:
    title = plain_text(raw.get("title", "")) or "(untitled)"
    body = raw.get("summary") or ""
    if not body and raw.get("content"):
        body = raw["content"][0].get("value", "")
    summary = sanitize_summary(body, summary_chars)
    start = end = deadline = None
    location = None
    review = None
    if kind is ItemKind.EVENT:
        start_text = _field(raw, "startdate") or _field(raw, "dtstart")
        end_text = _field(raw, "enddate") or _field(raw, "dtend")
        start = parse_datetime(start_text) if start_text else None
        end = parse_datetime(end_text) if end_text else None
        location = plain_text(_field(raw, "location") or "") or None
        if start is None:
            review = "no start date found"
    elif kind is ItemKind.CALL:
        deadline = find_deadline(_field(raw, "deadline"), f"{title}\n{plain_text(body)}")
        if deadline is None:
            review = "no deadline found"
    return Entry(
        kind=kind,
        title=title,
        link=(raw.get("link") or "").strip(),
        summary=summary,
        guid=(raw.get("id") or None),
        published_at=_when(raw.get("published_parsed") or raw.get("updated_parsed")),
        event_start=start,
        event_end=end,
        location=location,
        deadline=deadline,
        needs_review=review,
    )


def find_deadline(structured: str | None, text: str) -> datetime | None:
    """A call's deadline: a structured field if present, else "Deadline: <date>" in the text."""
    candidates = [structured] if structured else []
    candidates += [m.group(1) for m in _DEADLINE.finditer(text)]
    for candidate in candidates:
        when = parse_datetime(candidate)
        if when is not None:
            # A bare date means the call is open until the end of that day.
            return end_of_day(when) if _DATE_ONLY.match(candidate) else when
    return None
