"""Reading JSON Feed sources (versions 1 and 1.1), and choosing the parser for a fetched body."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from digest.collect.formats import parse_body
from digest.collect.jsonfeed import looks_like_json_feed, parse_json_feed
from digest.errors import CollectError
from digest.model import Entry, Fetched, ItemKind, ParseOptions, SourceKind
from tests.support.feeds import RssItem, rss

FEED_URL = "https://example.org/feeds/news.json"
V1 = "https://jsonfeed.org/version/1"
V1_1 = "https://jsonfeed.org/version/1.1"
NEWS = ParseOptions(kind=SourceKind.NEWS)


def feed(*items: dict[str, Any], version: str = V1_1, **fields: Any) -> bytes:
    document = {"version": version, "title": "Example news", **fields, "items": list(items)}
    return json.dumps(document).encode()


def parse(
    body: bytes, content_type: str = "application/feed+json", options: ParseOptions = NEWS
) -> list[Entry]:
    fetched = Fetched(url=FEED_URL, status=200, body=body, content_type=content_type)
    return parse_json_feed(fetched, options)


@pytest.mark.parametrize("version", [V1, V1_1])
def test_version_1_and_1_1_feeds_are_read(version: str) -> None:
    body = feed(
        {
            "id": "https://example.org/news/port",
            "url": "https://example.org/news/port",
            "title": "Port partnership signed",
            "content_html": "<p>Three <strong>clusters</strong> join.</p>",
            "date_published": "2026-11-22T14:30:00+01:00",
        },
        {"id": "2", "url": "https://example.org/news/2", "title": "Second story"},
        version=version,
        home_page_url="https://example.org/",
    )

    port, second = parse(body)

    assert port.kind is ItemKind.NEWS
    assert port.title == "Port partnership signed"
    assert port.link == "https://example.org/news/port"
    assert port.summary == "<p>Three <strong>clusters</strong> join.</p>"
    assert port.guid == "https://example.org/news/port"
    assert port.published_at == datetime(2026, 11, 22, 13, 30, tzinfo=UTC)
    assert (second.title, second.guid, second.published_at) == ("Second story", "2", None)


def test_content_html_is_sanitized_markup() -> None:
    item = {
        "id": "1",
        "title": "Markup",
        "content_html": '<p onclick="steal()">Hi <em>there</em></p><script>alert(1)</script>',
        "summary": "A plain summary.",
        "content_text": "Plain text.",
    }

    [entry] = parse(feed(item))

    # content_html wins over summary and content_text; scripts and handlers are dropped.
    assert entry.summary == "<p>Hi <em>there</em></p>"


def test_summary_and_content_text_are_plain_text_never_markup() -> None:
    summary_only = {
        "id": "s",
        "title": "Why <div> & <span> differ",
        "summary": "Tips for <em>fast</em> code & more",
        "content_text": "Not used: the summary comes first.",
    }
    text_only = {
        "id": "t",
        "title": "Text",
        "content_text": "Compare a<b and the <details> element.\n\nSecond paragraph.",
    }

    by_id = {e.guid: e for e in parse(feed(summary_only, text_only))}

    # The spec makes title, summary and content_text plain text: shown as written.
    assert by_id["s"].title == "Why <div> & <span> differ"
    assert by_id["s"].summary == "<p>Tips for &lt;em&gt;fast&lt;/em&gt; code &amp; more</p>"
    assert by_id["t"].summary == (
        "<p>Compare a&lt;b and the &lt;details&gt; element.</p><p>Second paragraph.</p>"
    )


def test_an_untitled_item_is_named_by_its_text() -> None:
    [entry] = parse(feed({"id": "micro", "content_text": "Just shipped <b>v2</b> of the app"}))

    assert entry.title == "Just shipped <b>v2</b> of the app"


def test_relative_item_urls_are_resolved_against_home_page_url() -> None:
    body = feed(
        {"id": "1", "title": "Relative", "url": "posts/1"},
        {"id": "2", "title": "Rooted", "url": "/about"},
        {"id": "3", "title": "External only", "external_url": "https://elsewhere.example/x"},
        {"id": "4", "title": "No link"},
        home_page_url="https://example.org/blog/",
    )

    links = [e.link for e in parse(body)]

    assert links == [
        "https://example.org/blog/posts/1",
        "https://example.org/about",
        "https://elsewhere.example/x",
        "",
    ]


def test_without_home_page_url_links_are_resolved_against_the_feed_url() -> None:
    [entry] = parse(feed({"id": "1", "title": "Relative", "url": "../news/1"}))

    assert entry.link == "https://example.org/news/1"


def test_dates_are_parsed_to_utc() -> None:
    body = feed(
        {"id": "offset", "title": "a", "date_published": "2026-11-22T23:30:00-05:00"},
        {"id": "zulu", "title": "b", "date_published": "2026-11-22T10:00:00Z"},
        {"id": "modified", "title": "c", "date_modified": "2026-11-20T10:00:00+02:00"},
        {"id": "garbage", "title": "d", "date_published": "last Tuesday-ish"},
        {"id": "number", "title": "e", "date_published": 1700000000},
    )

    dates = {e.guid: e.published_at for e in parse(body)}

    assert dates["offset"] == datetime(2026, 11, 23, 4, 30, tzinfo=UTC)
    assert dates["zulu"] == datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
    assert dates["modified"] == datetime(2026, 11, 20, 8, 0, tzinfo=UTC)
    assert dates["garbage"] is None and dates["number"] is None
    assert all(d is None or d.utcoffset() is not None for d in dates.values())


def test_ids_become_guids_and_a_missing_id_is_none() -> None:
    body = feed(
        {"title": "No id", "url": "https://example.org/a"},
        {"id": "", "title": "Empty id", "url": "https://example.org/b"},
        {"id": 42, "title": "Number id"},
    )

    assert [e.guid for e in parse(body)] == [None, None, "42"]


def test_items_that_are_not_objects_are_skipped() -> None:
    body = feed({"id": "1", "title": "Real"}, version=V1)
    document = json.loads(body)
    document["items"] += ["a string", 7, None]

    assert [e.title for e in parse(json.dumps(document).encode())] == ["Real"]


def test_a_byte_order_mark_is_allowed() -> None:
    [entry] = parse(b"\xef\xbb\xbf" + feed({"id": "1", "title": "BOM"}))

    assert entry.title == "BOM"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"<!doctype html><p>Not found</p>", "not a JSON feed"),
        (b'{"version": "https://jsonfeed.org/version/1.1", "items": [', "not a JSON feed"),
        (b"\xff\xfe{}", "not a JSON feed"),
        (b'{"title": "no version", "items": []}', "not a JSON feed: no jsonfeed.org version"),
        (b'{"version": "1.1", "items": []}', "not a JSON feed: no jsonfeed.org version"),
        (b'["https://jsonfeed.org/version/1"]', "not a JSON feed: no jsonfeed.org version"),
        (b'{"version": "https://jsonfeed.org/version/1"}', "JSON feed without an items list"),
    ],
    ids=["html", "truncated", "not-utf8", "no-version", "other-version", "array", "no-items"],
)
def test_not_a_json_feed_is_a_collect_error(body: bytes, message: str) -> None:
    with pytest.raises(CollectError) as caught:
        parse(body)

    assert str(caught.value).startswith(message), caught.value


# --- choosing the parser ----------------------------------------------------------------

ICS = (
    b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\nBEGIN:VEVENT\r\nUID:ev-1\r\n"
    b"DTSTART:20261205T090000Z\r\nSUMMARY:Calendar event\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
)
JSON = feed({"id": "js-1", "title": "JSON story"})
RSS = rss([RssItem(title="RSS story", guid="rss-1")])
EVENTS = ParseOptions(kind=SourceKind.EVENTS, now=datetime(2026, 11, 23, tzinfo=UTC))


@pytest.mark.parametrize(
    ("body", "content_type", "guid"),
    [
        (ICS, "text/calendar; charset=utf-8", "ev-1"),
        (JSON, "application/feed+json", "js-1"),
        (JSON, "application/json; charset=utf-8", "js-1"),
        (RSS, "application/rss+xml", "rss-1"),
        # Servers often say text/plain or nothing: the body tells.
        (b"\r\n" + ICS, "text/plain", "ev-1"),
        (b"\xef\xbb\xbf" + ICS, "", "ev-1"),
        (b"  \n" + JSON, "text/plain", "js-1"),
        (JSON, "application/octet-stream", "js-1"),
        (RSS, "text/plain", "rss-1"),
        (RSS, "", "rss-1"),
    ],
)
def test_parse_body_picks_the_parser_by_type_and_by_sniffing(
    body: bytes, content_type: str, guid: str
) -> None:
    fetched = Fetched(url=FEED_URL, status=200, body=body, content_type=content_type)

    [entry] = parse_body(fetched, EVENTS)

    assert entry.guid == guid
    if guid == "ev-1":
        assert entry.event_start == datetime(2026, 12, 5, 9, tzinfo=UTC)


def test_json_is_recognized_by_type_or_by_its_first_brace() -> None:
    def fetched(body: bytes, content_type: str) -> Fetched:
        return Fetched(url=FEED_URL, status=200, body=body, content_type=content_type)

    assert looks_like_json_feed(fetched(b"", "application/feed+json"))
    assert looks_like_json_feed(fetched(b" \n{}", "text/html"))
    assert not looks_like_json_feed(fetched(RSS, "application/xml"))
