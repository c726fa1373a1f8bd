"""The lint of a rendered issue: each check fires on crafted HTML and stays quiet on clean
HTML; the caniemail lookup; SpamAssassin's report parsed; a real rendered issue is clean."""

from __future__ import annotations

import email
import email.policy
import importlib.resources
import json
import re
from collections.abc import Callable

import pytest

from digest.lint import Finding, Level, LintReport, lint_issue
from digest.lint.caniemail import (
    DATA_FILE,
    ENHANCEMENTS,
    LICENSE_FILE,
    MAJOR_CLIENTS,
    READER_MISSES,
    support_data,
    unsupported_in,
)
from digest.lint.checks import (
    GMAIL_CLIP_BYTES,
    SIZE_WARNING_BYTES,
    empty_text_sections,
    is_local_host,
)
from digest.lint.features import feature_uses, selector_slugs
from digest.lint.slugs import KNOWN_SLUGS
from digest.lint.spam import NOT_INSTALLED, SpamReport, SpamRule, parse_report, spam_findings
from digest.model import Recipient
from digest.render import render_issue
from digest.send.message import build_template
from digest.send.personalize import Personalizer
from digest.settings import Settings
from tests.support.plans import DATE, fixed_plan

BASE = "https://news.example.org"
TEXT = """Digest

LATEST NEWS
===========

A story
https://example.org/a

--
Unsubscribe: https://news.example.org/unsubscribe/x
"""


def page(body: str = "", head: str = "") -> str:
    """A small issue: one section with one item, then `body`."""
    return (
        f"<html><head><title>t</title>{head}</head><body>"
        '<div class="card"><div class="section-heading">Latest news</div>'
        '<div class="item-title"><a href="https://example.org/a">A story</a></div></div>'
        f"{body}"
        f'<p><a href="{BASE}/unsubscribe/x">Unsubscribe</a></p></body></html>'
    )


def lint(html: str, text: str = TEXT, base_url: str = BASE) -> LintReport:
    return lint_issue(html, text, base_url=base_url)


def findings(report: LintReport, check: str) -> list[Finding]:
    return [f for f in report.findings if f.check == check]


def test_clean_html_has_no_findings() -> None:
    report = lint(page())
    assert report.findings == ()
    assert report.ok


# --- size -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("size", "level"),
    [
        (SIZE_WARNING_BYTES - 1, None),
        (SIZE_WARNING_BYTES, Level.WARNING),
        (GMAIL_CLIP_BYTES - 1, Level.WARNING),
        (GMAIL_CLIP_BYTES, Level.ERROR),
    ],
)
def test_size_warns_from_90_kb_and_fails_at_gmails_clipping(size: int, level: Level | None) -> None:
    html = page()
    html = html.replace("</body>", "<p>" + "x" * (size - len(html) - 7) + "</p></body>")
    assert len(html.encode()) == size
    report = lint(html)
    assert report.html_bytes == size
    assert [f.level for f in findings(report, "size")] == ([level] if level else [])


def test_size_counts_bytes_not_characters() -> None:
    html = page("<p>" + "é" * 50_000 + "</p>")  # 100,000 bytes of UTF-8 for 50,000 characters
    assert [f.level for f in findings(lint(html), "size")] == [Level.WARNING]


# --- alt text ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("image", "errors"),
    [
        ('<img src="https://example.org/a.png">', 1),
        ('<img src="https://example.org/a.png" alt="">', 0),  # decorative
        ('<img src="https://example.org/a.png" alt="A chart of members">', 0),
        ('<a href="https://example.org/"><img src="https://example.org/a.png" alt=""></a>', 1),
        ('<a href="https://example.org/"><img src="https://example.org/a.png" alt=" "></a>', 1),
        ('<a href="https://example.org/"><img src="https://example.org/a.png" alt="">Home</a>', 0),
        ('<a href="https://example.org/"><img src="https://example.org/l.png" alt="Logo"></a>', 0),
    ],
)
def test_images_need_alt_text_unless_decorative(image: str, errors: int) -> None:
    found = findings(lint(page(image)), "alt")
    assert len(found) == errors
    assert all(f.level is Level.ERROR and "<img" in f.snippet for f in found)


