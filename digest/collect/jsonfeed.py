"""JSON Feed (https://jsonfeed.org, versions 1 and 1.1), and RSS written as JSON (an
{"rss": {"channel": ...}} document, as scripting.com serves): feedparser reads neither."""

from __future__ import annotations

import html
import json
from typing import Any

from digest.collect.clean import clean_link, one_line
from digest.collect.parse import entry_from_text
from digest.errors import CollectError
from digest.model import Entry, Fetched, ParseOptions
from digest.text import parse_datetime


def looks_like_json_feed(fetched: Fetched) -> bool:
    kind = fetched.content_type.split(";")[0].strip().lower()
    return kind in ("application/feed+json", "application/json") or fetched.body.lstrip(
        b"\xef\xbb\xbf \t\r\n"
    ).startswith(b"{")


def parse_json_feed(fetched: Fetched, options: ParseOptions) -> list[Entry]:
    try:
        document = json.loads(fetched.body.decode("utf-8-sig"))
    # ValueError: also a number of more than 4300 digits; RecursionError: arrays nested
    # thousands deep.
    except (UnicodeDecodeError, ValueError, RecursionError) as e:
        raise CollectError(one_line(f"not a JSON feed: {e.__class__.__name__}: {e}")) from e
    if isinstance(document, dict) and isinstance(document.get("rss"), dict):
        return _rss_in_json(document["rss"], fetched.url, options)
    # Early feeds and some generators still write http:// in the version URL.
    if not isinstance(document, dict) or not str(document.get("version", "")).startswith(
        ("https://jsonfeed.org/version/", "http://jsonfeed.org/version/")
    ):
        raise CollectError("not a JSON feed: no jsonfeed.org version")
    items = document.get("items")
    if not isinstance(items, list):
        raise CollectError("JSON feed without an items list")
    base = clean_link(_text(document, "home_page_url"), fetched.url) or fetched.url
    return [_entry(item, base, options) for item in items if isinstance(item, dict)]


def _text(item: dict[str, Any], key: str) -> str:
    value = item.get(key)
    return value if isinstance(value, str) else ""


def _markup(text: str) -> str:
    """Plain text as HTML paragraphs: what it says is shown, never read as markup."""
    return "".join(
        f"<p>{html.escape(part.strip())}</p>" for part in text.split("\n\n") if part.strip()
    )


def _entry(item: dict[str, Any], base: str, options: ParseOptions) -> Entry:
    link = _text(item, "url") or _text(item, "external_url")
    published = _text(item, "date_published") or _text(item, "date_modified")
    # Only content_html is HTML; title, summary and content_text are plain text (spec 1.1).
    body = (
        _text(item, "content_html")
        or _markup(_text(item, "summary"))
        or _markup(_text(item, "content_text"))
    )
    title = _text(item, "title") or _text(item, "content_text")[:120]
    return entry_from_text(
        options,
        title=html.escape(title),
        link=clean_link(link, base),
        body=body,
        guid=str(item["id"]) if item.get("id") not in (None, "") else None,
        published_at=parse_datetime(published) if published else None,
    )


def _rss_in_json(rss: dict[str, Any], url: str, options: ParseOptions) -> list[Entry]:
    """RSS 2.0 items written as JSON: title, link, description, pubDate and guid."""
    channel = rss.get("channel")
    items = channel.get("item") if isinstance(channel, dict) else None
    if isinstance(items, dict):  # a channel with one item
        items = [items]
    if not isinstance(items, list):
        raise CollectError("not a JSON feed: RSS in JSON without channel items")
    base = clean_link(_text(channel, "link"), url) if isinstance(channel, dict) else ""
    base = base or url
    return [
        entry_from_text(
            options,
            title=_text(item, "title"),
            link=clean_link(_text(item, "link"), base),
            body=_text(item, "description"),
            guid=_text(item, "guid") or None,
            published_at=parse_datetime(_text(item, "pubDate")) if item.get("pubDate") else None,
        )
        for item in items
        if isinstance(item, dict)
    ]
