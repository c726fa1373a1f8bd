"""Rendering an issue: template errors name file and line, HTML is safe, text stands alone."""

from __future__ import annotations

import dataclasses
import re
import shutil
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from digest.errors import RenderError
from digest.model import IssuePlan, ItemKind, QueuedItem, RenderedIssue
from digest.render import compile_mjml, make_environment, render_issue
from digest.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
TRICKY_TITLE = 'Fish & Chips <b>bold</b> "quoted" > all'

MakeSettings = Callable[..., Settings]


def item(
    item_id: int,
    kind: ItemKind,
    title: str,
    summary: str = "",
    *,
    event_start: datetime | None = None,
    deadline: datetime | None = None,
) -> QueuedItem:
    return QueuedItem(
        id=item_id,
        kind=kind,
        title=title,
        link=f"https://example.org/{kind}/{item_id}",
        summary=summary,
        published_at=NOW - timedelta(days=1),
        event_start=event_start,
        deadline=deadline,
    )


def full_plan() -> IssuePlan:
    return IssuePlan(
        number=12,
        date=NOW,
        news=(
            item(
                1,
                ItemKind.NEWS,
                TRICKY_TITLE,
                '<p>Hello <script>alert("pwned")</script><a href="https://example.org/x">'
                'link</a><img src="x" onerror="alert(2)"></p>',
            ),
        ),
        events=(item(2, ItemKind.EVENT, "Winter summit", event_start=NOW + timedelta(days=13)),),
        calls=(item(3, ItemKind.CALL, "Research grants", deadline=NOW + timedelta(days=30)),),
    )


@pytest.fixture
def settings(make_settings: MakeSettings) -> Settings:
    # A neutral preheader: the default one names every section, which would hide an omission.
    return make_settings(
        newsletter_preheader="This week from {{ name }}.", newsletter_language="pt"
    )


@pytest.fixture
def rendered(settings: Settings) -> RenderedIssue:
    return render_issue(full_plan(), settings)


def broken_templates(tmp_path: Path, partial: str, old: str, new: str) -> Path:
    folder = tmp_path / "templates"
    shutil.copytree(ROOT / "templates", folder)
    path = folder / "partials" / partial
    source = path.read_text(encoding="utf-8")
    assert old in source
    path.write_text(source.replace(old, new, 1), encoding="utf-8")
    return folder


def line_of(folder: Path, partial: str, needle: str) -> int:
    lines = (folder / "partials" / partial).read_text(encoding="utf-8").splitlines()
    return next(n for n, line in enumerate(lines, 1) if needle in line)


def test_template_syntax_error_names_the_file_and_line(settings: Settings, tmp_path: Path) -> None:
    folder = broken_templates(tmp_path, "news.mjml.j2", "{{ item.title }}", "{{ item.title + }}")
    line = line_of(folder, "news.mjml.j2", "{{ item.title + }}")
    with pytest.raises(RenderError) as caught:
        render_issue(full_plan(), settings, make_environment(settings, folder))
    assert re.search(rf"news\.mjml\.j2:{line}\b", str(caught.value)), str(caught.value)


def test_unknown_variable_names_the_file_and_line(settings: Settings, tmp_path: Path) -> None:
    folder = broken_templates(
        tmp_path, "events.mjml.j2", "{{ item.title }}</a>", "{{ no_such_variable }}</a>"
    )
    line = line_of(folder, "events.mjml.j2", "no_such_variable")
    with pytest.raises(RenderError) as caught:
        render_issue(full_plan(), settings, make_environment(settings, folder))
    message = str(caught.value)
    assert f"events.mjml.j2:{line}" in message
    assert "no_such_variable" in message


def test_unknown_attribute_names_the_file_and_line(settings: Settings, tmp_path: Path) -> None:
    folder = broken_templates(
        tmp_path, "calls.mjml.j2", "item.deadline|longdate", "item.closing_date|longdate"
    )
    line = line_of(folder, "calls.mjml.j2", "closing_date")
    with pytest.raises(RenderError) as caught:
        render_issue(full_plan(), settings, make_environment(settings, folder))
    assert f"calls.mjml.j2:{line}" in str(caught.value)