# --- links ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("href", "level"),
    [
        ("https://example.org/x", None),
        ("mailto:editor@example.org", None),
        ("tel:+3212345678", None),
        ("http://example.org/x", Level.WARNING),
        ("http://127.0.0.1:8123/feed-page", Level.WARNING),
        ("https://localhost/x", Level.WARNING),
        ("/programmes/twinning", Level.ERROR),
        ("", Level.ERROR),
        ("javascript:alert(1)", Level.ERROR),
        ("file:///etc/passwd", Level.ERROR),
    ],
)
def test_links(href: str, level: Level | None) -> None:
    found = findings(lint(page(f'<p><a href="{href}">x</a></p>')), "links")
    assert [f.level for f in found] == ([level] if level else [])
    assert all(f.snippet for f in found)


def test_http_images_and_http_links_in_the_text_part_are_warnings() -> None:
    html = page('<img src="http://example.org/logo.png" alt="Logo">')
    text = TEXT.replace("https://example.org/a", "http://example.net/b")
    found = findings(lint(html, text), "links")
    assert {(f.level, f.snippet) for f in found} == {
        (Level.WARNING, "http://example.org/logo.png"),
        (Level.WARNING, "http://example.net/b"),
    }
    assert any("image" in f.message for f in found)


def test_a_placeholder_left_in_the_message_is_an_error() -> None:
    html = page('<p><a href="%%PREFERENCES_URL%%">Preferences</a></p>')
    text = TEXT + "Unsubscribe: %%UNSUBSCRIBE_URL%%\n"
    found = findings(lint(html, text), "links")
    assert {f.snippet for f in found} == {"%%PREFERENCES_URL%%", "%%UNSUBSCRIBE_URL%%"}
    assert all(f.level is Level.ERROR for f in found)


@pytest.mark.parametrize(
    ("base_url", "level"),
    [
        ("https://news.example.org", None),
        ("http://127.0.0.1:8000", Level.WARNING),
        ("http://localhost:8000/digest", Level.WARNING),
        ("https://digest.internal", Level.WARNING),
        ("http://news.example.org", Level.ERROR),
    ],
)
def test_base_url_links_get_one_finding_for_base_url(base_url: str, level: Level | None) -> None:
    html = page(
        f'<p><a href="{base_url}/archive/1">Web version</a> '
        f'<a href="{base_url}/preferences/abc">Preferences</a></p>'
    )
    text = TEXT + f"Unsubscribe: {base_url}/unsubscribe/abc\n"
    found = findings(lint(html, text, base_url=base_url), "links")
    assert [f.level for f in found] == ([level] if level else [])
    if level:
        assert "base_url is not public https" in found[0].message
        assert found[0].snippet == base_url


@pytest.mark.parametrize(
    ("host", "local"),
    [
        ("127.0.0.1", True),
        ("::1", True),
        ("10.1.2.3", True),
        ("192.168.1.10", True),
        ("localhost", True),
        ("intranet", True),
        ("mail.local", True),
        ("example.org", False),
        ("93.184.216.34", False),
    ],
)
def test_local_hosts(host: str, local: bool) -> None:
    assert is_local_host(host) is local


# --- sections -------------------------------------------------------------------------------


def test_a_section_heading_without_items_is_an_error() -> None:
    html = page(
        '<div class="card"><div class="section-heading">Open calls</div>'
        '<p style="border-top:2px solid #000"></p></div>'
    )
    found = findings(lint(html), "sections")
    assert [(f.level, f.snippet) for f in found] == [(Level.ERROR, "Open calls")]


def test_an_issue_without_items_is_an_error() -> None:
    html = "<html><body><p>Nothing this week.</p></body></html>"
    found = findings(lint(html), "sections")
    assert [f.message for f in found] == ["the issue has no items"]


def test_a_section_of_other_content_than_items_is_not_empty() -> None:
    spotlight = (
        '<div class="card"><div class="section-heading">Quote of the week</div>'
        "<div><p>Clusters are how regions learn.</p></div></div>"
    )
    assert findings(lint(page(spotlight)), "sections") == []


