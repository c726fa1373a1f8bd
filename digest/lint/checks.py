"""The checks of a rendered issue's HTML and text that need no outside data: size against
Gmail's clipping, alt text, links and base_url, empty sections (see digest.lint)."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

from lxml import etree

from digest.lint.report import Finding, Level

GMAIL_CLIP_BYTES = 102 * 1024
SIZE_WARNING_BYTES = 90 * 1024
SECTION_CLASS = "card"  # the container of one section
SECTION_HEADING_CLASS = "section-heading"
ITEM_CLASS = "item-title"
PLACEHOLDER = re.compile(r"%%[A-Z0-9_]+%%")
TEXT_URL = re.compile(r"\b[a-z][a-z0-9+.-]*://[^\s<>\"']+", re.IGNORECASE)
SAFE_SCHEMES = frozenset(("https", "mailto", "tel"))
LOCAL_SUFFIXES = (".localhost", ".local", ".internal", ".test", ".invalid", ".home.arpa")


def check_size(size: int) -> Iterator[Finding]:
    if size >= GMAIL_CLIP_BYTES:
        level, verdict = Level.ERROR, "Gmail clips it, hiding the rest and the unsubscribe link"
    elif size >= SIZE_WARNING_BYTES:
        level, verdict = Level.WARNING, "close to where Gmail clips a message"
    else:
        return
    yield Finding(
        check="size",
        level=level,
        message=f"the HTML is {size:,} bytes ({size / 1024:.1f} KB): {verdict} "
        f"({GMAIL_CLIP_BYTES:,} bytes); fewer items or shorter summaries help",
    )


def _outer(element: Any, limit: int = 100) -> str:
    text = " ".join(etree.tostring(element, encoding="unicode", with_tail=False).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def check_alt(document: Any) -> Iterator[Finding]:
    for image in document.iter("img"):
        alt = image.get("alt")
        if alt is None:
            yield Finding(
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
            yield Finding(
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


def check_links(document: Any, text: str, base_url: str) -> Iterator[Finding]:
    html_text = etree.tostring(document, encoding="unicode")
    for placeholder in sorted(set(PLACEHOLDER.findall(html_text + text))):
        yield Finding(
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
            yield Finding(
                check="links",
                level=Level.ERROR,
                message=f"{'empty' if not url else 'relative'} {noun}: it has no address a "
                "mail client can open",
                snippet=url or '""',
            )
        elif scheme not in SAFE_SCHEMES | {"http", "cid"}:
            yield Finding(
                check="links",
                level=Level.ERROR,
                message=f"{noun} with the unusable scheme {scheme}:",
                snippet=url[:100],
            )
        elif scheme in ("http", "https") and is_local_host(parts.hostname or ""):
            yield Finding(
                check="links",
                level=Level.WARNING,
                message=f"{noun} to a local address: fine for a trial, unreachable for readers",
                snippet=url,
            )
        elif scheme == "http":
            yield Finding(
                check="links",
                level=Level.WARNING,
                message=f"{noun} is not https"
                + ("; some clients block images over http" if kind == "image" else ""),
                snippet=url,
            )
    if uses_base:
        yield from check_base_url(base_url)


def check_base_url(base_url: str) -> Iterator[Finding]:
    parts = urlsplit(base_url)
    local = is_local_host(parts.hostname or "")
    if parts.scheme == "https" and not local:
        return
    yield Finding(
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


def check_sections(document: Any, text: str) -> Iterator[Finding]:
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
        yield Finding(check="sections", level=Level.ERROR, message="the issue has no items")
        return
    for heading, count in headings:
        title = " ".join(heading.text_content().split())
        if count == 0 and not _other_content(heading, title):
            yield Finding(
                check="sections",
                level=Level.ERROR,
                message="a section without items (HTML part)",
                snippet=title,
            )
    for title in empty_text_sections(text):
        yield Finding(
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