def test_invalid_mjml_from_a_template_is_a_render_error(settings: Settings, tmp_path: Path) -> None:
    folder = broken_templates(tmp_path, "footer.mjml.j2", "</mj-section>", "")
    with pytest.raises(RenderError, match="MJML"):
        render_issue(full_plan(), settings, make_environment(settings, folder))


@pytest.mark.parametrize("source", ["", "not mjml at all", "<mjml><mj-body><mj-section>"])
def test_invalid_mjml_is_a_render_error(source: str) -> None:
    with pytest.raises(RenderError, match="MJML"):
        compile_mjml(source)


def test_templates_without_the_unsubscribe_link_are_refused(
    settings: Settings, tmp_path: Path
) -> None:
    folder = broken_templates(
        tmp_path, "footer.mjml.j2", "{{ links.unsubscribe }}", "https://example.org/"
    )
    with pytest.raises(RenderError, match="unsubscribe"):
        render_issue(full_plan(), settings, make_environment(settings, folder))


def test_script_in_a_summary_never_reaches_the_html(rendered: RenderedIssue) -> None:
    lowered = rendered.html.lower()
    assert "pwned" not in rendered.html
    assert "onerror" not in lowered
    assert '<img src="x"' not in lowered
    assert "alert(" not in lowered
    # The harmless part of the summary survives, link included.
    assert 'href="https://example.org/x"' in rendered.html
    assert "pwned" not in rendered.text


def test_titles_are_escaped_in_html_and_verbatim_in_text(rendered: RenderedIssue) -> None:
    assert "Fish &amp; Chips &lt;b&gt;bold&lt;/b&gt;" in rendered.html
    assert "<b>bold</b>" not in rendered.html
    assert TRICKY_TITLE in rendered.text.splitlines()
    assert "&amp;" not in rendered.text
    assert "&lt;" not in rendered.text


def test_all_three_sections_appear_in_order(rendered: RenderedIssue) -> None:
    html_positions = [
        rendered.html.index(h) for h in ("Latest news", "Upcoming events", "Open calls")
    ]
    assert html_positions == sorted(html_positions)
    text_positions = [
        rendered.text.index(h) for h in ("LATEST NEWS", "UPCOMING EVENTS", "OPEN CALLS")
    ]
    assert text_positions == sorted(text_positions)
    assert "Winter summit" in rendered.html and "Winter summit" in rendered.text
    assert "Deadline: 23 December 2026" in rendered.text


def test_sections_without_items_are_omitted(settings: Settings) -> None:
    plan = IssuePlan(number=3, date=NOW, news=full_plan().news)
    result = render_issue(plan, settings)
    assert "LATEST NEWS" in result.text
    for heading in ("upcoming events", "open calls"):
        assert heading not in result.html.lower()
        assert heading not in result.text.lower()


def test_html_has_lang_and_both_placeholders(rendered: RenderedIssue) -> None:
    assert re.search(r'<html[^>]*\blang="pt"', rendered.html)
    marks = rendered.placeholders
    assert f'href="{marks.unsubscribe}"' in rendered.html
    assert f'href="{marks.preferences}"' in rendered.html
    assert marks.unsubscribe in rendered.text
    assert marks.preferences in rendered.text


def test_text_part_is_written_for_text_not_derived_from_html(rendered: RenderedIssue) -> None:
    assert "LATEST NEWS\n===========" in rendered.text
    assert "LATEST NEWS" not in rendered.html
    assert "<" not in rendered.text.replace(TRICKY_TITLE, "")
    assert "Read more: https://example.org/news/1" in rendered.text
    assert all(len(line) <= 78 for line in rendered.text.splitlines() if " " in line)


def test_subject_and_preheader_come_from_the_settings(rendered: RenderedIssue) -> None:
    assert rendered.subject == "Digest #12 – 23 November 2026"
    assert rendered.preheader == "This week from Digest."
    assert "This week from Digest." in rendered.html


