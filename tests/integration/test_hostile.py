"""Bad and hostile sources against a real local HTTP server, on SQLite and PostgreSQL: each
ends as a one-line error of its own or a clean parse, in bounded time and memory, and the
good source collected in the same run is stored as usual."""

from __future__ import annotations

import time
import tracemalloc
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from digest.collect import collect
from digest.collect.fetch import inflate
from digest.collect.sources import add_source
from digest.db.engine import Database
from digest.db.schema import Item, Source
from digest.errors import CollectError
from digest.model import SourceKind, SourceReport
from digest.settings import Settings
from tests.conftest import FIXTURES
from tests.support.clock import Clock
from tests.support.feeds import RssItem, rss, silent_server
from tests.support.http import ALLOW_LOOPBACK, FeedHttpServer, Route

CORPUS = FIXTURES / "corpus"
CAP = 1_000_000  # collect.max_bytes in these tests
TIMEOUT = 0.5  # collect.timeout_seconds: a fetch, and a parse, may take four times this


def corpus(name: str) -> bytes:
    """The bytes of tests/fixtures/corpus/NAME (see its README for origins and licenses)."""
    return (CORPUS / name).read_bytes()


def gzip_bomb(size: int) -> bytes:
    """`size` zero bytes gzip-compressed, made a megabyte at a time: about size / 1000 bytes."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)
    block = bytes(1_000_000)
    parts = [packer.compress(block) for _ in range(size // len(block))]
    return b"".join([*parts, packer.flush()])


def endless(total: int = 100_000_000) -> Callable[[], Iterator[bytes]]:
    """A body of `total` bytes made while it is sent, 64 KB at a time."""
    chunk = b"<item><title>again</title></item>\n" * 1900

    def chunks() -> Iterator[bytes]:
        for _ in range(total // len(chunk)):
            yield chunk

    return chunks


def calendar(*events: str) -> bytes:
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//digest tests//EN"]
    for event in events:
        lines += ["BEGIN:VEVENT", *event.strip().splitlines(), "END:VEVENT"]
    return ("\r\n".join(line.strip() for line in [*lines, "END:VCALENDAR"]) + "\r\n").encode()


GOOD = rss(
    [
        RssItem(title="Harbour reopens", guid="good-1", link="https://example.org/harbour"),
        RssItem(title="Second story", guid="good-2", link="https://example.org/second"),
    ]
)
# feedparser keeps an entity without `&` in it, and its lenient parser expands every use:
# 2,000 uses of 10 KB would be 20 MB of title.
QUADRATIC = (
    b'<?xml version="1.0"?>\n<!DOCTYPE rss [\n<!ENTITY big "'
    + b"x" * 10_000
    + b'">\n]>\n<rss version="2.0"><channel><title>t</title><item><title>'
    + b"&big;" * 2_000
    + b"</title></item></channel></rss>"
)
HTML_PAGE = (
    b"<!DOCTYPE html>\n<html><head><title>News</title>\n"
    b'<link rel="alternate" type="application/rss+xml" href="/feeds/news.xml">\n'
    b"</head><body><p>Our news</p></body></html>"
)
# Expanding a rule that fires every second would build 7.8 million occurrences in 90 days.
FLOOD = calendar("UID:flood@example.org\nDTSTART:20261123T080000Z\nRRULE:FREQ=SECONDLY")
# feedparser's lenient parser takes about eight seconds over this megabyte.
SLOW_TO_PARSE = b"<rss><channel><item><title>" + b"&" * 900_000 + b"</title></item></channel></rss>"


@pytest.fixture
def settings(make_settings: Callable[..., Settings]) -> Settings:
    # Every source is on 127.0.0.1: the politeness limit per host would queue them.
    return make_settings(
        collect_timeout_seconds=TIMEOUT,
        collect_max_bytes=CAP,
        collect_per_host=24,
        collect_concurrency=24,
        **ALLOW_LOOPBACK,
    )


def serve(
    db: Database,
    server: FeedHttpServer,
    clock: Clock,
    path: str,
    route: Route,
    kind: SourceKind = SourceKind.NEWS,
) -> int:
    server.routes[path] = route
    return add_source(db, server.url(path), kind, "", clock()).id


def stored(db: Database) -> list[Item]:
    with db.session() as session:
        return list(session.scalars(select(Item).order_by(Item.id)))


def by_source(reports: list[SourceReport]) -> dict[int, SourceReport]:
    return {r.source.id: r for r in reports}


def test_each_hostile_source_fails_alone_quickly_with_a_one_line_error(
    db: Database, settings: Settings, clock: Clock, http_server: FeedHttpServer
) -> None:
    def route(path: str, body: bytes = b"", kind: SourceKind = SourceKind.NEWS, **kw: Any) -> int:
        return serve(db, http_server, clock, path, Route(body, **kw), kind)

    good = route("/good.xml", GOOD)
    expected = {
        route("/bomb.xml", gzip_bomb(64_000_000), encoded_as="gzip"): (
            f"body is over the {CAP} byte cap (after decompression)"
        ),
        route("/huge.xml", stream=endless(), length=100_000_000): (
            f"body of 100000000 bytes is over the {CAP} byte cap"
        ),
        route("/huge-chunked.xml", stream=endless()): f"body is over the {CAP} byte cap",
        route("/drip.xml", GOOD, drip=0.1): "timed out after 2s",
        route("/laughs.xml", corpus("constructed__billion-laughs-rss2.xml")): (
            "not accepted: the DOCTYPE's entities would expand to 2599999980 bytes"
        ),
        route("/quadratic.xml", QUADRATIC): "not accepted: the DOCTYPE's entities would expand",
        route("/empty.xml"): "not a feed: the body is empty",
        route("/comment.xml", corpus("feedparser__illformed-rss_empty_document.xml")): (
            "not a feed: line 6, column 0: no element found"
        ),
        route("/moved", corpus("rssparser__unrecognized.rss"), content_type="text/html"): (
            "not a feed: an HTML page"
        ),
        route("/home", HTML_PAGE, content_type="text/html; charset=utf-8"): (
            f"not a feed: an HTML page; it names a feed at {http_server.url('/feeds/news.xml')}"
        ),
        route(
            "/broken.ics",
            corpus("icalendar__calendars-issue_104_broken_calendar.ics"),
            SourceKind.EVENTS,
            content_type="text/calendar",
        ): "not a valid calendar: Content line could not be parsed",
        route("/flood.ics", FLOOD, SourceKind.EVENTS, content_type="text/calendar"): (
            "calendar cannot be expanded: the rule of event 'flood@example.org' repeats"
        ),
        route("/slow.xml", SLOW_TO_PARSE): "parsing took longer than 2s and was stopped",
        route("/nested.json", b'{"items": ' + b"[" * 100_000): "not a JSON feed: RecursionError",
    }
    with silent_server() as url:
        silent = add_source(db, url, SourceKind.NEWS, "", clock()).id
        expected[silent] = "timed out (ReadTimeout)"

        started = time.monotonic()
        reports = by_source(collect(db, settings, clock))
        took = time.monotonic() - started

    # Fetching is cut at 4 x 0.5 s, all sources at once; parsing one source at 2 s too.
    assert took < 12, took
    assert reports[good].error is None and reports[good].new == 2
    assert sorted(i.guid or "" for i in stored(db)) == ["good-1", "good-2"]
    for source_id, message in expected.items():
        error = reports[source_id].error or ""
        assert error.startswith(message), (reports[source_id].source.url, error)
        assert "\n" not in error and len(error) <= 1000
    with db.session() as session:
        rows = {s.id: s for s in session.scalars(select(Source))}
    assert all(rows[i].last_error == reports[i].error for i in expected)
    assert all(rows[i].consecutive_failures == 1 for i in expected)
    assert rows[good].last_error is None and rows[good].consecutive_failures == 0


def test_odd_but_readable_sources_are_parsed_cleanly(
    db: Database, settings: Settings, clock: Clock, http_server: FeedHttpServer, tmp_path: Path
) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-MARKER root:x:0:0", encoding="utf-8")
    xxe_one_line = (
        f'<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY xxe SYSTEM "file://{secret}">]>'
        '<rss version="2.0"><channel><title>t</title><item><title>One-line &xxe;</title>'
        "<guid>xxe-1</guid><description>&xxe;</description></item></channel></rss>"
    ).encode()
    xxe_lines = xxe_one_line.replace(b"[<!ENTITY", b"[\n<!ENTITY").replace(b">]>", b">\n]>")
    xxe_lines = xxe_lines.replace(b"One-line", b"Multi-line").replace(b"xxe-1", b"xxe-2")
    little_endian = rss([RssItem(title="Grüße aus Köln", guid="utf16le")]).decode("utf-8")
    broken_and_good = calendar(
        "UID:no-start@example.org\nSUMMARY:No start",
        "UID:fair@example.org\nDTSTART:20261205T090000Z\nSUMMARY:Fair",
    )

    def route(path: str, body: bytes, kind: SourceKind = SourceKind.NEWS, **kw: Any) -> int:
        return serve(db, http_server, clock, path, Route(body, **kw), kind)

    ids = {
        "utf16be": route("/be.xml", corpus("simplepie__feed-utf16be.xml"), content_type=""),
        # With a byte order mark, and a server that says UTF-8.
        "utf16le": route(
            "/le.xml",
            little_endian.encode("utf-16"),
            content_type="application/rss+xml; charset=utf-8",
        ),
        "utf32": route("/32.xml", little_endian.encode("utf-32-be"), content_type="text/xml"),
        # Windows-1252 bytes under a declaration and a header that both say UTF-8.
        "cp1252": route(
            "/1252.xml",
            little_endian.replace("utf16le", "cp1252").encode("cp1252"),
            content_type="application/rss+xml; charset=utf-8",
        ),
        "gzip file": route("/gz.xml", corpus("nodefp__compressed.xml")),
        "italian": route("/it.xml", corpus("feedrs__rss_2.0_ilmessaggero.xml")),
        "scripts": route("/crazy.xml", corpus("feedparser__sanitize-entry_content_crazy.xml")),
        "xxe one line": route("/xxe1.xml", xxe_one_line),
        "xxe lines": route("/xxe2.xml", xxe_lines),
        "xxe corpus": route("/xxe3.xml", corpus("w3cfv__should-system_entity.xml")),
        "calendar": route(
            "/cal.ics", broken_and_good, SourceKind.EVENTS, content_type="text/calendar"
        ),
    }

    reports = by_source(collect(db, settings, clock))

    assert {name: reports[i].error for name, i in ids.items()} == dict.fromkeys(ids)
    found = {name: reports[i].found for name, i in ids.items()}
    assert found == {
        "utf16be": 1,
        "utf16le": 1,
        "utf32": 1,
        "cp1252": 1,
        "gzip file": 10,
        "italian": 1,
        "scripts": 1,
        "xxe one line": 1,
        "xxe lines": 1,
        "xxe corpus": 1,
        "calendar": 1,
    }
    items = {i.source_id: i for i in stored(db)}  # one item each but the gzip file
    assert items[ids["utf16be"]].title == "Test feed title 1"
    for name in ("utf16le", "utf32", "cp1252"):
        assert items[ids[name]].title == "Grüße aus Köln", name
    # An Italian "mer, 16 nov 2022" is no date to feedparser: first seen stands in for it.
    italian = items[ids["italian"]]
    assert italian.title.startswith("Missili Polonia")
    assert italian.published_at.replace(tzinfo=None) == clock().replace(tzinfo=None)
    # What was inside the script tags may stay as text (feedparser's sanitizer keeps it so);
    # no tag or handler that could run it does.
    crazy = items[ids["scripts"]].summary.lower()
    assert "did the javascript execute?" in crazy
    for banned in ("<script", "onload", "onmouseover", "<style", "<body", "<h1", "<div"):
        assert banned not in crazy
    # The event with a start is read; the one without is left out, not the whole calendar.
    assert items[ids["calendar"]].title == "Fair"
    everything = " ".join(
        f"{i.title} {i.summary} {i.link} {i.location} {i.guid}" for i in stored(db)
    )
    assert "TOP-SECRET-MARKER" not in everything and "root:x:0:0" not in everything
    assert "<script" not in everything.lower()


def test_a_gzip_bomb_is_stopped_with_bounded_memory(
    db: Database, settings: Settings, clock: Clock, http_server: FeedHttpServer
) -> None:
    bomb = gzip_bomb(100_000_000)
    assert len(bomb) < 150_000  # one network read or two
    bomb_id = serve(db, http_server, clock, "/bomb.xml", Route(bomb, encoded_as="gzip"))
    good = serve(db, http_server, clock, "/good.xml", Route(GOOD))

    tracemalloc.start()
    try:
        reports = by_source(collect(db, settings, clock))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert (reports[bomb_id].error or "").startswith(f"body is over the {CAP} byte cap")
    assert reports[good].new == 2
    # Inflating each network chunk whole, as httpx does, would hold 64 MB and more at once.
    assert peak < 20_000_000, peak


def test_inflating_never_holds_much_more_than_the_cap() -> None:
    bomb = gzip_bomb(200_000_000)

    tracemalloc.start()
    try:
        with pytest.raises(CollectError, match="over the 500000 byte cap"):
            inflate(bomb, 500_000)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert peak < 3 * 500_000 + len(bomb), peak
    # Under the cap, several gzip members one after another are one body.
    assert inflate(gzip_bomb(1_000_000) + gzip_bomb(1_000_000), 2_000_000) == bytes(2_000_000)
