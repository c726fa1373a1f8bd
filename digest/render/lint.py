"""Lint of a rendered issue, as a subscriber receives it: size, alt text, links, empty
sections and features that major email clients do not support.

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
  part by its headings underlined with '='.
- **caniemail**: see digest.render.caniemail.
- **spam** (when asked, see digest.render.spam): a SpamAssassin score above 0 is a warning,
  a score at SpamAssassin's own spam threshold an error. A positive score below the
  threshold does not stop delivery, and rule sets change between SpamAssassin versions, so
  it should be looked at, not fail the lint.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, replace
from enum import StrEnum
from typing import Any
from urllib.parse import urlsplit

from lxml import etree
from lxml import html as lxml_html

from digest.render.caniemail import check_features
from digest.render.spam import NOT_INSTALLED, SpamReport

GMAIL_CLIP_BYTES = 102 * 1024
SIZE_WARNING_BYTES = 90 * 1024
SECTION_CLASS = "card"  # the container of one section
SECTION_HEADING_CLASS = "section-heading"
ITEM_CLASS = "item-title"
PLACEHOLDER = re.compile(r"%%[A-Z0-9_]+%%")
TEXT_URL = re.compile(r"\b[a-z][a-z0-9+.-]*://[^\s<>\"']+", re.IGNORECASE)
SAFE_SCHEMES = frozenset(("https", "mailto", "tel"))
LOCAL_SUFFIXES = (".localhost", ".local", ".internal", ".test", ".invalid", ".home.arpa")


class Level(StrEnum):
    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True, slots=True, kw_only=True)
class LintFinding:
    check: str  # html | size | alt | links | sections | caniemail | spam
    level: Level
    message: str
    snippet: str = ""  # the offending element, URL, selector or declaration

    @property
    def line(self) -> str:
        tail = f": {self.snippet}" if self.snippet else ""
        return f"{self.level}: {self.check}: {self.message}{tail}"


@dataclass(frozen=True, slots=True, kw_only=True)
class IgnoredFeature:
    """A feature some major client lacks, used on purpose with a fallback."""

    feature: str
    clients: str
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class LintReport:
    findings: tuple[LintFinding, ...]
    html_bytes: int
    ignored: tuple[IgnoredFeature, ...] = ()

    @property
    def errors(self) -> int:
        return sum(1 for f in self.findings if f.level is Level.ERROR)

    @property
    def warnings(self) -> int:
        return sum(1 for f in self.findings if f.level is Level.WARNING)

    @property
    def ok(self) -> bool:
        """No errors; warnings do not fail a lint."""
        return self.errors == 0

    @property
    def summary(self) -> str:
        kb = self.html_bytes / 1024
        return (
            f"{self.errors} error(s), {self.warnings} warning(s); HTML {self.html_bytes:,} "
            f"bytes ({kb:.1f} KB; Gmail clips at 102 KB); {len(self.ignored)} client "
            "feature(s) ignored as progressive enhancement"
        )

    def with_findings(self, findings: Iterable[LintFinding]) -> LintReport:
        return replace(self, findings=(*self.findings, *findings))

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "errors": self.errors,
            "warnings": self.warnings,
            "html_bytes": self.html_bytes,
            "findings": [asdict(f) for f in self.findings],
            "ignored": [asdict(i) for i in self.ignored],
        }


def lint_issue(html: str, text: str, *, base_url: str) -> LintReport:
    """Every check on one personalized message's HTML and text parts."""
    size = len(html.encode("utf-8"))
    if not html.strip():
        return LintReport(
            findings=(LintFinding(check="html", level=Level.ERROR, message="the HTML is empty"),),
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
            LintFinding(
                check="caniemail",
                level=Level(verdict.severity),
                message=f"{verdict.title} ({verdict.url}) is not supported by "
                f"{verdict.clients}{notes}; {uses}",
                snippet=verdict.where,
            )
        )
    return LintReport(findings=tuple(findings), html_bytes=size, ignored=tuple(ignored))


