"""Lint of a rendered issue, as a subscriber receives it: size, alt text, links, empty
sections, features that major email clients do not support, and a spam score.

`lint_issue()` is pure: it reads the final HTML and text of one personalized message (the
placeholders replaced, since the links are part of what is measured and checked) and
returns findings. The decisions, in one place:

- **size**: the UTF-8 bytes of the HTML part, decoded (as the reader's client sees it, not
  quoted-printable). Gmail clips a message whose HTML passes about 102 KB and hides the rest,
  the footer with the unsubscribe link included: an error from 102 KiB, a warning from 90 KiB.
- **alt**: an <img> without an alt attribute is an error. alt="" is how an image says it is
  decorative and is accepted, except for an image that is the only content of a link: that
  link would have no text for screen readers, nor for anyone with images off.
- **links**: http:// is a warning (the link works, but unencrypted); a relative or empty
  link, an unusable scheme (javascript:, data:, file:, ...) and a per-subscriber placeholder
  left in the message are errors. Links under newsletter.base_url (unsubscribe, preferences,
  web version) get one finding for base_url: a warning when it is a local address (a trial
  setup), an error when it is a public http:// address (one-click unsubscribe, RFC 8058 and
  Gmail's and Yahoo's sender rules, needs https). Any other link to a local address is a
  warning: fine in a trial, unreachable for readers.
- **sections**: a section heading with nothing after it in its section, or an issue with no
  items at all, is an error. The HTML is read by the class names the templates give
  sections, headings and items (SECTION_CLASS, SECTION_HEADING_CLASS, ITEM_CLASS); the text
  part by its headings underlined with '='. These four are in digest.lint.checks.
- **caniemail**: see digest.lint.caniemail.
- **contrast** (when asked, see digest.lint.contrast): a text under WCAG's 4.5:1 against
  its background (3:1 for large text), in light or in dark mode, measured in headless
  Chromium, is an error.
- **spam** (when asked, see digest.lint.spam): a SpamAssassin score above 0 is a warning,
  a score at SpamAssassin's own spam threshold an error. A positive score below the
  threshold does not stop delivery, and rule sets change between SpamAssassin versions, so
  it should be looked at, not fail the lint.
"""

from __future__ import annotations

from lxml import html as lxml_html

from digest.lint.caniemail import check_features
from digest.lint.checks import check_alt, check_links, check_sections, check_size
from digest.lint.contrast import ContrastUnavailable, check_contrast
from digest.lint.report import Finding, IgnoredFeature, Level, LintReport

__all__ = [
    "ContrastUnavailable",
    "Finding",
    "IgnoredFeature",
    "Level",
    "LintReport",
    "check_contrast",
    "lint_issue",
]


def lint_issue(html: str, text: str, *, base_url: str) -> LintReport:
    """Every check on one personalized message's HTML and text parts."""
    size = len(html.encode("utf-8"))
    if not html.strip():
        return LintReport(
            findings=(Finding(check="html", level=Level.ERROR, message="the HTML is empty"),),
            html_bytes=0,
        )
    document = lxml_html.document_fromstring(html)
    findings = [
        *check_size(size),
        *check_alt(document),
        *check_links(document, text, base_url),
        *check_sections(document, text),
    ]
    ignored = []
    for verdict in check_features(html):
        if verdict.severity == "ignored":
            ignored.append(
                IgnoredFeature(feature=verdict.slug, clients=verdict.clients, reason=verdict.reason)
            )
            continue
        uses = f"{verdict.uses} use(s), first" if verdict.uses > 1 else "used"
        notes = "".join(f" ({note})" for note in verdict.notes)
        findings.append(
            Finding(
                check="caniemail",
                level=Level(verdict.severity),
                message=f"{verdict.title} ({verdict.url}) is not supported by "
                f"{verdict.clients}{notes}; {uses}",
                snippet=verdict.where,
            )
        )
    return LintReport(findings=tuple(findings), html_bytes=size, ignored=tuple(ignored))
