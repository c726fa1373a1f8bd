"""Cleaning feed text (titles, summaries, dates, deadlines) and parsing feeds into entries."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from digest.collect.clean import end_of_day
from digest.collect.parse import find_deadline, parse_feed
from digest.errors import CollectError
from digest.model import Entry, Fetched, ItemKind, ParseOptions, SourceKind
from digest.text import parse_datetime, plain_text, sanitize_summary

FEED_URL = "https://example.org/feeds/events.xml"


# --- plain_text -------------------------------------------------------------------------


def test_plain_text_strips_tags_entities_and_line_breaks() -> None:
    markup = "<p>Fish &amp; <b>Chips</b>\r\n  at&nbsp;the\tpier &#8211; &lt;today&gt;</p>"
    assert plain_text(markup) == "Fish & Chips at the pier – <today>"


def test_plain_text_drops_script_and_style_content() -> None:
    markup = "Hello<script>alert('x')</script><style>p{color:red}</style> world"
    assert plain_text(markup) == "Hello world"


def test_plain_text_has_no_cr_or_lf() -> None:
    text = plain_text("one\r\ntwo\rthree\nfour<br>five")
    assert "\r" not in text and "\n" not in text
    assert text == "one two three four five"


def test_plain_text_keeps_paragraphs_and_list_items_apart() -> None:
    markup = "<p>First.</p><p>Second.</p><ul><li>one</li><li>two</li></ul><h2>Next</h2>"
    assert plain_text(markup) == "First. Second. one two Next"
    # Inline elements do not split a word.
    assert plain_text("<b>Ch</b>ips and <em>fish</em>") == "Chips and fish"


# --- sanitize_summary -------------------------------------------------------------------


def test_summary_drops_script_with_its_content() -> None:
    clean = sanitize_summary("<p>Hi</p><script>alert(1)</script>", 400)
    assert "script" not in clean.lower()
    assert "alert" not in clean
    assert "<p>Hi</p>" in clean


def test_summary_drops_event_handlers_and_style_attributes() -> None:
    markup = (
        '<p onclick="steal()" style="color:red">Text</p>'
        '<img src="x" onerror="steal()"><b onmouseover="steal()">bold</b>'
    )
    clean = sanitize_summary(markup, 400)
    assert "onclick" not in clean
    assert "onerror" not in clean
    assert "onmouseover" not in clean
    assert "style" not in clean
    assert "steal" not in clean
    assert "<img" not in clean
    assert "<p>Text</p>" in clean
    assert "<b>bold</b>" in clean


def test_summary_drops_iframes_and_forms() -> None:
    markup = (
        '<p>Before</p><iframe src="https://evil.example/"></iframe>'
        '<form action="https://evil.example/"><input name="pw"><button>Go</button></form>'
    )
    clean = sanitize_summary(markup, 400)
    for tag in ("<iframe", "<form", "<input", "<button", "evil.example"):
        assert tag not in clean
    assert "<p>Before</p>" in clean


def test_summary_drops_javascript_urls_and_keeps_https_links() -> None:
    markup = (
        '<a href="javascript:alert(1)">bad</a> '
        '<a href="JaVaScRiPt:alert(2)">bad too</a> '
        '<a href="https://example.org/story">good</a>'
    )
    clean = sanitize_summary(markup, 400)
    assert "javascript" not in clean.lower()
    assert "alert" not in clean
    hrefs = re.findall(r'href="([^"]*)"', clean)
    assert hrefs == ["https://example.org/story"]
    assert ">good</a>" in clean


def test_long_summary_is_cut_at_a_word_boundary_with_an_ellipsis() -> None:
    words = [f"word{n}" for n in range(100)]
    markup = '<p><a href="https://example.org/">' + " ".join(words) + "</a></p>"
    cut = sanitize_summary(markup, 60)
    assert cut.endswith("…")
    assert len(cut) <= 60
    body = cut.removesuffix("…")
    # Only whole words, in their order, from the start.
    assert body.split(" ") == words[: len(body.split(" "))]
    assert len(body) > 30


def test_long_summary_never_leaves_a_tag_open() -> None:
    markup = "<p><strong>" + "lorem ipsum dolor " * 40 + "</strong></p><ul><li>x</li></ul>"
    cut = sanitize_summary(markup, 100)
    assert "<" not in cut and ">" not in cut
    assert cut.endswith("…")


def test_long_summary_does_not_glue_paragraphs_together() -> None:
    markup = "<p>First paragraph.</p><p>Second paragraph.</p>" + "<p>more words</p>" * 40
    cut = sanitize_summary(markup, 60)
    # Cut after the last whole sentence that fits, with the paragraphs kept apart.
    assert cut == "First paragraph. Second paragraph."


def test_long_summary_keeps_text_escaped() -> None:
    markup = "<p>" + "a &lt;b&gt; &amp; c " * 50 + "</p>"
    cut = sanitize_summary(markup, 80)
    assert "<b>" not in cut
    assert "&lt;b&gt;" in cut


def test_short_summary_keeps_its_markup() -> None:
    markup = '<p>Short <em>and</em> <a href="https://example.org/">linked</a>.</p>'
    clean = sanitize_summary(markup, 400)
    assert "<em>and</em>" in clean
    assert 'href="https://example.org/"' in clean


# --- parse_datetime ---------------------------------------------------------------------


def test_iso_date_is_year_month_day_never_day_first() -> None:
    assert parse_datetime("2026-12-06") == datetime(2026, 12, 6, tzinfo=UTC)


def test_iso_timestamp_with_offset_becomes_utc() -> None:
    parsed = parse_datetime("2026-12-06T10:30:00+02:00")
    assert parsed == datetime(2026, 12, 6, 8, 30, tzinfo=UTC)
    assert parsed is not None and parsed.utcoffset() is not None
    assert parsed.tzinfo == UTC


def test_rfc_822_date() -> None:
    assert parse_datetime("Tue, 10 Jun 2003 04:00:00 GMT") == datetime(
        2003, 6, 10, 4, 0, tzinfo=UTC
    )
    assert parse_datetime("Wed, 02 Oct 2002 15:00:00 +0200") == datetime(
        2002, 10, 2, 13, 0, tzinfo=UTC
    )


def test_slashed_date_is_day_first() -> None:
    assert parse_datetime("08/11/2017") == datetime(2017, 11, 8, tzinfo=UTC)


def test_naive_time_is_read_in_the_given_zone() -> None:
    assert parse_datetime("2026-07-01 12:00", tz="Europe/Lisbon") == datetime(
        2026, 7, 1, 11, 0, tzinfo=UTC
    )


@pytest.mark.parametrize("value", ["", "not a date", "soon", "32/13/2017"])
def test_not_a_date_is_none(value: str) -> None:
    assert parse_datetime(value) is None


def test_end_of_day_is_the_last_second_in_the_zone() -> None:
    day = datetime(2026, 7, 1, tzinfo=UTC)
    assert end_of_day(day) == datetime(2026, 7, 1, 23, 59, 59, tzinfo=UTC)
    assert end_of_day(day, "Europe/Lisbon") == datetime(2026, 7, 1, 22, 59, 59, tzinfo=UTC)


# --- find_deadline ----------------------------------------------------------------------


def test_deadline_day_first_with_slashes() -> None:
    assert find_deadline(None, "Apply now. Deadline: 22/10/2017. Good luck") == datetime(
        2017, 10, 22, 23, 59, 59, tzinfo=UTC
    )


def test_deadline_with_words_before_the_colon_and_a_month_name() -> None:
    text = "Funding call\nDeadline for proposal submission: 13 December 2017\nMore text"
    assert find_deadline(None, text) == datetime(2017, 12, 13, 23, 59, 59, tzinfo=UTC)


def test_deadline_iso_date_is_not_read_day_first() -> None:
    assert find_deadline(None, "Deadline - 2027-01-02") == datetime(
        2027, 1, 2, 23, 59, 59, tzinfo=UTC
    )


def test_structured_deadline_wins_over_the_text() -> None:
    found = find_deadline("2027-01-22T12:00:00Z", "Deadline: 01/01/2027")
    assert found == datetime(2027, 1, 22, 12, 0, tzinfo=UTC)


def test_structured_date_only_deadline_means_end_of_that_day() -> None:
    assert find_deadline("2027-01-22", "") == datetime(2027, 1, 22, 23, 59, 59, tzinfo=UTC)


def test_unparseable_structured_deadline_falls_back_to_the_text() -> None:
    found = find_deadline("when ready", "Deadline: 5 March 2027")
    assert found == datetime(2027, 3, 5, 23, 59, 59, tzinfo=UTC)


@pytest.mark.parametrize(
    "text", ["", "Apply whenever you like", "The deadline is flexible", "Deadline: soon"]
)
def test_no_deadline_is_none(text: str) -> None:
    assert find_deadline(None, text) is None


# --- parse_feed -------------------------------------------------------------------------


def fetched(body: str, url: str = FEED_URL, content_type: str = "application/rss+xml") -> Fetched:
    return Fetched(url=url, status=200, body=body.encode("utf-8"), content_type=content_type)


def rss(items: str) -> str:
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n'
        '<rss version="2.0" xmlns:ev="http://purl.org/rss/1.0/modules/event/">\n'
        "<channel><title>Feed</title><link>https://example.org/</link>"
        f"<description>Test feed</description>\n{items}\n</channel></rss>\n"
    )


EVENTS_FEED = rss(
    """
