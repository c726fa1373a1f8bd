"""Collecting feeds from a real local HTTP server into SQLite and PostgreSQL."""

from __future__ import annotations

import gzip
import logging
from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

import digest.collect
import digest.collect.fetch
from digest.collect import collect
from digest.collect.sources import add_source, health
from digest.db.engine import Database
from digest.db.schema import Item
from digest.db.sources import get_source
from digest.model import ItemState, SourceHealth, SourceKind, SourceReport
from digest.settings import Settings
from tests.support.clock import Clock
from tests.support.feeds import RssItem, closed_port_url, fixture_feed, rss
from tests.support.http import ALLOW_LOOPBACK, FeedHttpServer, Route


def serve(
    db: Database,
    server: FeedHttpServer,
    clock: Clock,
    path: str,
    kind: SourceKind = SourceKind.NEWS,
    route: Route | None = None,
) -> int:
    """Serve `route` at `path` and register it as a source; returns the source id."""
    if route is not None:
        server.routes[path] = route
    return add_source(db, server.url(path), kind, "", clock()).id


def items(db: Database) -> dict[str, Item]:
    with db.session() as session:
        return {i.guid or "": i for i in session.scalars(select(Item))}


def item_count(db: Database) -> int:
    with db.session() as session:
        return int(session.scalar(select(func.count()).select_from(Item)) or 0)


def source(db: Database, source_id: int) -> SourceHealth:
    return get_source(db, source_id)


def by_source(reports: list[SourceReport]) -> dict[int, SourceReport]:
    return {r.source.id: r for r in reports}