def test_subject_stays_on_one_line(make_settings: MakeSettings) -> None:
    settings = make_settings(newsletter_subject="{{ name }}\n#{{ number }}\r\n{{ date }}")
    result = render_issue(full_plan(), settings)
    assert result.subject == "Digest #12 23 November 2026"


def test_unknown_variable_in_the_subject_names_the_setting(make_settings: MakeSettings) -> None:
    settings = make_settings(newsletter_subject="{{ nme }} #{{ number }}")
    with pytest.raises(RenderError, match=r"newsletter\.subject"):
        render_issue(full_plan(), settings)


# Issue 13: event times, recurring events, items without a URL, links in the text part,
# the intro and spotlight in Markdown.


def event_at(
    item_id: int, title: str, start: datetime, end: datetime | None = None, link: str = "x"
) -> QueuedItem:
    return QueuedItem(
        id=item_id,
        kind=ItemKind.EVENT,
        title=title,
        link=f"https://example.org/events/{item_id}" if link else "",
        summary="",
        published_at=NOW,
        event_start=start,
        event_end=end,
        location="Brussels",
    )


def test_event_times_show_in_the_newsletter_time_zone(make_settings: MakeSettings) -> None:
    settings = make_settings(newsletter_timezone="Europe/Brussels")
    webinar = event_at(1, "Webinar", datetime(2026, 12, 15, 13, 0, tzinfo=UTC))  # 14:00 CET
    fair = event_at(  # all day, 15-16 December in Brussels
        2,
        "Fair",
        datetime(2026, 12, 14, 23, 0, tzinfo=UTC),
        datetime(2026, 12, 16, 22, 59, 59, tzinfo=UTC),
    )
    talk = event_at(
        3,
        "Talk",
        datetime(2026, 12, 17, 9, 30, tzinfo=UTC),
        datetime(2026, 12, 17, 11, 0, tzinfo=UTC),
    )
    issue = render_issue(IssuePlan(number=1, date=NOW, events=(webinar, fair, talk)), settings)
    for part in (issue.html, issue.text):
        assert "15 December 2026, 14:00" in part
        assert "15–16 December 2026 · Brussels" in part  # all day: the dates only
        assert "17 December 2026, 10:30–12:00" in part


def test_a_weekly_recurring_event_is_listed_once_with_weekly(settings: Settings) -> None:
    from digest.compose.plan import plan_issue
    from digest.settings import ComposeSettings

    start = datetime(2026, 11, 26, 15, 0, tzinfo=UTC)
    occurrences = [  # as a calendar's series is collected: one item per occurrence
        dataclasses.replace(event_at(10 + n, "Open office hour", start), id=10 + n)
        for n in range(3)
    ]
    occurrences = [
        dataclasses.replace(
            o, event_start=start + timedelta(days=7 * n), link="https://example.org/office-hour"
        )
        for n, o in enumerate(occurrences)
    ]
    other = event_at(20, "Forum", start + timedelta(days=2))
    plan = plan_issue(
        [*occurrences, other], number=1, now=NOW, cfg=ComposeSettings(lookahead_days=90)
    )
    assert [e.id for e in plan.events] == [10, 20]  # the series once, at its next date
    issue = render_issue(plan, settings)
    for part in (issue.html, issue.text):
        assert part.count("Open office hour") == 1
        assert "weekly from 26 November 2026, 15:00" in part


def test_irregular_series_lists_its_dates(settings: Settings) -> None:
    from digest.compose.plan import SeriesItem

    first = event_at(1, "Clinic", datetime(2026, 12, 1, 0, 0, tzinfo=UTC))
    dates = (
        first.event_start,
        datetime(2026, 12, 3, tzinfo=UTC),
        datetime(2026, 12, 9, tzinfo=UTC),
    )
    fields = {f.name: getattr(first, f.name) for f in dataclasses.fields(first)}
    series = SeriesItem(**fields, dates=tuple(d for d in dates if d is not None))
    issue = render_issue(IssuePlan(number=1, date=NOW, events=(series,)), settings)
    assert "1 December, 3 December, 9 December 2026" in issue.text


