"""Cleaning what feeds send: plain-text titles, allowlist-sanitized summaries, dates."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime, time
from zoneinfo import ZoneInfo

import nh3
from dateutil import parser as dateparser

SUMMARY_TAGS = {"p", "br", "a", "strong", "b", "em", "i", "ul", "ol", "li", "blockquote", "code"}
SUMMARY_ATTRIBUTES = {"a": {"href", "title"}}
URL_SCHEMES = {"http", "https", "mailto"}
_SPACE = re.compile(r"\s+")
# Line breaks and block elements separate words: "<p>One.</p><p>Two.</p>" is "One. Two.".
_BREAK = re.compile(
    r"<\s*/?\s*(?:br|p|div|li|ul|ol|dd|dt|dl|blockquote|pre|hr|h[1-6]|tr|td|th|table)\b",
    re.IGNORECASE,
)


def plain_text(markup: str) -> str:
    """Tags stripped, entities decoded, whitespace (CR/LF included) folded to single spaces."""
    text = nh3.clean(
        _BREAK.sub(r" \g<0>", markup), tags=set(), clean_content_tags={"script", "style"}
    )
    return _SPACE.sub(" ", html.unescape(text)).strip()


def sanitize_summary(markup: str, limit: int) -> str:
    """Allowlisted HTML (no scripts, handlers, iframes, forms or styles), cut to `limit` chars.

    A summary longer than the limit becomes plain text cut at a word boundary, so the cut
    can never leave a tag open.
    """
    clean = nh3.clean(
        markup,
        tags=SUMMARY_TAGS,
        attributes=SUMMARY_ATTRIBUTES,
        url_schemes=URL_SCHEMES,
        link_rel="noopener noreferrer",
        clean_content_tags={"script", "style"},
    ).strip()
    text = plain_text(clean)
    if len(text) <= limit:
        return clean
    return html.escape(cut_at_word(text, limit), quote=False)


def cut_at_word(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    head = text[: limit - 1]
    space = head.rfind(" ")
    if space > limit // 2:
        head = head[:space]
    return head.rstrip(" ,;:.-") + "…"


def parse_datetime(value: str, *, dayfirst: bool = True, tz: str = "UTC") -> datetime | None:
    """An aware UTC datetime from a date or timestamp string, or None when it is not one.

    ISO 8601 is tried first: dateutil's `dayfirst` would read 2026-12-06 as 12 June.
    """
    try:
        parsed = dateparser.isoparse(value.strip())
    except (ValueError, OverflowError):
        try:
            parsed = dateparser.parse(value.strip(), dayfirst=dayfirst)
        except (ValueError, OverflowError):
            return None
    if parsed is None:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=ZoneInfo(tz))
    return parsed.astimezone(UTC)


def end_of_day(day: datetime, tz: str = "UTC") -> datetime:
    """The last second of `day` in `tz`: a deadline given as a date is open all that day."""
    local = day.astimezone(ZoneInfo(tz)).date()
    return datetime.combine(local, time(23, 59, 59), tzinfo=ZoneInfo(tz)).astimezone(UTC)
