"""Jinja filters shared by the HTML and text templates: dates, times and summaries."""

from __future__ import annotations

import itertools
import re
import textwrap
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import nh3
from markupsafe import Markup

from digest.colors import readable_on
from digest.model import QueuedItem
from digest.text import (
    SUMMARY_ATTRIBUTES,
    SUMMARY_TAGS,
    URL_SCHEMES,
    markdown_html,
    markdown_text,
    plain_text,
    text_with_links,
)

WEEK = timedelta(days=7)
BLOCK_START = re.compile(r"<(?:p|ul|ol|blockquote)\b", re.IGNORECASE)
# A series with more dates than this that is not weekly shows its next dates and "…".
MAX_LISTED_DATES = 4


def all_day(start: datetime, end: datetime | None) -> bool:
    """An event without a time of day: it starts at local midnight and ends at midnight or
    the second before (iCalendar's all-day DTEND, less a second, as collected)."""
    ends = (end.time() for end in ([end] if end is not None else []))
    return start.time() == time(0) and all(t in (time(0), time(23, 59, 59)) for t in ends)


def make_filters(timezone: str) -> dict[str, object]:
    tz = ZoneInfo(timezone)

    def local(when: datetime) -> datetime:
        return when.astimezone(tz)

    def longdate(when: datetime) -> str:
        day = local(when)
        return f"{day.day} {day:%B %Y}"

    def clock_time(when: datetime) -> str:
        return f"{when:%H:%M}"

    def event_dates(item: QueuedItem) -> str:
        """'15 December 2026, 14:00–15:30' in the newsletter's time zone; all-day events
        only the dates; a recurring event its next date and 'weekly' (or its dates)."""
        if item.event_start is None:
            return "date to be announced"
        start = local(item.event_start)
        end = local(item.event_end) if item.event_end else None
        timed = not all_day(start, end)
        dates: tuple[datetime, ...] = getattr(item, "dates", ())
        if len(dates) > 1:
            return series_dates(tuple(local(d) for d in dates), timed)
        if end is None or end <= start:
            return f"{longdate(start)}, {clock_time(start)}" if timed else longdate(start)
        if end.date() == start.date():
            return f"{longdate(start)}, {clock_time(start)}–{clock_time(end)}"
        if timed:
            return f"{longdate(start)}, {clock_time(start)} – {longdate(end)}, {clock_time(end)}"
        if (start.year, start.month) == (end.year, end.month):
            return f"{start.day}–{end.day} {end:%B %Y}"
        if start.year == end.year:
            return f"{start.day} {start:%B} – {end.day} {end:%B %Y}"
        return f"{longdate(start)} – {longdate(end)}"

    def series_dates(dates: tuple[datetime, ...], timed: bool) -> str:
        at = f", {clock_time(dates[0])}" if timed else ""
        if all(b - a == WEEK for a, b in itertools.pairwise(dates)):
            return f"weekly from {longdate(dates[0])}{at}"
        shown = [f"{d.day} {d:%B}" for d in dates[:MAX_LISTED_DATES]]
        more = ", …" if len(dates) > MAX_LISTED_DATES else ""
        return f"{', '.join(shown)}{more} {dates[0]:%Y}{at}"

    def summary_html(summary: str, block: bool = False) -> Markup:
        # Summaries were sanitized when collected; cleaning again here means a row edited
        # by hand in the database still cannot put script into an issue.
        clean = nh3.clean(
            summary,
            tags=SUMMARY_TAGS,
            attributes=SUMMARY_ATTRIBUTES,
            url_schemes=URL_SCHEMES,
            link_rel="noopener noreferrer",
        ).strip()
        if block and clean and not BLOCK_START.match(clean):
            clean = f"<p>{clean}</p>"  # text or inline tags only: one paragraph
        return Markup(clean)  # noqa: S704 - nh3's allowlisted output

    def summary_refs(summary: str) -> str:
        """A summary for the text part: plain text, its links as numbered references
        listed under it, so readers of the text part keep them."""
        text, links = text_with_links(summary)
        refs = "".join(f"\n[{n}] {link}" for n, link in enumerate(links, start=1))
        return wrap(text) + refs

    def markdown(source: str) -> Markup:
        return Markup(markdown_html(source))  # noqa: S704 - nh3's allowlisted output

    def markdown_inline(source: str) -> Markup:
        return Markup(markdown_html(source, inline=True))  # noqa: S704 - nh3's output

    def markdown_plain(source: str) -> str:
        return "\n\n".join(wrap(block) for block in markdown_text(source).split("\n\n"))

    def wrap(text: str, width: int = 72) -> str:
        return "\n".join(
            textwrap.fill(line, width, break_long_words=False, break_on_hyphens=False)
            for line in text.splitlines()
        )

    return {
        "longdate": longdate,
        "event_dates": event_dates,
        "summary_html": summary_html,
        "summary_text": plain_text,
        "summary_refs": summary_refs,
        "markdown": markdown,
        "markdown_inline": markdown_inline,
        "markdown_text": markdown_plain,
        "wrap": wrap,
        "readable_on": readable_on,  # the dark mode's brand colour
    }
