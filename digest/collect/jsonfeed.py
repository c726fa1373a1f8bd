"""JSON Feed (https://jsonfeed.org, versions 1 and 1.1): feedparser does not read it."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urljoin

from digest.collect.clean import parse_datetime
from digest.collect.parse import entry_from_text
from digest.errors import CollectError
from digest.model import Entry, Fetched, ParseOptions


def looks_like_json_feed(fetched: Fetched) -> bool:
    kind = fetched.content_type.split(";")[0].strip().lower()
    return kind in ("application/feed+json", "application/json") or fetched.body.lstrip(
        b"\xef\xbb\xbf \t\r\n"
    ).startswith(b"{")


def parse_json_feed(fetched: Fetched, options: ParseOptions) -> list[Entry]:
    try:
        document = json.loads(fetched.body.decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise CollectError(f"not a JSON feed: {e}") from e
    if not isinstance(document, dict) or not str(document.get("version", "")).startswith(
        "https://jsonfeed.org/version/"
    ):
        raise CollectError("not a JSON feed: no jsonfeed.org version")
    items = document.get("items")
    if not isinstance(items, list):
        raise CollectError("JSON feed without an items list")
    base = str(document.get("home_page_url") or fetched.url)
    return [_entry(item, base, options) for item in items if isinstance(item, dict)]


def _text(item: dict[str, Any], key: str) -> str:
    value = item.get(key)
    return value if isinstance(value, str) else ""


def _entry(item: dict[str, Any], base: str, options: ParseOptions) -> Entry:
    link = _text(item, "url") or _text(item, "external_url")
    published = _text(item, "date_published") or _text(item, "date_modified")
    body = _text(item, "content_html") or _text(item, "summary") or _text(item, "content_text")
    return entry_from_text(
        options,
        title=_text(item, "title") or _text(item, "content_text")[:120],
        link=urljoin(base, link) if link else "",
        body=body,
        guid=str(item["id"]) if item.get("id") not in (None, "") else None,
        published_at=parse_datetime(published) if published else None,
    )
