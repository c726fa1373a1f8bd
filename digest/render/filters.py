"""Jinja filters shared by the HTML and text templates: dates and summaries."""

from __future__ import annotations

import textwrap
from datetime import datetime
from zoneinfo import ZoneInfo

import nh3
from markupsafe import Markup

from digest.model import QueuedItem
from digest.text import SUMMARY_ATTRIBUTES, SUMMARY_TAGS, URL_SCHEMES, plain_text


def make_filters(timezone: str) -> dict[str, object]:
    tz = ZoneInfo(timezone)

    def local(when: datetime) -> datetime:
        return when.astimezone(tz)

    def longdate(when: datetime) -> str:
        day = local(when)
        return f"{day.day} {day:%B %Y}"

    def event_dates(item: QueuedItem) -> str:
        if item.event_start is None:
            return "date to be announced"
        start = local(item.event_start)
        end = local(item.event_end) if item.event_end else start
        if end.date() <= start.date():
            return longdate(start)
        if (start.year, start.month) == (end.year, end.month):
            return f"{start.day}–{end.day} {end:%B %Y}"
        if start.year == end.year:
            return f"{start.day} {start:%B} – {end.day} {end:%B %Y}"
        return f"{longdate(start)} – {longdate(end)}"

    def summary_html(summary: str) -> Markup:
        # Summaries were sanitized when collected; cleaning again here means a row edited
        # by hand in the database still cannot put script into an issue.
        return Markup(  # noqa: S704 - the argument is nh3's allowlisted output
            nh3.clean(
                summary,
                tags=SUMMARY_TAGS,
                attributes=SUMMARY_ATTRIBUTES,
                url_schemes=URL_SCHEMES,
                link_rel="noopener noreferrer",
            )
        )

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
        "wrap": wrap,
    }
