"""Text from outside (feeds, the editor) made safe to show: the summary allowlist, plain
text, sanitized summaries, cuts at a word, and dates read from strings."""

from __future__ import annotations

import html
import re
import warnings
from datetime import UTC, datetime
from html.parser import HTMLParser
from typing import Any
from zoneinfo import ZoneInfo

import nh3
from dateutil import parser as dateparser
from dateutil.parser import UnknownTimezoneWarning

from digest.links import strip_tracking

# What a summary may keep, both when it is collected or edited and when it is rendered.
SUMMARY_TAGS = {"p", "br", "a", "strong", "b", "em", "i", "ul", "ol", "li", "blockquote", "code"}
SUMMARY_ATTRIBUTES = {"a": {"href", "title"}}
URL_SCHEMES = {"http", "https", "mailto"}
WHITESPACE = re.compile(r"\s+")
# C0 controls but tab and line breaks, DEL and C1 controls: never text, and PostgreSQL
# refuses NUL outright.
CONTROL_CHARS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
# Characters that change how text shows without being seen: the bidi embeddings, overrides
# and isolates ("Invoice \u202egpj.exe" shows as "Invoice exe.jpg"), zero-width spaces, word
# joiners, invisible operators and byte-order marks. The zero-width joiners are kept where
# they do a job: ZWJ inside an emoji sequence, ZWNJ between two letters (Persian, Indic
# scripts). The direction marks (LRM, RLM, ALM) stay: they order neighbouring runs of mixed
# text but cannot reverse the letters of a word.
INVISIBLE = re.compile(
    "[\u202a-\u202e\u2066-\u2069\u200b\u2060-\u2064\ufeff\u180e\u115f\u1160\u3164\uffa0]"
    "|\u200d(?![\u2600-\u27bf\u2b00-\u2bff\U0001f000-\U0001faff\u2640\u2642\u2695\u2708])"
    "|(?<!\\w)\u200c|\u200c(?!\\w)"
)


def visible(text: str) -> str:
    """`text` without control characters and without the invisible characters that can
    disguise it (INVISIBLE)."""
    return INVISIBLE.sub("", CONTROL_CHARS.sub("", text))


# Line breaks and block elements separate words: "<p>One.</p><p>Two.</p>" is "One. Two.".
_BREAK = re.compile(
    r"<\s*/?\s*(?:br|p|div|li|ul|ol|dd|dt|dl|blockquote|pre|hr|h[1-6]|tr|td|th|table)\b",
    re.IGNORECASE,
)


def plain_text(markup: str) -> str:
    """Tags stripped, entities decoded, whitespace (CR/LF included) folded to single spaces."""
    text = nh3.clean(
        _BREAK.sub(r" \g<0>", markup), tags=set(), clean_content_tags={"script", "style"}
    )
    return WHITESPACE.sub(" ", visible(html.unescape(text))).strip()


def _filter_attribute(element: str, attribute: str, value: str) -> str | None:
    return strip_tracking(value) if attribute == "href" else value


def allowlisted(markup: str) -> str:
    """`markup` through the summary allowlist (nh3): no scripts, handlers, iframes, forms or
    styles, and no invisible characters, checked after nh3 has decoded the entities."""
    return visible(
        nh3.clean(
            CONTROL_CHARS.sub("", markup),
            tags=SUMMARY_TAGS,
            attributes=SUMMARY_ATTRIBUTES,
            url_schemes=URL_SCHEMES,
            link_rel="noopener noreferrer",
            clean_content_tags={"script", "style"},
            attribute_filter=_filter_attribute,
        ).strip()
    )


def sanitize_summary(markup: str, limit: int) -> str:
    """Allowlisted HTML (no scripts, handlers, iframes, forms or styles), cut to `limit` chars.

    A summary longer than the limit becomes plain text cut at a word boundary, so the cut
    can never leave a tag open.
    """
    clean = allowlisted(markup)
    text = plain_text(clean)
    if len(text) <= limit:
        return clean
    return html.escape(cut_at_word(text, limit), quote=False)


def cut_at_word(text: str, limit: int) -> str:
    """`text` cut to `limit` characters: after the last whole sentence if that keeps more
    than half, else at a word boundary with an ellipsis."""
    if len(text) <= limit:
        return text
    sentence = max(text.rfind(end, 0, limit) for end in (". ", "! ", "? "))
    if sentence > limit // 2:
        return text[: sentence + 1]
    head = text[: limit - 1]
    space = head.rfind(" ")
    if space > limit // 2:
        head = head[:space]
    return head.rstrip(" ,;:.-") + "…"