def test_an_empty_section_in_the_text_part_is_an_error() -> None:
    text = TEXT.replace("--\n", "OPEN CALLS\n==========\n\n\n--\n")
    assert empty_text_sections(text) == ["OPEN CALLS"]
    found = findings(lint(page(), text), "sections")
    assert [(f.level, f.snippet) for f in found] == [(Level.ERROR, "OPEN CALLS")]
    assert empty_text_sections(TEXT) == []


# --- caniemail ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "slug", "level"),
    [
        (
            '<form action="https://example.org/s"><input type="text" name="q"></form>',
            "html-form",
            "error",
        ),
        ('<video src="https://example.org/v.mp4"></video>', "html-video", "error"),
        ('<img src="https://example.org/photo.webp" alt="A photo">', "image-webp", "error"),
        ('<div style="position: fixed; top: 0">Banner</div>', "css-position", "warning"),
        ('<div style="display: flex">Row</div>', "css-display-flex", "warning"),
        ('<p style="opacity: 0.5">Faded</p>', "css-opacity", "warning"),
    ],
)
def test_unsupported_features_are_found(body: str, slug: str, level: str) -> None:
    assert unsupported_in(slug)[0], f"the data no longer marks {slug} unsupported"
    found = [f for f in findings(lint(page(body)), "caniemail") if slug in f.message]
    assert len(found) == 1, lint(page(body)).findings
    assert found[0].level == level
    assert found[0].snippet


def test_font_face_in_a_style_block_is_a_warning() -> None:
    head = "<style>@font-face { font-family: Brand; src: url(https://example.org/b.woff2) }</style>"
    found = findings(lint(page(head=head)), "caniemail")
    assert [f.level for f in found if "css-at-font-face" in f.message] == [Level.WARNING]


def test_progressive_enhancements_are_ignored_with_a_reason() -> None:
    head = (
        "<style>@media (prefers-color-scheme: dark) { .card > div { color: #fff !important } }"
        "</style>"
    )
    preheader = '<div style="display:none;max-height:0;overflow:hidden;opacity:0">Preview</div>'
    report = lint(page(preheader, head))
    assert findings(report, "caniemail") == []
    ignored = {i.feature: i.reason for i in report.ignored}
    for slug in (
        "css-at-media-prefers-color-scheme",
        "css-selector-child",
        "css-opacity",
        "css-display-none",
    ):
        assert ignored.get(slug), slug


def test_initial_values_are_ignored_but_other_values_are_not() -> None:
    head = "<style>img { height: auto; outline: none }</style>"
    report = lint(page(head=head))
    assert findings(report, "caniemail") == []
    assert {"css-height", "css-outline"} <= {i.feature for i in report.ignored}
    report = lint(page('<p style="outline: 2px solid red">x</p>'))
    assert [f.level for f in findings(report, "caniemail")] == [Level.WARNING]


def test_features_inside_comments_are_not_read() -> None:
    body = "<!--[if mso]><form><video></video></form><![endif]-->"
    assert findings(lint(page(body)), "caniemail") == []


def test_selector_features() -> None:
    assert selector_slugs(".a > b, #c:hover::before") >= {
        "css-selector-grouping",
        "css-selector-class",
        "css-selector-child",
        "css-selector-type",
        "css-selector-id",
        "css-pseudo-class-hover",
        "css-pseudo-element-before",
    }
    assert "css-selector-chaining" in selector_slugs(".a.b")
    assert "css-selector-chaining" not in selector_slugs("td.b")
    assert "css-selector-universal" in selector_slugs("* + p")
    assert "css-selector-universal" not in selector_slugs(".a")


def test_css_values_units_and_functions() -> None:
    uses = {u.slug for u in feature_uses('<p style="width: calc(100% - 2rem); color: var(--x)">')}
    assert {"css-width", "css-unit-calc", "css-unit-rem", "css-unit-percent"} <= uses
    assert "css-variables" in uses