<item>
  <title>Winter &amp; Summit</title>
  <link>/events/summit</link>
  <guid isPermaLink="false">summit-2026</guid>
  <description>&lt;p&gt;Join us &lt;script&gt;alert(1)&lt;/script&gt;in Lisbon&lt;/p&gt;
  </description>
  <pubDate>Tue, 10 Nov 2026 09:00:00 GMT</pubDate>
  <ev:startdate>2026-12-06T09:00:00Z</ev:startdate>
  <ev:enddate>2026-12-07T17:00:00Z</ev:enddate>
  <ev:location>Lisbon, Portugal</ev:location>
</item>
<item>
  <title>Date to be announced</title>
  <link>https://example.org/events/tba</link>
  <guid isPermaLink="false">tba</guid>
  <description>Soon.</description>
</item>
"""
)


def test_event_feed_gives_start_end_and_location() -> None:
    entries = parse_feed(
        fetched(EVENTS_FEED), ParseOptions(kind=SourceKind.EVENTS, summary_chars=400)
    )
    assert len(entries) == 2
    summit = entries[0]
    assert summit.kind is ItemKind.EVENT
    assert summit.title == "Winter & Summit"
    assert summit.event_start == datetime(2026, 12, 6, 9, 0, tzinfo=UTC)
    assert summit.event_end == datetime(2026, 12, 7, 17, 0, tzinfo=UTC)
    assert summit.location == "Lisbon, Portugal"
    assert summit.published_at == datetime(2026, 11, 10, 9, 0, tzinfo=UTC)
    assert summit.needs_review is None
    assert "script" not in summit.summary and "alert" not in summit.summary
    assert "Join us" in summit.summary


def test_event_without_a_start_needs_review() -> None:
    tba = parse_feed(fetched(EVENTS_FEED), ParseOptions(kind=SourceKind.EVENTS, summary_chars=400))[
        1
    ]
    assert tba.event_start is None
    assert tba.location is None
    assert tba.needs_review is not None
    assert "start" in tba.needs_review


def test_relative_links_are_resolved_against_the_feed_url() -> None:
    summit = parse_feed(
        fetched(EVENTS_FEED), ParseOptions(kind=SourceKind.EVENTS, summary_chars=400)
    )[0]
    assert summit.link == "https://example.org/events/summit"


CALLS_FEED = rss(
    """
