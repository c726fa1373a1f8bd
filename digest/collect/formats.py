"""Which parser reads a fetched body: iCalendar, JSON Feed, or RSS/Atom (feedparser)."""

from __future__ import annotations

from digest.collect.ical import looks_like_calendar, parse_calendar
from digest.collect.jsonfeed import looks_like_json_feed, parse_json_feed
from digest.collect.parse import parse_feed
from digest.collect.sniff import as_utf8
from digest.model import Entry, Fetched, ParseOptions


def parse_body(fetched: Fetched, options: ParseOptions) -> list[Entry]:
    """The entries of one fetched source, whatever its format."""
    # UTF-16 and UTF-32 bodies become UTF-8 first: feedparser misreads them without a byte
    # order mark, and the calendar and JSON readers expect UTF-8.
    fetched = as_utf8(fetched)
    if looks_like_calendar(fetched):
        return parse_calendar(fetched, options)
    if looks_like_json_feed(fetched):
        return parse_json_feed(fetched, options)
    return parse_feed(fetched, options)