def test_the_shipped_data_covers_what_is_detected_and_names_its_source() -> None:
    data = support_data()
    assert tuple(data["clients"]) == MAJOR_CLIENTS
    assert set(data["features"]) == KNOWN_SLUGS
    assert re.fullmatch(r"[0-9a-f]{40}", data["source_commit"])
    assert set(ENHANCEMENTS) | READER_MISSES <= KNOWN_SLUGS
    for feature in data["features"].values():
        assert set(feature["stats"]) <= set(MAJOR_CLIENTS)
        # Only the current (newest) result of each platform is shipped.
        assert all(len(v) == 1 for p in feature["stats"].values() for v in p.values())
    files = importlib.resources.files("digest.lint")
    assert "MIT License" in (files / LICENSE_FILE).read_text(encoding="utf-8")
    assert json.loads((files / DATA_FILE).read_text(encoding="utf-8")) == data


# --- a real rendered issue -------------------------------------------------------------------

SAMPLE = Recipient(
    delivery_id=0, subscriber_id=7, email="reader@example.com", name="A Reader", message_id="<x@y>"
)


def personalized(settings: Settings) -> tuple[str, str]:
    """The golden issue as the sample subscriber receives it: (html, text)."""
    rendered = render_issue(fixed_plan(), settings)
    template = build_template(
        settings=settings,
        subject=rendered.subject,
        html_body=rendered.html,
        text_body=rendered.text,
        number=42,
        placeholders=rendered.placeholders,
        date=DATE,
    )
    raw = Personalizer(template, settings).message(SAMPLE)
    message = email.message_from_bytes(raw, policy=email.policy.default)
    parts = {p.get_content_type(): p.get_content() for p in message.walk() if not p.is_multipart()}
    return parts["text/html"], parts["text/plain"]


def test_the_rendered_issue_is_clean(make_settings: Callable[..., Settings]) -> None:
    settings = make_settings(
        newsletter_base_url=BASE,
        newsletter_logo_url="https://example.org/logo.png",
        newsletter_postal_address="1 Example Street, Example City",
    )
    html, text = personalized(settings)
    report = lint_issue(html, text, base_url=settings.newsletter.base_url)
    assert report.findings == (), [f.line for f in report.findings]
    assert report.html_bytes < SIZE_WARNING_BYTES


def test_the_default_base_url_is_one_warning(make_settings: Callable[..., Settings]) -> None:
    settings = make_settings()
    html, text = personalized(settings)
    report = lint_issue(html, text, base_url=settings.newsletter.base_url)
    assert [(f.check, f.level) for f in report.findings] == [("links", Level.WARNING)]
    assert report.ok


# --- SpamAssassin's report ------------------------------------------------------------------

REPORT = """X-Spam-Checker-Version: SpamAssassin 4.0.1 (2024-03-25) on vm
X-Spam-Status: No, score=0.7 required=5.0 tests=HTML_FONT_LOW_CONTRAST,

Content analysis details:   (0.7 points, 5.0 required)

 pts rule name              description
---- ---------------------- --------------------------------------------------
-0.0 NO_RELAYS              Informational: message was not relayed via SMTP
 0.7 HTML_FONT_LOW_CONTRAST BODY: HTML font color similar or identical to
                            background
 0.0 HTML_MESSAGE           BODY: HTML included in message

--=_boundary--
"""


def test_the_report_is_parsed() -> None:
    report = parse_report(REPORT)
    assert (report.score, report.required, report.version) == (0.7, 5.0, "4.0.1")
    assert [(r.name, r.points) for r in report.rules] == [
        ("NO_RELAYS", -0.0),
        ("HTML_FONT_LOW_CONTRAST", 0.7),
        ("HTML_MESSAGE", 0.0),
    ]
    assert report.rules[1].description.endswith("identical to background")


def spam(score: float) -> SpamReport:
    rules = (SpamRule(name="SOME_RULE", points=score, description="d"),)
    return SpamReport(score=score, required=5.0, rules=rules, command="spamassassin -t -L")


def test_spam_scores_become_findings() -> None:
    assert spam_findings(spam(0.0)) == ()
    assert spam_findings(spam(-0.5)) == ()
    (warning,) = spam_findings(spam(0.7))
    assert warning.level is Level.WARNING and "SOME_RULE +0.7" in warning.snippet
    (error,) = spam_findings(spam(6.1))
    assert error.level is Level.ERROR
    (missing,) = spam_findings(None)
    assert missing.level is Level.WARNING and missing.message == NOT_INSTALLED