<item>
  <title>Research grants</title>
  <link>https://example.org/calls/grants</link>
  <description>Apply for funding. Deadline: 22/10/2027.</description>
</item>
<item>
  <title>Open-ended call</title>
  <link>https://example.org/calls/open</link>
  <description>Apply whenever you like.</description>
</item>
"""
)


def test_call_deadline_is_found_in_the_text() -> None:
    grants = parse_feed(
        fetched(CALLS_FEED), ParseOptions(kind=SourceKind.CALLS, summary_chars=400)
    )[0]
    assert grants.kind is ItemKind.CALL
    assert grants.deadline == datetime(2027, 10, 22, 23, 59, 59, tzinfo=UTC)
    assert grants.needs_review is None


def test_call_without_a_deadline_needs_review() -> None:
    open_ended = parse_feed(
        fetched(CALLS_FEED), ParseOptions(kind=SourceKind.CALLS, summary_chars=400)
    )[1]
    assert open_ended.deadline is None
    assert open_ended.needs_review is not None
    assert "deadline" in open_ended.needs_review


def test_news_entries_have_no_event_or_call_fields() -> None:
    entries = parse_feed(
        fetched(EVENTS_FEED), ParseOptions(kind=SourceKind.NEWS, summary_chars=400)
    )
    assert all(isinstance(entry, Entry) for entry in entries)
    assert [entry.kind for entry in entries] == [ItemKind.NEWS, ItemKind.NEWS]
    assert all(entry.event_start is None and entry.needs_review is None for entry in entries)


def test_long_summaries_are_cut_to_the_setting() -> None:
    feed = rss(
        "<item><title>Long</title><link>https://example.org/long</link>"
        f"<description>{'many words here ' * 50}</description></item>"
    )
    entry = parse_feed(fetched(feed), ParseOptions(kind=SourceKind.NEWS, summary_chars=50))[0]
    assert len(entry.summary) <= 50
    assert entry.summary.endswith("…")


def test_an_html_page_is_not_a_feed() -> None:
    page = (
        "<!DOCTYPE html>\n<html><head><title>Welcome</title></head>"
        "<body><h1>Our site</h1><p>No feed here.</p></body></html>\n"
    )
    with pytest.raises(CollectError, match="not a feed"):
        parse_feed(
            fetched(page, content_type="text/html"),
            ParseOptions(kind=SourceKind.NEWS, summary_chars=400),
        )


def test_an_empty_feed_has_no_entries() -> None:
    assert parse_feed(fetched(rss("")), ParseOptions(kind=SourceKind.NEWS, summary_chars=400)) == []


def test_tracking_parameters_are_dropped_from_item_and_summary_links() -> None:
    from digest.collect.clean import clean_link
    from digest.links import strip_tracking

    assert strip_tracking("https://e.org/a?utm_source=x&id=3&UTM_Medium=y&fbclid=z") == (
        "https://e.org/a?id=3"
    )
    assert strip_tracking("https://e.org/a") == "https://e.org/a"
    assert clean_link("/a?utm_campaign=c", "https://e.org/") == "https://e.org/a"
    summary = sanitize_summary('<p><a href="https://e.org/p?utm_source=feed&page=2">x</a></p>', 400)
    assert 'href="https://e.org/p?page=2"' in summary and "utm_" not in summary


def test_a_long_summary_is_cut_after_a_sentence_when_one_ends_late_enough() -> None:
    from digest.text import cut_at_word

    text = "The first sentence ends here. The second sentence runs on well past the limit."
    assert cut_at_word(text, 50) == "The first sentence ends here."
    assert cut_at_word("Short. " + "word " * 30, 60).endswith("…")
