"""Reading iCalendar sources: time zones, all-day events, recurrences within the look-ahead
window, edited and removed occurrences, broken calendars and hostile text."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from digest.collect.ical import MAX_OCCURRENCES, looks_like_calendar, parse_calendar
from digest.errors import CollectError
from digest.model import Entry, Fetched, ItemKind, ParseOptions, SourceKind

NOW = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)  # a Monday
CAL_URL = "https://example.org/events.ics"


def calendar(*events: str, header: str = "") -> bytes:
    """A VCALENDAR around `events` (each the lines inside one VEVENT), with CRLF line ends."""
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//digest tests//EN"]
    lines += header.strip().splitlines()
    for event in events:
        lines += ["BEGIN:VEVENT", *event.strip().splitlines(), "END:VEVENT"]
    lines.append("END:VCALENDAR")
    return ("\r\n".join(line.strip() for line in lines) + "\r\n").encode()


def parse(
    body: bytes, *, days: int = 90, timezone: str = "UTC", now: datetime = NOW
) -> list[Entry]:
    """Entries of `body`, ordered by start."""
    options = ParseOptions(kind=SourceKind.EVENTS, now=now, lookahead_days=days, timezone=timezone)
    fetched = Fetched(url=CAL_URL, status=200, body=body, content_type="text/calendar")
    entries = parse_calendar(fetched, options)
    return sorted(entries, key=lambda e: (e.event_start or NOW, e.guid or ""))


def utc(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


# Every Monday at 10:00 UTC since 2 November 2026; "now" is Monday 23 November, 08:00.
WEEKLY = """
UID:weekly-clinic@example.org
DTSTAMP:20261101T000000Z
DTSTART:20261102T100000Z
DTEND:20261102T113000Z
RRULE:FREQ=WEEKLY
SUMMARY:Export clinic
"""


def test_a_single_event_with_all_its_fields() -> None:
    body = calendar(
        """
        UID:forum-2026@example.org
        DTSTAMP:20261120T120000Z
        DTSTART:20261205T090000Z
        DTEND:20261206T163000Z
        SUMMARY:Regions & Clusters Forum
        LOCATION:Lyon\\, France
        URL:https://example.org/events/forum
        DESCRIPTION:Two days of talks.\\n\\nRegister by 1 December.
        """
    )

    [entry] = parse(body)

    assert entry.kind is ItemKind.EVENT
    assert entry.title == "Regions & Clusters Forum"
    assert entry.event_start == utc(2026, 12, 5, 9, 0)
    assert entry.event_end == utc(2026, 12, 6, 16, 30)
    assert entry.location == "Lyon, France"
    assert entry.link == "https://example.org/events/forum"
    assert entry.summary == "<p>Two days of talks.</p><p>Register by 1 December.</p>"
    # A one-off event is named by its UID alone, so moving it updates the same item.
    assert entry.guid == "forum-2026@example.org"
    assert entry.published_at == utc(2026, 11, 20, 12, 0)
    assert entry.needs_review is None
    assert entry.event_start.utcoffset() is not None


def test_an_all_day_events_exclusive_end_is_its_last_day() -> None:
    body = calendar(
        """
        UID:fair@example.org
        DTSTART;VALUE=DATE:20261205
        DTEND;VALUE=DATE:20261207
        SUMMARY:Two-day fair
        """
    )

    [entry] = parse(body)

    # 5 and 6 December; DTEND (the 7th) is the first day that is not part of it.
    assert entry.event_start == utc(2026, 12, 5)
    assert entry.event_end == utc(2026, 12, 6, 23, 59, 59)

    [berlin] = parse(body, timezone="Europe/Berlin")
    # A date is a day in the source's zone: midnight in Berlin is 23:00 UTC the day before.
    assert berlin.event_start == utc(2026, 12, 4, 23, 0)
    assert berlin.event_end == utc(2026, 12, 6, 22, 59, 59)


def test_tzid_times_are_converted_to_utc() -> None:
    body = calendar(
        """
        UID:winter@example.org
        DTSTART;TZID=Europe/Berlin:20261205T090000
        DTEND;TZID=Europe/Berlin:20261205T170000
        SUMMARY:Winter meeting
        """,
        """
        UID:summer@example.org
        DTSTART;TZID=Europe/Berlin:20270610T090000
        SUMMARY:Summer meeting
        """,
        """
        UID:new-york@example.org
        DTSTART;TZID=America/New_York:20261210T090000
        SUMMARY:New York meeting
        """,
    )

    winter, ny, summer = parse(body, days=365, timezone="Asia/Tokyo")

    # The TZID wins over the source's own time zone option, and summer time is honoured.
    assert (winter.event_start, winter.event_end) == (utc(2026, 12, 5, 8), utc(2026, 12, 5, 16))
    assert ny.event_start == utc(2026, 12, 10, 14)
    assert summer.event_start == utc(2027, 6, 10, 7)


def test_a_time_zone_defined_in_the_calendar_is_used() -> None:
    body = calendar(
        """
        UID:custom-zone@example.org
        DTSTART;TZID=Office Time:20261205T090000
        SUMMARY:Meeting in a zone the calendar defines itself
        """,
        header="""
        BEGIN:VTIMEZONE
        TZID:Office Time
        BEGIN:STANDARD
        DTSTART:19700101T000000
        TZOFFSETFROM:+0530
        TZOFFSETTO:+0530
        TZNAME:OT
        END:STANDARD
        END:VTIMEZONE
        """,
    )

    [entry] = parse(body)

    assert entry.event_start == utc(2026, 12, 5, 3, 30)


def test_floating_times_are_read_in_the_sources_time_zone() -> None:
    body = calendar(
        """
        UID:floating@example.org
        DTSTART:20261205T090000
        DTEND:20261205T100000
        SUMMARY:Floating
        """
    )

    [in_utc] = parse(body)
    [in_new_york] = parse(body, timezone="America/New_York")

    assert in_utc.event_start == utc(2026, 12, 5, 9)
    assert (in_new_york.event_start, in_new_york.event_end) == (
        utc(2026, 12, 5, 14),
        utc(2026, 12, 5, 15),
    )


def test_x_wr_timezone_gives_floating_times_their_zone() -> None:
    body = calendar(
        """
        UID:xwr-floating@example.org
        DTSTART:20261205T090000
        SUMMARY:Floating, zone from the calendar
        """,
        """
        UID:xwr-utc@example.org
        DTSTART:20261206T090000Z
        SUMMARY:Already in UTC
        """,
        header="X-WR-TIMEZONE:Europe/Berlin",
    )

    floating, in_utc = parse(body, timezone="America/New_York")

    # The calendar's own zone (Google Calendar exports write it) wins over the source option.
    assert floating.event_start == utc(2026, 12, 5, 8)
    # A time given in UTC stays the same instant.
    assert in_utc.event_start == utc(2026, 12, 6, 9)


def test_a_weekly_rule_is_expanded_only_within_the_window() -> None:
    entries = parse(calendar(WEEKLY), days=28)

    # From now (Monday 23 November, 08:00) to now + 28 days (Monday 21 December, 08:00).
    starts = [e.event_start for e in entries]
    assert starts == [
        utc(2026, 11, 23, 10),
        utc(2026, 11, 30, 10),
        utc(2026, 12, 7, 10),
        utc(2026, 12, 14, 10),
    ]
    assert entries[0].event_end == utc(2026, 11, 23, 11, 30)
    guids = [e.guid for e in entries]
    assert len(set(guids)) == len(guids) == 4
    assert guids[0] == "weekly-clinic@example.org#2026-11-23T10:00:00+00:00"
    assert all(e.title == "Export clinic" for e in entries)


def test_exdate_removes_an_occurrence() -> None:
    body = calendar(WEEKLY + "EXDATE:20261130T100000Z\n")

    starts = [e.event_start for e in parse(body, days=28)]

    assert starts == [utc(2026, 11, 23, 10), utc(2026, 12, 7, 10), utc(2026, 12, 14, 10)]


def test_an_edited_occurrence_replaces_the_rules_one() -> None:
    moved = """
    UID:weekly-clinic@example.org
    DTSTAMP:20261115T000000Z
    RECURRENCE-ID:20261207T100000Z
    DTSTART:20261208T150000Z
    DTEND:20261208T160000Z
    SUMMARY:Export clinic (moved to Tuesday)
    LOCATION:Room 2
    """

    entries = parse(calendar(WEEKLY, moved), days=28)

    assert [e.event_start for e in entries] == [
        utc(2026, 11, 23, 10),
        utc(2026, 11, 30, 10),
        utc(2026, 12, 8, 15),
        utc(2026, 12, 14, 10),
    ]
    edited = entries[2]
    assert edited.title == "Export clinic (moved to Tuesday)"
    assert edited.location == "Room 2"
    assert edited.event_end == utc(2026, 12, 8, 16)
    # Named by the slot it was planned in: the item stored for 7 December is updated.
    assert edited.guid == "weekly-clinic@example.org#2026-12-07T10:00:00+00:00"


def test_past_running_and_too_distant_events_are_left_out() -> None:
    body = calendar(
        """
        UID:past@example.org
        DTSTART:20261120T090000Z
        DTEND:20261120T100000Z
        SUMMARY:Last week
        """,
        """
        UID:running@example.org
        DTSTART:20261122T090000Z
        DTEND:20261125T170000Z
        SUMMARY:Started yesterday, still running
        """,
        """
        UID:soon@example.org
        DTSTART:20261123T083000Z
        SUMMARY:In half an hour
        """,
        """
        UID:far@example.org
        DTSTART:20270301T090000Z
        SUMMARY:After the window
        """,
    )

    assert [e.guid for e in parse(body, days=30)] == ["soon@example.org"]
    assert [e.guid for e in parse(body, days=120)] == ["soon@example.org", "far@example.org"]


@pytest.mark.timeout(60)
def test_a_rule_with_too_many_occurrences_is_cut() -> None:
    every_minute = """
    UID:flood@example.org
    DTSTART:20261123T080000Z
    RRULE:FREQ=MINUTELY
    SUMMARY:Flood
    """

    # 129,600 occurrences in the window: expanding them all before cutting took seconds.
    entries = parse(calendar(every_minute))

    assert len(entries) == MAX_OCCURRENCES
    assert len({e.guid for e in entries}) == MAX_OCCURRENCES


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"<!doctype html><html><body>Please log in</body></html>", "not a valid calendar"),
        (b"", "not a valid calendar"),
        (b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nBEGIN:VEVENT\r\nUID:x\r\n", "not a valid calendar"),
        (
            calendar("UID:bad-rule@example.org\nDTSTART:20261201T100000Z\nRRULE:FREQ=SOMETIMES"),
            "calendar cannot be expanded",
        ),
        (
            calendar("UID:bad-date@example.org\nDTSTART:first of December"),
            "calendar cannot be expanded",
        ),
    ],
    ids=["html", "empty", "unterminated", "bad-rule", "bad-date"],
)
def test_a_broken_calendar_is_a_collect_error(body: bytes, message: str) -> None:
    with pytest.raises(CollectError) as caught:
        parse(body)

    text = str(caught.value)
    assert text.startswith(message), text
    assert "\n" not in text


def test_text_is_never_markup() -> None:
    body = calendar(
        """
        UID:hostile@example.org
        DTSTART:20261205T090000Z
        SUMMARY:<b>Bold</b> claims & <script>alert(1)</script>
        LOCATION:<img src=x onerror=alert(1)>Town hall
        DESCRIPTION:Bring <script>alert('x')</script> & <a href="javascript:alert(1)">this</a>
        URL:https://example.org/events/hostile
        """
    )

    [entry] = parse(body)

    # DESCRIPTION is plain text (RFC 5545): shown as written, escaped, never run.
    assert "<script" not in entry.summary and "<a " not in entry.summary
    assert "&lt;script&gt;alert('x')&lt;/script&gt;" in entry.summary
    assert "&amp;" in entry.summary
    assert entry.summary.startswith("<p>") and entry.summary.endswith("</p>")
    assert "<" not in entry.title and "alert" not in entry.title
    assert entry.title.startswith("Bold claims &")
    assert entry.location == "Town hall"


def test_a_long_description_is_cut_to_the_summary_length() -> None:
    words = " ".join(f"word{n}" for n in range(200))
    body = calendar(f"UID:long@example.org\nDTSTART:20261205T090000Z\nDESCRIPTION:{words}")
    options = ParseOptions(kind=SourceKind.EVENTS, now=NOW, summary_chars=80)
    fetched = Fetched(url=CAL_URL, status=200, body=body)

    [entry] = parse_calendar(fetched, options)

    assert len(entry.summary) <= 80 and entry.summary.endswith("…")


def test_calendars_are_recognized_by_type_or_by_their_first_line() -> None:
    body = calendar("UID:x\nDTSTART:20261205T090000Z")
    assert looks_like_calendar(Fetched(url=CAL_URL, status=200, content_type="text/calendar"))
    assert looks_like_calendar(
        Fetched(url=CAL_URL, status=200, body=b"\xef\xbb\xbf\r\n" + body, content_type="text/plain")
    )
    assert not looks_like_calendar(
        Fetched(url=CAL_URL, status=200, body=b"<rss/>", content_type="application/xml")
    )