def parse_datetime(value: str, *, dayfirst: bool = True, tz: str = "UTC") -> datetime | None:
    """An aware UTC datetime from a date or timestamp string, or None when it is not one.

    ISO 8601 is tried first: dateutil's `dayfirst` would read 2026-12-06 as 12 June.
    """
    value = value.strip()
    try:
        parsed = dateparser.isoparse(value)
    except (ValueError, OverflowError):
        try:
            # An unknown zone name ("CEST", "heure de Paris") is read as no zone, which is
            # what this function does with it anyway; dateutil warns on each one.
            with warnings.catch_warnings(action="ignore", category=UnknownTimezoneWarning):
                parsed = dateparser.parse(value, dayfirst=dayfirst)
        except (ValueError, OverflowError):
            return None
    if parsed is None:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=ZoneInfo(tz))
    try:
        return parsed.astimezone(UTC)
    except (OverflowError, ValueError):  # year 1 or 9999 pushed past the calendar's ends
        return None


def _markdown() -> Any:
    # Imported on first use: only composing and rendering need it.
    from markdown_it import MarkdownIt

    # CommonMark with raw HTML let through (intros stored before Markdown were HTML):
    # everything it makes is sanitized by nh3 right after, like every summary.
    return MarkdownIt("commonmark", {"html": True, "linkify": False, "typographer": False})


def markdown_html(source: str, *, inline: bool = False) -> str:
    """The editor's Markdown (intro, spotlight) as allowlisted HTML: the summary allowlist,
    so a `<script>`, an event handler or a `javascript:` link never survives. `inline`
    renders one paragraph's worth without the surrounding <p>."""
    md = _markdown()
    rendered = md.renderInline(source) if inline else md.render(source)
    return allowlisted(rendered)


class _TextWithLinks(HTMLParser):
    """Plain text of allowlisted HTML, each link followed by a numbered reference."""

    def __init__(self, links: list[str]) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.links = links  # shared: a URL seen before keeps its number
        self._href: str | None = None
        self._text_start = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if _BREAK.match(f"<{tag}"):
            self.parts.append(" ")
        if tag == "a":
            self._href = dict(attrs).get("href") or None
            self._text_start = len(self.parts)

    def handle_endtag(self, tag: str) -> None:
        if _BREAK.match(f"<{tag}"):
            self.parts.append(" ")
        if tag == "a" and self._href:
            shown = "".join(self.parts[self._text_start :]).strip()
            if self._href.removeprefix("mailto:") != shown:  # a bare URL is its own reference
                if self._href not in self.links:
                    self.links.append(self._href)
                self.parts.append(f" [{self.links.index(self._href) + 1}]")
            self._href = None

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def text_with_links(markup: str, links: list[str] | None = None) -> tuple[str, tuple[str, ...]]:
    """Plain text of a summary with its links as numbered references: ("Read the report
    [1].", ("https://…",)). `links` are the references so far (extended in place): a URL
    already there keeps its number."""
    known = [] if links is None else links
    parser = _TextWithLinks(known)
    parser.feed(
        nh3.clean(
            markup,
            tags=SUMMARY_TAGS,
            attributes=SUMMARY_ATTRIBUTES,
            url_schemes=URL_SCHEMES,
            clean_content_tags={"script", "style"},
        )
    )
    parser.close()
    text = WHITESPACE.sub(" ", visible("".join(parser.parts))).strip()
    return text, tuple(known)


def markdown_text(source: str) -> str:
    """The editor's Markdown as plain text for the text part: paragraphs kept apart by a
    blank line, emphasis marks dropped, links as numbered references listed at the end."""
    paragraphs: list[str] = []
    links: list[str] = []
    blocks = re.split(r"(?=<(?:p|li|blockquote|h[1-6])\b)", markdown_html(source))
    for block in blocks:
        text, _ = text_with_links(block, links)
        if text:
            paragraphs.append(("- " if block.startswith("<li") else "") + text)
    refs = [f"[{n}] {link}" for n, link in enumerate(links, start=1)]
    return "\n\n".join(paragraphs) + ("\n\n" + "\n".join(refs) if refs else "")