def check_size(size: int) -> Iterator[LintFinding]:
    if size >= GMAIL_CLIP_BYTES:
        level, verdict = Level.ERROR, "Gmail clips it, hiding the rest and the unsubscribe link"
    elif size >= SIZE_WARNING_BYTES:
        level, verdict = Level.WARNING, "close to where Gmail clips a message"
    else:
        return
    yield LintFinding(
        check="size",
        level=level,
        message=f"the HTML is {size:,} bytes ({size / 1024:.1f} KB): {verdict} "
        f"({GMAIL_CLIP_BYTES:,} bytes); fewer items or shorter summaries help",
    )


def _outer(element: Any, limit: int = 100) -> str:
    text = " ".join(etree.tostring(element, encoding="unicode", with_tail=False).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def check_alt(document: Any) -> Iterator[LintFinding]:
    for image in document.iter("img"):
        alt = image.get("alt")
        if alt is None:
            yield LintFinding(
                check="alt",
                level=Level.ERROR,
                message='image without alt text (alt="" if it is decorative)',
                snippet=_outer(image),
            )
            continue
        if alt.strip():
            continue
        link = next(image.iterancestors("a"), None)
        if (
            link is not None
            and not link.text_content().strip()
            and not any((other.get("alt") or "").strip() for other in link.iter("img"))
        ):
            yield LintFinding(
                check="alt",
                level=Level.ERROR,
                message="a linked image with empty alt text is the link's only content: "
                "the link has no text",
                snippet=_outer(image),
            )


def is_local_host(host: str) -> bool:
    """Loopback, private and link-local addresses, localhost and names that do not resolve
    on the internet: a reader's client cannot reach them."""
    host = host.lower().strip("[]")
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host == "localhost" or "." not in host or host.endswith(LOCAL_SUFFIXES)
    return address.is_loopback or address.is_private or address.is_link_local


def _links(document: Any, text: str) -> dict[str, str]:
    """Each URL of the message and where it is: 'link', 'image' or 'text'."""
    found: dict[str, str] = {}
    for element in document.iter("a", "area"):
        href = element.get("href")
        if href is not None:
            found.setdefault(href.strip(), "link")
    for image in document.iter("img"):
        found.setdefault((image.get("src") or "").strip(), "image")
    for match in TEXT_URL.finditer(text):
        found.setdefault(match.group().rstrip(".,;:)"), "text")
    return found


def check_links(document: Any, text: str, base_url: str) -> Iterator[LintFinding]:
    html_text = etree.tostring(document, encoding="unicode")
    for placeholder in sorted(set(PLACEHOLDER.findall(html_text + text))):
        yield LintFinding(
            check="links",
            level=Level.ERROR,
            message="a per-subscriber placeholder was not replaced",
            snippet=placeholder,
        )
    base = base_url.rstrip("/")
    uses_base = False
    for url, kind in _links(document, text).items():
        if PLACEHOLDER.search(url):
            continue
        if base and (url == base or url.startswith(base + "/")):
            uses_base = True
            continue
        if url.startswith("#"):
            continue  # in-page anchors: the caniemail check knows where they work
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        noun = "image" if kind == "image" else "link"
        if not url or not scheme:
            yield LintFinding(
                check="links",
                level=Level.ERROR,
                message=f"{'empty' if not url else 'relative'} {noun}: it has no address a "
                "mail client can open",
                snippet=url or '""',
            )
        elif scheme not in SAFE_SCHEMES | {"http", "cid"}:
            yield LintFinding(
                check="links",
                level=Level.ERROR,
                message=f"{noun} with the unusable scheme {scheme}:",
                snippet=url[:100],
            )
        elif scheme in ("http", "https") and is_local_host(parts.hostname or ""):
            yield LintFinding(
                check="links",
                level=Level.WARNING,
                message=f"{noun} to a local address: fine for a trial, unreachable for readers",
                snippet=url,
            )
        elif scheme == "http":
            yield LintFinding(
                check="links",
                level=Level.WARNING,
                message=f"{noun} is not https"
                + ("; some clients block images over http" if kind == "image" else ""),
                snippet=url,
            )
    if uses_base:
        yield from check_base_url(base_url)


def check_base_url(base_url: str) -> Iterator[LintFinding]:
    parts = urlsplit(base_url)
    local = is_local_host(parts.hostname or "")
    if parts.scheme == "https" and not local:
        return
    yield LintFinding(
        check="links",
        level=Level.WARNING if local else Level.ERROR,
        message="newsletter.base_url is not public https: the unsubscribe, preferences and "
        "web-version links "
        + (
            "only work on this machine (fine for a trial; set it before sending to readers)"
            if local
            else "must be https for one-click unsubscribe (RFC 8058; Gmail and Yahoo require it)"
        ),
        snippet=base_url,
    )


def _classes(element: Any) -> list[str]:
    return str(element.get("class") or "").split()


def check_sections(document: Any, text: str) -> Iterator[LintFinding]:
    headings: list[tuple[Any, int]] = []  # (heading element, items after it)
    items = 0
    for element in document.iter():
        if not isinstance(element.tag, str):
            continue
        classes = _classes(element)
        if SECTION_HEADING_CLASS in classes:
            headings.append((element, 0))
        elif ITEM_CLASS in classes:
            items += 1
            if headings:
                headings[-1] = (headings[-1][0], headings[-1][1] + 1)
    if items == 0:
        yield LintFinding(check="sections", level=Level.ERROR, message="the issue has no items")
        return
    for heading, count in headings:
        title = " ".join(heading.text_content().split())
        if count == 0 and not _other_content(heading, title):
            yield LintFinding(
                check="sections",
                level=Level.ERROR,
                message="a section without items (HTML part)",
                snippet=title,
            )
    for title in empty_text_sections(text):
        yield LintFinding(
            check="sections",
            level=Level.ERROR,
            message="a section without items (text part)",
            snippet=title,
        )


def _other_content(heading: Any, title: str) -> bool:
    """Whether the heading's section (its SECTION_CLASS ancestor) shows more than the
    heading: a section of other content than items, such as a spotlight, is not empty."""
    section = next((a for a in heading.iterancestors() if SECTION_CLASS in _classes(a)), None)
    if section is None:
        return False
    return bool(" ".join(section.text_content().split()).replace(title, "", 1).strip())


def empty_text_sections(text: str) -> list[str]:
    """Headings of the text part (a line underlined with '=') with nothing under them before
    the next heading or the '--' signature line."""
    lines = [line.rstrip() for line in text.splitlines()]
    headings = [
        n
        for n in range(len(lines) - 1)
        if lines[n].strip() and lines[n + 1].strip() and set(lines[n + 1].strip()) == {"="}
    ]
    empty = []
    for i, n in enumerate(headings):
        body = lines[n + 2 : headings[i + 1] if i + 1 < len(headings) else len(lines)]
        if "--" in body:
            body = body[: body.index("--")]
        if not any(line.strip() for line in body):
            empty.append(lines[n].strip())
    return empty


def spam_findings(report: SpamReport | None) -> tuple[LintFinding, ...]:
    """The spam check as findings: none for a score of 0 or less."""
    if report is None:
        return (LintFinding(check="spam", level=Level.WARNING, message=NOT_INSTALLED),)
    if report.score <= 0:
        return ()
    adding = ", ".join(f"{r.name} {r.points:+.1f}" for r in report.rules if r.points > 0)
    spam = report.score >= report.required
    return (
        LintFinding(
            check="spam",
            level=Level.ERROR if spam else Level.WARNING,
            message=f"SpamAssassin scores the message {report.score:.1f} "
            f"({'spam' if spam else 'not spam'} from {report.required:.1f}; aim for 0 or less)",
            snippet=adding,
        ),
    )