def utc(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


@pytest.fixture
def settings(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings(**ALLOW_LOOPBACK)


def test_rss_and_atom_news_are_stored_with_their_fields(
    db: Database, settings: Settings, clock: Clock, http_server: FeedHttpServer
) -> None:
    rss_id = serve(db, http_server, clock, "/news.xml", route=Route(fixture_feed("news.rss")))
    atom_id = serve(
        db,
        http_server,
        clock,
        "/atom.xml",
        route=Route(fixture_feed("news.atom"), content_type="application/atom+xml"),
    )

    reports = by_source(collect(db, settings, clock))

    assert (reports[rss_id].error, reports[rss_id].found, reports[rss_id].new) == (None, 3, 3)
    assert (reports[atom_id].error, reports[atom_id].found, reports[atom_id].new) == (None, 2, 2)
    stored = items(db)
    assert len(stored) == 5
    port = stored["news-1"]
    assert port.kind == "news" and port.state == ItemState.QUEUED
    assert port.title == "Port partnership signed in Havenmark"
    assert port.link == "https://example.org/news/port-partnership"
    assert "<strong>clusters</strong>" in port.summary
    assert port.published_at == utc(2026, 11, 22, 13, 30)  # 14:30 +0100
    assert port.published_at.utcoffset() is not None
    assert port.source_id == rss_id and port.first_seen_at == clock()
    assert stored["news-2"].title == "Member survey & results"
    assert stored["news-2"].summary == "Plain text summary, no markup."

    hydrogen = stored["tag:example.org,2026:atom-1"]
    assert hydrogen.title == "Hydrogen valleys announced"
    assert hydrogen.link == "https://example.org/atom/hydrogen-valleys"
    assert hydrogen.summary == "<p>Three regions will <b>share</b> test sites.</p>"
    assert hydrogen.published_at == utc(2026, 11, 21, 8, 15)  # 10:15 +0200
    textile = stored["tag:example.org,2026:atom-2"]
    assert "A joint circularity roadmap." in textile.summary  # from <content>
    assert textile.published_at == utc(2026, 11, 18, 16, 45)  # only <updated>

    row = source(db, rss_id)
    assert (row.last_status, row.items_found, row.consecutive_failures) == (200, 3, 0)
    assert row.last_error is None and row.source.etag and row.last_success_at == clock()
    assert health(row) == "ok"


def test_events_have_utc_start_end_and_location(
    db: Database, settings: Settings, clock: Clock, http_server: FeedHttpServer
) -> None:
    route = Route(fixture_feed("events.rss"))
    serve(db, http_server, clock, "/events.xml", SourceKind.EVENTS, route)

    [report] = collect(db, settings, clock)

    assert report.error is None and report.new == 4
    stored = items(db)
    forum = stored["event-forum"]
    assert forum.kind == "event" and forum.state == ItemState.QUEUED
    assert forum.event_start == utc(2026, 12, 5, 8, 0)  # 09:00 +0100
    assert forum.event_end == utc(2026, 12, 6, 16, 0)
    assert forum.event_start is not None and forum.event_start.utcoffset() is not None
    assert forum.location == "Lyon, France"
    assert forum.title == "Regions & Clusters Forum"
    assert stored["event-past"].state == ItemState.EXPIRED
    # Started half an hour before the clock's 08:00: too late for an issue.
    assert stored["event-started"].state == ItemState.EXPIRED
    tba = stored["event-tba"]
    assert tba.event_start is None and tba.state == ItemState.QUEUED
    assert tba.needs_review == "no start date found"


def test_calls_get_deadlines_from_their_text(
    db: Database, settings: Settings, clock: Clock, http_server: FeedHttpServer
) -> None:
    route = Route(fixture_feed("calls.rss"))
    serve(db, http_server, clock, "/calls.xml", SourceKind.CALLS, route)

    [report] = collect(db, settings, clock)

    assert report.error is None and report.new == 4
    stored = items(db)
    strategic = stored["call-strategic"]
    assert strategic.kind == "call" and strategic.state == ItemState.QUEUED
    # "Deadline: 22/10/2027" is a date: the call is open until the end of that day.
    assert strategic.deadline == utc(2027, 10, 22, 23, 59, 59)
    assert strategic.needs_review is None
    assert stored["call-green"].deadline == utc(2026, 12, 13, 23, 59, 59)
    closed = stored["call-closed"]
    assert closed.deadline == utc(2026, 11, 20, 23, 59, 59)
    assert closed.state == ItemState.EXPIRED
    rolling = stored["call-rolling"]
    assert rolling.deadline is None and rolling.state == ItemState.QUEUED
    assert rolling.needs_review == "no deadline found"


def test_items_expire_as_the_clock_moves_on(
    db: Database, settings: Settings, clock: Clock, http_server: FeedHttpServer
) -> None:
    serve(
        db, http_server, clock, "/events.xml", SourceKind.EVENTS, Route(fixture_feed("events.rss"))
    )
    serve(db, http_server, clock, "/calls.xml", SourceKind.CALLS, Route(fixture_feed("calls.rss")))
    collect(db, settings, clock)
    assert items(db)["event-forum"].state == ItemState.QUEUED

    clock.advance(days=13)  # 2026-12-06: the forum has begun, the green call is still open
    reports = collect(db, settings, clock)

    assert {r.status for r in reports} == {304}
    stored = items(db)
    assert stored["event-forum"].state == ItemState.EXPIRED
    assert stored["event-forum"].updated_at == clock()
    assert stored["call-green"].state == ItemState.QUEUED
    assert stored["call-strategic"].state == ItemState.QUEUED
    assert stored["event-tba"].state == ItemState.QUEUED  # no date: left for an editor


def test_second_collect_is_conditional_and_duplicates_nothing(
    db: Database, settings: Settings, clock: Clock, http_server: FeedHttpServer
) -> None:
    modified = "Sun, 22 Nov 2026 14:30:00 GMT"
    route = Route(fixture_feed("news.rss"), headers={"Last-Modified": modified})
    source_id = serve(db, http_server, clock, "/news.xml", route=route)
    [first] = collect(db, settings, clock)
    etag = source(db, source_id).source.etag
    assert first.status == 200 and first.new == 3 and etag

    clock.advance(hours=1)
    [second] = collect(db, settings, clock)

    request = http_server.requests[-1]
    assert request.path == "/news.xml"
    assert request.headers.get("If-None-Match") == etag
    assert request.headers.get("If-Modified-Since") == modified
    assert "If-None-Match" not in http_server.requests[0].headers
    assert second.status == 304 and second.error is None
    assert "304" in second.line
    assert (second.found, second.new, second.updated) == (0, 0, 0)
    assert item_count(db) == 3
    row = source(db, source_id)
    assert row.source.etag == etag and row.items_found == 3 and row.last_success_at == clock()


def test_changed_item_updates_its_row(
    db: Database, settings: Settings, clock: Clock, http_server: FeedHttpServer
) -> None:
    link = "https://example.org/news/a"
    route = Route(
        rss([RssItem(title="Old title", guid="g-1", link=link), RssItem(title="Other", guid="g-2")])
    )
    serve(db, http_server, clock, "/news.xml", route=route)
    collect(db, settings, clock)
    before = items(db)["g-1"]

    clock.advance(hours=2)
    route.body = rss(
        [RssItem(title="New title", guid="g-1", link=link), RssItem(title="Other", guid="g-2")]
    )
    [report] = collect(db, settings, clock)

    assert report.status == 200 and (report.new, report.updated) == (0, 1)
    after = items(db)
    assert len(after) == 2
    assert after["g-1"].id == before.id
    assert after["g-1"].title == "New title"
    assert after["g-1"].first_seen_at == before.first_seen_at
    assert after["g-1"].updated_at == clock()
    assert after["g-2"].updated_at == before.first_seen_at  # unchanged, untouched


def test_duplicate_guids_in_one_feed_give_one_item(
    db: Database, settings: Settings, clock: Clock, http_server: FeedHttpServer
) -> None:
    body = rss(
        [
            RssItem(title="First copy", guid="same", link="https://example.org/1"),
            RssItem(title="Second copy", guid="same", link="https://example.org/2"),
            RssItem(title="Different", guid="other"),
        ]
    )
    serve(db, http_server, clock, "/news.xml", route=Route(body))

    [report] = collect(db, settings, clock)

    assert report.error is None and report.new == 2
    stored = items(db)
    assert len(stored) == 2 and stored["same"].title == "First copy"


def test_gzip_encoded_response_is_decoded(
    db: Database, settings: Settings, clock: Clock, http_server: FeedHttpServer
) -> None:
    serve(db, http_server, clock, "/news.xml", route=Route(fixture_feed("news.rss"), gzip=True))

    [report] = collect(db, settings, clock)

    assert "gzip" in http_server.requests[0].headers.get("Accept-Encoding", "")
    assert report.error is None and report.new == 3
    assert items(db)["news-1"].title == "Port partnership signed in Havenmark"


def test_redirect_is_followed(
    db: Database, settings: Settings, clock: Clock, http_server: FeedHttpServer
) -> None:
    http_server.routes["/news.xml"] = Route(fixture_feed("news.rss"))
    moved = Route(status=301, location=http_server.url("/news.xml"), etag=False)
    serve(db, http_server, clock, "/old-feed", route=moved)

    [report] = collect(db, settings, clock)

    assert [r.path for r in http_server.requests] == ["/old-feed", "/news.xml"]
    assert report.error is None and report.status == 200 and report.new == 3
    assert len(items(db)) == 3

    # The validator of the final address is sent again through the redirect.
    [again] = collect(db, settings, clock)
    assert http_server.requests[-1].path == "/news.xml"
    assert http_server.requests[-1].headers.get("If-None-Match")
    assert again.status == 304 and len(items(db)) == 3


def big_feed(size: int) -> bytes:
    item = RssItem(title="Padding", guid="pad", description="<p>" + "x " * (size // 2) + "</p>")
    return rss([item])


def test_each_failing_source_gets_a_one_line_error_and_the_others_are_collected(
    db: Database,
    make_settings: Callable[..., Settings],
    clock: Clock,
    http_server: FeedHttpServer,
) -> None:
    # A second for each fetch: enough for a redirect loop's hops on a loaded machine, far
    # less than the slow feed's delay.
    settings = make_settings(
        collect_timeout_seconds=1.0, collect_max_bytes=20_000, **ALLOW_LOOPBACK
    )
    news = serve(db, http_server, clock, "/news.xml", route=Route(fixture_feed("news.rss")))
    html = b"<!DOCTYPE html>\n<html><head><title>Home</title></head>\n<body><p>Hi</p></body></html>"
    failing = {
        serve(db, http_server, clock, "/missing.xml"): "HTTP 404",
        add_source(db, closed_port_url(), SourceKind.NEWS, "", clock()).id: "cannot connect",
        serve(
            db, http_server, clock, "/page.html", route=Route(html, content_type="text/html")
        ): "not a feed",
        serve(db, http_server, clock, "/huge.xml", route=Route(big_feed(50_000))): "20000",
        # Small on the wire, huge once decoded: stopped while reading, not by Content-Length.
        serve(
            db, http_server, clock, "/bomb.xml", route=Route(big_feed(400_000), gzip=True)
        ): "20000",
        serve(
            db, http_server, clock, "/slow.xml", route=Route(fixture_feed("news.rss"), delay=4.0)
        ): "timed out",
        serve(
            db,
            http_server,
            clock,
            "/loop-a",
            route=Route(status=302, location=http_server.url("/loop-b"), etag=False),
        ): "redirects",
    }
    http_server.routes["/loop-b"] = Route(
        status=302, location=http_server.url("/loop-a"), etag=False
    )
    events = serve(
        db, http_server, clock, "/events.xml", SourceKind.EVENTS, Route(fixture_feed("events.rss"))
    )
    assert len(gzip.compress(big_feed(400_000))) < 20_000

    reports = by_source(collect(db, settings, clock))

    assert len(reports) == len(failing) + 2
    assert reports[news].error is None and reports[news].new == 3
    assert reports[events].error is None and reports[events].new == 4
    for source_id, expected in failing.items():
        report = reports[source_id]
        assert report.error is not None, report
        assert expected in report.error, report.error
        assert "\n" not in report.error and report.new == 0
        assert report.line == f"{report.source.url}: FAILED: {report.error}"
        row = source(db, source_id)
        assert row.last_error == report.error
        assert row.consecutive_failures == 1 and row.last_success_at is None
        assert row.last_fetch_at == clock() and health(row) == "error"
    assert source(db, news).consecutive_failures == 0
    assert {i.source_id for i in items(db).values()} == {news, events}

    collect(db, settings, clock)
    collect(db, settings, clock)
    assert {source(db, s).consecutive_failures for s in failing} == {3}
    assert {health(source(db, s)) for s in failing} == {"failing"}

    missing = next(s for s, why in failing.items() if why == "HTTP 404")
    http_server.routes["/missing.xml"] = Route(rss([RssItem(title="Back", guid="back")]))
    collect(db, settings, clock)
    row = source(db, missing)
    assert (row.consecutive_failures, row.last_error, row.last_status) == (0, None, 200)
    assert health(row) == "ok"


def test_a_script_in_a_feed_never_reaches_the_database(
    db: Database, settings: Settings, clock: Clock, http_server: FeedHttpServer
) -> None:
    serve(db, http_server, clock, "/news.xml", route=Route(fixture_feed("news.rss")))
    hostile = RssItem(
        title="Hostile <script>alert('t')</script> item",
        guid="hostile",
        description=(
            "<p>Text</p><SCRIPT SRC=https://evil.example/x.js></SCRIPT>"
            "<svg onload=alert(3)></svg><style>body{display:none}</style>"
            '<a href="javascript:alert(4)" onmouseover="alert(5)">link</a>'
        ),
    )
    serve(db, http_server, clock, "/hostile.xml", route=Route(rss([hostile])))

    reports = collect(db, settings, clock)

    assert all(r.error is None for r in reports)
    stored = items(db)
    assert len(stored) == 4
    for item in stored.values():
        for text in (item.title, item.summary, item.link):
            lowered = text.lower()
            for bad in ("<script", "alert(", "onerror", "onclick", "onload", "javascript:"):
                assert bad not in lowered, (item.guid, text)
            assert "<iframe" not in lowered and "<style" not in lowered
    assert stored["news-3"].title == "Twinning round opens"
    assert "<em>resume</em>" in stored["news-3"].summary
    assert "<p>Text</p>" in stored["hostile"].summary


def test_an_internal_error_is_one_line_for_the_operator_and_a_traceback_in_the_log(
    db: Database,
    settings: Settings,
    clock: Clock,
    http_server: FeedHttpServer,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    news = serve(db, http_server, clock, "/news.xml", route=Route(fixture_feed("news.rss")))
    hostile = serve(db, http_server, clock, "/page.html", route=Route(b"<html></html>"))

    def broken_store(*args: object, **kwargs: object) -> tuple[int, int]:
        raise ValueError("a bug in storing")

    monkeypatch.setattr(digest.collect, "store_entries", broken_store)
    with caplog.at_level(logging.DEBUG, logger="digest.collect"):
        reports = by_source(collect(db, settings, clock))

    # A bug is said apart from what a feed did wrong, on one line ...
    assert reports[news].error == "internal error: ValueError: a bug in storing"
    feed_error = reports[hostile].error
    assert feed_error is not None and not feed_error.startswith("internal error")
    assert source(db, news).last_error == "internal error: ValueError: a bug in storing"
    # ... and its traceback is in the log, for `digest --debug collect` and the scheduler.
    [record] = [r for r in caplog.records if r.exc_info]
    assert record.levelno == logging.ERROR and news_url(db, news) in record.getMessage()
    assert record.exc_info is not None and isinstance(record.exc_info[1], ValueError)


def test_an_internal_error_while_fetching_is_logged(
    db: Database,
    settings: Settings,
    clock: Clock,
    http_server: FeedHttpServer,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    news = serve(db, http_server, clock, "/news.xml", route=Route(fixture_feed("news.rss")))

    async def broken_fetch(*args: object, **kwargs: object) -> None:
        raise KeyError("a bug in fetching")

    monkeypatch.setattr(digest.collect.fetch, "fetch_one", broken_fetch)
    with caplog.at_level(logging.DEBUG, logger="digest.collect"):
        [report] = collect(db, settings, clock)

    assert report.error == "internal error: KeyError: 'a bug in fetching'"
    [record] = [r for r in caplog.records if r.exc_info]
    assert record.exc_info is not None and isinstance(record.exc_info[1], KeyError)
    assert news_url(db, news) in record.getMessage()


def news_url(db: Database, source_id: int) -> str:
    return source(db, source_id).source.url
