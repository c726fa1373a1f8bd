"""Collecting iCalendar and JSON Feed sources from a real local HTTP server into SQLite and
PostgreSQL, through the library and through `digest sources check/add` and `digest collect`."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import func, select

from digest.cli import cli
from digest.collect import collect
from digest.collect.sources import add_source
from digest.db.engine import Database
from digest.db.schema import Item, Source
from digest.model import ItemState, SourceKind, SourceReport
from digest.settings import Settings
from tests.support.clock import NOW, Clock, fixed
from tests.support.http import ALLOW_LOOPBACK, ALLOW_LOOPBACK_TOML, FeedHttpServer, Route
from tests.support.keys import TEST_SECRET_KEY

CALENDAR = "text/calendar; charset=utf-8"
JSON_FEED = "application/feed+json"


def ics(*events: str, header: str = "") -> bytes:
    """A VCALENDAR around `events` (the lines inside each VEVENT), with CRLF line ends."""
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//digest tests//EN"]
    lines += header.strip().splitlines()
    for event in events:
        lines += ["BEGIN:VEVENT", *event.strip().splitlines(), "END:VEVENT"]
    lines.append("END:VCALENDAR")
    return ("\r\n".join(line.strip() for line in lines) + "\r\n").encode()


def json_feed(*items: dict[str, object]) -> bytes:
    return json.dumps(
        {
            "version": "https://jsonfeed.org/version/1.1",
            "title": "Example",
            "home_page_url": "https://example.org/",
            "items": list(items),
        }
    ).encode()


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


# The clock fixture says Monday 23 November 2026, 08:00 UTC.
FORUM = """
UID:forum-2026@example.org
DTSTAMP:20261101T000000Z
DTSTART;TZID=Europe/Berlin:20261205T090000
DTEND;TZID=Europe/Berlin:20261205T170000
SUMMARY:Regions & Clusters Forum
LOCATION:Lyon
URL:https://example.org/events/forum
DESCRIPTION:Talks and <script>alert(1)</script> workshops.
"""
CLINIC = """
UID:clinic@example.org
DTSTAMP:20261101T000000Z
DTSTART:20261102T100000Z
DTEND:20261102T113000Z
RRULE:FREQ=WEEKLY;COUNT=8
SUMMARY:Export clinic
"""
PAST = """
UID:past@example.org
DTSTAMP:20261101T000000Z
DTSTART:20261110T100000Z
SUMMARY:Already over
"""
MOVED_CLINIC = """
UID:clinic@example.org
DTSTAMP:20261120T000000Z
RECURRENCE-ID:20261207T100000Z
DTSTART:20261208T150000Z
DTEND:20261208T160000Z
SUMMARY:Export clinic (Tuesday this week)
"""
NEWS = json_feed(
    {
        "id": "js-1",
        "url": "/news/port",
        "title": "Port partnership signed",
        "content_html": "<p>Three <strong>clusters</strong> join.</p>",
        "date_published": "2026-11-22T14:30:00+01:00",
    },
    {"id": "js-2", "url": "news/survey", "title": "Survey", "content_text": "a<b & c"},
)


def items(db: Database) -> dict[str, Item]:
    with db.session() as session:
        return {i.guid or "": i for i in session.scalars(select(Item))}


def count(db: Database, table: type[Item] | type[Source]) -> int:
    with db.session() as session:
        return int(session.scalar(select(func.count()).select_from(table)) or 0)


def by_url(reports: list[SourceReport]) -> dict[str, SourceReport]:
    return {r.source.url: r for r in reports}


@pytest.fixture
def settings(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings(**ALLOW_LOOPBACK)


def test_calendar_and_json_feed_sources_are_collected(
    db: Database, settings: Settings, clock: Clock, http_server: FeedHttpServer
) -> None:
    http_server.routes["/events.ics"] = Route(ics(FORUM, CLINIC, PAST), content_type=CALENDAR)
    http_server.routes["/news.json"] = Route(NEWS, content_type=JSON_FEED)
    cal_url, news_url = http_server.url("/events.ics"), http_server.url("/news.json")
    add_source(db, cal_url, SourceKind.EVENTS, "Calendar", clock())
    add_source(db, news_url, SourceKind.NEWS, "JSON", clock())

    reports = by_url(collect(db, settings, clock))

    calendar, news = reports[cal_url], reports[news_url]
    # Five clinics are left in the window (23 Nov to 21 Dec) plus the forum; the past one
    # is not read at all.
    assert (calendar.error, calendar.status, calendar.found, calendar.new) == (None, 200, 6, 6)
    assert (news.error, news.found, news.new) == (None, 2, 2)
    stored = items(db)
    assert "past@example.org" not in stored
    forum = stored["forum-2026@example.org"]
    assert forum.kind == "event" and forum.state == ItemState.QUEUED
    assert (forum.event_start, forum.event_end) == (utc(2026, 12, 5, 8), utc(2026, 12, 5, 16))
    assert forum.event_start is not None and forum.event_start.utcoffset() is not None
    assert forum.title == "Regions & Clusters Forum"
    assert forum.location == "Lyon" and forum.link == "https://example.org/events/forum"
    assert "<script" not in forum.summary and "&lt;script&gt;" in forum.summary
    clinics = sorted(
        (i for i in stored.values() if i.guid and i.guid.startswith("clinic@")),
        key=lambda i: i.event_start or clock(),
    )
    assert [c.event_start for c in clinics] == [
        utc(2026, 11, 23, 10),
        utc(2026, 11, 30, 10),
        utc(2026, 12, 7, 10),
        utc(2026, 12, 14, 10),
        utc(2026, 12, 21, 10),
    ]
    port, survey = stored["js-1"], stored["js-2"]
    assert port.kind == "news" and port.link == "https://example.org/news/port"
    assert port.published_at == utc(2026, 11, 22, 13, 30)
    assert port.summary == "<p>Three <strong>clusters</strong> join.</p>"
    assert survey.summary == "<p>a&lt;b &amp; c</p>"
    assert survey.published_at == clock()  # none given: first seen
    with db.session() as session:
        rows = {s.url: s for s in session.scalars(select(Source))}
    assert rows[cal_url].items_found == 6 and rows[cal_url].etag
    assert rows[news_url].last_status == 200 and rows[news_url].consecutive_failures == 0


def test_a_calendar_collected_again_adds_nothing_and_edits_update_their_rows(
    db: Database, settings: Settings, clock: Clock, http_server: FeedHttpServer
) -> None:
    # No ETag: the calendar is sent in full every time, so every collect parses it again.
    route = Route(ics(FORUM, CLINIC), content_type=CALENDAR, etag=False)
    http_server.routes["/events.ics"] = route
    add_source(db, http_server.url("/events.ics"), SourceKind.EVENTS, "", clock())

    [first] = collect(db, settings, clock)
    before = items(db)
    clock.advance(hours=1)
    [again] = collect(db, settings, clock)

    assert (first.new, first.found) == (6, 6)
    assert (again.error, again.status, again.found, again.new, again.updated) == (
        None,
        200,
        6,
        0,
        0,
    )
    assert {g: i.id for g, i in items(db).items()} == {g: i.id for g, i in before.items()}

    # The forum moves to Lyon's other venue an hour later; one clinic moves to Tuesday.
    route.body = ics(
        FORUM.replace("LOCATION:Lyon", "LOCATION:Lyon, Cité Centre").replace("T09", "T10"),
        CLINIC,
        MOVED_CLINIC,
    )
    clock.advance(hours=1)
    [edited] = collect(db, settings, clock)

    assert (edited.error, edited.found, edited.new, edited.updated) == (None, 6, 0, 2)
    after = items(db)
    assert count(db, Item) == 6
    forum = after["forum-2026@example.org"]
    assert forum.id == before["forum-2026@example.org"].id
    assert forum.location == "Lyon, Cité Centre"
    assert forum.event_start == utc(2026, 12, 5, 9)
    assert forum.updated_at == clock()
    moved = after["clinic@example.org#2026-12-07T10:00:00+00:00"]
    assert moved.id == before["clinic@example.org#2026-12-07T10:00:00+00:00"].id
    assert moved.event_start == utc(2026, 12, 8, 15)
    assert moved.title == "Export clinic (Tuesday this week)"


def test_an_unchanged_calendar_answers_304_and_is_not_parsed(
    db: Database, settings: Settings, clock: Clock, http_server: FeedHttpServer
) -> None:
    http_server.routes["/events.ics"] = Route(ics(FORUM), content_type=CALENDAR)
    add_source(db, http_server.url("/events.ics"), SourceKind.EVENTS, "", clock())

    collect(db, settings, clock)
    [again] = collect(db, settings, clock)

    assert (again.status, again.found, again.new, again.error) == (304, 0, 0, None)
    assert http_server.requests[-1].headers.get("If-None-Match")
    assert count(db, Item) == 1


def test_a_broken_calendar_is_reported_and_the_others_are_collected(
    db: Database, settings: Settings, clock: Clock, http_server: FeedHttpServer
) -> None:
    http_server.routes["/broken.ics"] = Route(
        b"BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\n", content_type=CALENDAR
    )
    http_server.routes["/news.json"] = Route(NEWS, content_type=JSON_FEED)
    broken = add_source(db, http_server.url("/broken.ics"), SourceKind.EVENTS, "", clock())
    add_source(db, http_server.url("/news.json"), SourceKind.NEWS, "", clock())

    reports = {r.source.id: r for r in collect(db, settings, clock)}

    error = reports[broken.id].error
    assert error is not None
    assert error.startswith("not a valid calendar")
    assert count(db, Item) == 2
    with db.session() as session:
        row = session.get_one(Source, broken.id)
        assert row.consecutive_failures == 1 and row.last_error


# --- through the command line (on the real clock) ---------------------------------------


def write_config(tmp_path: Path, db_url: str) -> Path:
    path = tmp_path / "digest.toml"
    path.write_text(
        f'[database]\nurl = "{db_url}"\n'
        f'[security]\nsecret_key = "{TEST_SECRET_KEY}"\n'
        "[collect]\ntimeout_seconds = 2.0\n" + ALLOW_LOOPBACK_TOML,
        encoding="utf-8",
    )
    return path


def invoke(config: Path, *args: str) -> Result:
    result = CliRunner().invoke(cli, ["--config", str(config), *args], obj=fixed)
    assert result.exit_code == 0, (args, result.output, result.exception)
    return result


@pytest.fixture
def config(tmp_path: Path, db: Database, db_url: str) -> Path:
    return write_config(tmp_path, db_url)


def test_sources_check_prints_a_calendars_events_and_stores_nothing(
    config: Path, db: Database, http_server: FeedHttpServer
) -> None:
    start = (NOW + timedelta(days=10)).replace(hour=9, minute=0, second=0)
    http_server.routes["/events.ics"] = Route(
        ics(
            f"""
            UID:check@example.org
            DTSTART:{start:%Y%m%dT%H%M%SZ}
            SUMMARY:Checked event
            """,
            f"""
            UID:weekly@example.org
            DTSTART:{start + timedelta(days=1):%Y%m%dT%H%M%SZ}
            RRULE:FREQ=WEEKLY;COUNT=3
            SUMMARY:Weekly meetup
            """,
        ),
        content_type=CALENDAR,
    )
    url = http_server.url("/events.ics")

    out = invoke(config, "sources", "check", url, "--kind", "events").output

    assert f"event  {start:%Y-%m-%d} 09:00  Checked event" in out
    assert out.count("Weekly meetup") == 3
    assert f"{url}: 4 entries would be queued (nothing was stored)" in out
    assert count(db, Item) == 0 and count(db, Source) == 0


def test_sources_check_reports_a_broken_calendar(
    config: Path, db: Database, http_server: FeedHttpServer
) -> None:
    http_server.routes["/broken.ics"] = Route(b"BEGIN:VCALENDAR\r\n", content_type=CALENDAR)
    url = http_server.url("/broken.ics")

    result = CliRunner().invoke(
        cli, ["--config", str(config), "sources", "check", url, "--kind", "events"], obj=fixed
    )

    assert result.exit_code != 0
    assert "not a valid calendar" in str(result.exception)
    assert count(db, Item) == 0


@pytest.mark.parametrize(
    ("order", "deadline"),
    [("mdy", datetime(2027, 11, 8, 23, 59, 59)), ("dmy", datetime(2027, 8, 11, 23, 59, 59))],
)
def test_date_order_decides_how_a_deadline_is_read(
    config: Path, db: Database, http_server: FeedHttpServer, order: str, deadline: datetime
) -> None:
    http_server.routes["/calls.json"] = Route(
        json_feed(
            {
                "id": "call-1",
                "url": "https://example.org/calls/1",
                "title": "Open call for pilots",
                "content_text": "Apply online.\n\nDeadline: 11/08/2027",
            }
        ),
        content_type=JSON_FEED,
    )
    url = http_server.url("/calls.json")

    invoke(config, "sources", "add", url, "--kind", "calls", "--date-order", order)
    invoke(config, "collect")
    [call] = json.loads(invoke(config, "items", "list", "--json").output)

    assert call["kind"] == "call" and call["needs_review"] is None
    stored = datetime.fromisoformat(call["deadline"])
    assert stored.astimezone(UTC) == deadline.replace(tzinfo=UTC)