def test_an_event_or_call_without_url_has_no_empty_link_nor_blank_lines(
    settings: Settings,
) -> None:
    event = event_at(1, "Local meetup", NOW + timedelta(days=3), link="")
    call = dataclasses.replace(
        item(2, ItemKind.CALL, "Quiet call", deadline=NOW + timedelta(days=9)), link=""
    )
    issue = render_issue(IssuePlan(number=1, date=NOW, events=(event,), calls=(call,)), settings)
    assert 'href=""' not in issue.html
    assert "Local meetup" in issue.html and "Quiet call" in issue.html
    events = issue.text.split("UPCOMING EVENTS")[1].split("--\n")[0]
    assert "\n\n\n" not in events
    lines = events.split("\n")
    meetup = lines.index("Local meetup")
    assert lines[meetup + 1].startswith("26 November 2026")
    assert lines[meetup + 2] == ""  # the blank line separates items, never an empty link
    assert "OPEN CALLS" in lines[meetup + 3 :]


def test_event_and_call_titles_look_like_links(rendered: RenderedIssue) -> None:
    for title in ("Winter summit", "Research grants"):
        anchor = re.search(r"<a [^>]*>" + title, rendered.html)
        assert anchor is not None and "text-decoration:underline" in anchor.group(0)


def test_links_in_summaries_keep_their_urls_in_the_text_part(settings: Settings) -> None:
    story = item(
        1,
        ItemKind.NEWS,
        "Story",
        '<p>Read the <a href="https://example.org/report">full report</a> and the '
        '<a href="https://example.org/annex">annex</a>.</p>',
    )
    issue = render_issue(IssuePlan(number=1, date=NOW, news=(story,)), settings)
    assert "Read the full report [1] and the annex [2]." in issue.text
    assert "[1] https://example.org/report\n[2] https://example.org/annex\n" in issue.text


def test_read_more_follows_every_summary_at_the_same_gap(settings: Settings) -> None:
    plain = item(1, ItemKind.NEWS, "Plain", "Just text, no paragraph.")
    para = item(2, ItemKind.NEWS, "Para", "<p>One paragraph.</p>")
    html = render_issue(IssuePlan(number=1, date=NOW, news=(plain, para)), settings).html
    assert re.search(r"<p [^>]*margin:0 0 10px 0[^>]*>Just text, no paragraph.</p>", html)
    read_more = re.findall(r'padding:([^;"]+)[^>]*><div[^>]*><a href="[^"]+"[^>]*>Read more', html)
    assert len(read_more) == 2 and len(set(read_more)) == 1


def test_intro_and_spotlight_are_markdown_sanitized(settings: Settings) -> None:
    from digest.model import Spotlight

    intro = (
        "We have **two** things.\n\n<script>alert(1)</script>\n\n"
        '[bad](javascript:alert(2)) and <a href="javascript:alert(3)">worse</a> '
        "and [good](https://example.org/good)."
    )
    spotlight = Spotlight(kind="quote", text="Clusters *matter*.", by="A. Person")
    plan = IssuePlan(
        number=1,
        date=NOW,
        news=(item(1, ItemKind.NEWS, "Story"),),
        intro=intro,
        spotlight=spotlight,
    )
    issue = render_issue(plan, settings)
    assert "<strong>two</strong>" in issue.html
    assert "<em>matter</em>" in issue.html
    assert "<script" not in issue.html and "alert(1)" not in issue.html
    assert 'href="javascript' not in issue.html  # the link is gone; its words may stay
    assert re.search(r'<a [^>]*href="https://example.org/good"', issue.html)
    assert "**" not in issue.text and "We have two things." in issue.text
    assert "good [1]" in issue.text and "[1] https://example.org/good" in issue.text
    assert '"Clusters matter."' in issue.text
    assert "alert(1)" not in issue.text and "alert(3)" not in issue.text
