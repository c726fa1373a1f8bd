"""Cleaning what feeds send, beyond digest.text: storable links and ids, one-line error
messages, and deadlines given as dates."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, time
from urllib.parse import urljoin, urlsplit
from zoneinfo import ZoneInfo

from digest.links import strip_tracking
from digest.text import CONTROL_CHARS, WHITESPACE, visible

LINK_SCHEMES = ("http", "https")
# What an item's fields may hold at most (the columns of the items table).
MAX_LINK, MAX_GUID, MAX_TITLE, MAX_LOCATION = 2048, 2048, 500, 500


def one_line(text: str, limit: int = 300) -> str:
    """A message built from outside text: first line only, no control characters, cut."""
    first = visible(text.strip().split("\n", 1)[0]).strip()
    return first if len(first) <= limit else first[: limit - 1] + "…"


def clean_link(link: str, base: str = "") -> str:
    """An absolute http(s) link without tracking parameters, resolved against `base`; empty
    for anything else (javascript:, data:, tag: ids, links too long to store)."""
    link = WHITESPACE.sub("", CONTROL_CHARS.sub("", link))
    if not link:
        return ""
    try:
        absolute = urljoin(base, link) if base else link
        scheme = urlsplit(absolute).scheme.lower()
    except ValueError:  # an invalid IPv6 host, say
        return ""
    if scheme not in LINK_SCHEMES or len(absolute) > MAX_LINK:
        return ""
    return strip_tracking(absolute)


def clean_guid(guid: str | None) -> str | None:
    """The feed's id for a story, made storable: no control characters, and an id too long
    for its column replaced by its hash, which still tells stories apart."""
    if guid is None:
        return None
    guid = CONTROL_CHARS.sub("", guid).strip()
    if len(guid) > MAX_GUID:
        return "sha256:" + hashlib.sha256(guid.encode("utf-8", "replace")).hexdigest()
    return guid or None


def end_of_day(day: datetime, tz: str = "UTC") -> datetime:
    """The last second of `day` in `tz`: a deadline given as a date is open all that day
    (the day itself at the far ends of the calendar, where that moment has no UTC time)."""
    try:
        local = day.astimezone(ZoneInfo(tz)).date()
        return datetime.combine(local, time(23, 59, 59), tzinfo=ZoneInfo(tz)).astimezone(UTC)
    except (OverflowError, ValueError):
        return day
