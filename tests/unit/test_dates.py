"""Dates and deadlines in prose, in English, French, German, Spanish and Italian."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from digest.collect.dates import deadline_phrase, find_date, find_deadline, month_number
from digest.collect.parse import entry_from_text
from digest.model import ParseOptions, SourceKind
from tests.support.clock import NOW


def day(year: int, month: int, d: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, d, hour, minute, tzinfo=UTC)


# (phrase, deadline it announces) — a date-only deadline is that day's start here; the
# parser's caller makes it the end of the day.
DEADLINES = [
    # English
    ("Submit your interest before 15 January 2027", day(2027, 1, 15)),
    ("Apply by 15 January 2027.", day(2027, 1, 15)),
    ("Open until 3 February 2027", day(2027, 2, 3)),
    ("Send it no later than 1 March 2027", day(2027, 3, 1)),
    ("Deadline: 22/10/2027", day(2027, 10, 22)),
    ("Deadline for proposal submission: 13 December 2027", day(2027, 12, 13)),
    ("Deadline - 2027-01-02", day(2027, 1, 2)),
    ("Applications close by Friday, 15th January 2027", day(2027, 1, 15)),
    ("Apply by January 15, 2027", day(2027, 1, 15)),
    ("Apply before March 12", day(2027, 3, 12)),
    ("Register by 5 pm on 15 January 2027", day(2027, 1, 15)),
    ("Deadline: 15 January 2027 at 14:00", day(2027, 1, 15, 14)),
    ("Closing date: 2nd Feb 2027", day(2027, 2, 2)),
    ("Deadline: 10–12 March 2027", day(2027, 3, 12)),
    ("deadline 31 December", day(2026, 12, 31)),
    # French
    ("Candidatures jusqu'au 1er mars 2027", day(2027, 3, 1)),
    ("À envoyer avant le 15 janvier 2027", day(2027, 1, 15)),
    ("Date limite : 28 février 2027", day(2027, 2, 28)),
    ("Date limite : vendredi 15 janv. 2027", day(2027, 1, 15)),
    ("au plus tard le 3 décembre 2027", day(2027, 12, 3)),
    ("Clôture des inscriptions le 20 avril 2027", day(2027, 4, 20)),
    # German
    ("Bewerbung bis zum 15. Januar 2027", day(2027, 1, 15)),
    ("Einsendeschluss: 3. Mai 2027", day(2027, 5, 3)),
    ("Frist: 1. März 2027", day(2027, 3, 1)),
    ("spätestens am Freitag, 15. Januar 2027", day(2027, 1, 15)),
    ("Anmeldung bis 12. Dez. 2027", day(2027, 12, 12)),
    ("Frist: 30. Okt 2027", day(2027, 10, 30)),
    # Spanish
    ("Inscripciones antes del 15 de enero de 2027", day(2027, 1, 15)),
    ("Plazo: 3 de marzo de 2027", day(2027, 3, 3)),
    ("Fecha límite: 30 de septiembre de 2027", day(2027, 9, 30)),
    ("hasta el viernes 15 de enero de 2027", day(2027, 1, 15)),
    ("plazo: 5 ago 2027", day(2027, 8, 5)),
    ("a más tardar el 1 de dic. de 2027", day(2027, 12, 1)),
    # Italian
    ("Candidature entro il 15 gennaio 2027", day(2027, 1, 15)),
    ("Scadenza: 3 maggio 2027", day(2027, 5, 3)),
    ("fino al 30 giugno 2027", day(2027, 6, 30)),
    ("Scadenza: venerdì 1° ottobre 2027", day(2027, 10, 1)),
    ("entro il 7 lug 2027", day(2027, 7, 7)),
    ("Termine: 12 set 2027", day(2027, 9, 12)),
]

# (phrase, start, end) of an event written in its title or summary.
EVENT_DATES = [
    ("Workshop, 12–14 March 2027, Lyon", day(2027, 3, 12), day(2027, 3, 14)),
    ("Conference March 12-14, 2027", day(2027, 3, 12), day(2027, 3, 14)),
    ("Summit March 12-14", day(2027, 3, 12), day(2027, 3, 14)),
    ("From 28 February – 2 March 2027", day(2027, 2, 28), day(2027, 3, 2)),
    ("Webinar on Friday, 15 January 2027, 14:00", day(2027, 1, 15, 14), None),
    ("Webinar Jan. 15, 2027 at 2pm", day(2027, 1, 15, 14), None),
    ("Meetup on the 15th of January", day(2027, 1, 15), None),
    ("Réunion le mardi 9 février 2027 à 18h30", day(2027, 2, 9, 18, 30), None),
    ("Treffen am 9. Februar 2027 um 10:00", day(2027, 2, 9, 10), None),
    ("Jornada el 9 de febrero de 2027 a las 18:30", day(2027, 2, 9, 18, 30), None),
    ("Convegno il 9 febbraio 2027 alle ore 9:30", day(2027, 2, 9, 9, 30), None),
    ("Kickoff 2027-02-09T10:00:00+01:00", day(2027, 2, 9, 9), None),
    ("Day one: 10/03/2027", day(2027, 3, 10), None),
]

NOT_DATES = [
    "",
    "Apply whenever you like",
    "The deadline is flexible",
    "Deadline: soon",
    "Submit your interest before mid-January",
    "We have 3 set of 5 tools",
    "Version 2.14.1 released",
    "Call 0800 123 4567 by phone",
    "Up 12-14 percent in March",
    "Read 15 pages by Friday",
    "Room 1/2/3 is booked",
    "It may 2 times as fast",
]


@pytest.mark.parametrize(("text", "expected"), DEADLINES)
def test_deadline_phrases_are_read(text: str, expected: datetime) -> None:
    found = find_deadline(text, now=NOW)
    assert found is not None, text
    assert found.start == expected


@pytest.mark.parametrize(("text", "start", "end"), EVENT_DATES)
def test_event_dates_and_ranges_are_read(text: str, start: datetime, end: datetime | None) -> None:
    found = find_date(text, now=NOW)
    assert found is not None, text
    assert (found.start, found.end) == (start, end)


@pytest.mark.parametrize("text", NOT_DATES)
def test_phrases_without_a_date_give_none(text: str) -> None:
    assert find_deadline(text, now=NOW) is None
    assert find_date(text, now=NOW) is None


def test_the_source_day_order_decides_numeric_dates() -> None:
    assert find_date("on 03/04/2027", dayfirst=True) is not None
    assert find_date("on 03/04/2027", dayfirst=True).start == day(2027, 4, 3)  # type: ignore[union-attr]
    assert find_date("on 03/04/2027", dayfirst=False).start == day(2027, 3, 4)  # type: ignore[union-attr]


def test_a_yearless_date_long_past_is_next_years() -> None:
    found = find_date("on 2 March", now=datetime(2026, 11, 23, tzinfo=UTC))
    assert found is not None and found.start == day(2027, 3, 2)
    recent = find_date("on 20 November", now=datetime(2026, 11, 23, tzinfo=UTC))
    assert recent is not None and recent.start == day(2026, 11, 20)


def test_times_are_read_in_the_source_zone() -> None:
    found = find_date("15 January 2027, 14:00", tz="Europe/Paris")
    assert found is not None and found.start == day(2027, 1, 15, 13) and found.has_time


def test_a_yearless_abbreviation_is_no_date() -> None:
    assert find_date("3 set", now=NOW) is None
    assert find_date("3 set 2027", now=NOW) is not None


@pytest.mark.parametrize(
    ("name", "number"),
    [("Févr.", 2), ("fevrier", 2), ("März", 3), ("Mrz", 3), ("août", 8), ("dic.", 12)],
)
def test_month_names_with_accents_and_abbreviations(name: str, number: int) -> None:
    assert month_number(name) == number


def test_an_unread_deadline_phrase_is_kept_for_the_editor() -> None:
    text = "Great call.\nSubmit your interest before mid-January. More below."
    assert deadline_phrase(text) == "before mid-January"
    options = ParseOptions(kind=SourceKind.CALLS, now=NOW)
    entry = entry_from_text(options, title="Call for papers", link="https://x.test/c", body=text)
    assert entry.deadline is None
    assert entry.needs_review == "no deadline found: “before mid-January”"


def test_a_call_before_a_date_gets_the_end_of_that_day() -> None:
    options = ParseOptions(kind=SourceKind.CALLS, now=NOW, timezone="Europe/Paris")
    entry = entry_from_text(
        options,
        title="Open call",
        link="https://x.test/c",
        body="Submit your interest before 15 January 2027",
    )
    assert entry.needs_review is None
    assert entry.deadline == datetime(2027, 1, 15, 22, 59, 59, tzinfo=UTC)


def test_an_event_range_in_the_text_gives_start_and_end() -> None:
    options = ParseOptions(kind=SourceKind.EVENTS, now=NOW)
    entry = entry_from_text(
        options, title="Forum 12–14 March 2027", link="https://x.test/e", body=""
    )
    assert (entry.event_start, entry.event_end) == (day(2027, 3, 12), day(2027, 3, 14))
