"""The public archive: sent issues only, each issue's web version with neutral links in place
of the personal ones, and an Atom 1.0 feed of the issues."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import datetime
from html import escape as html_escape

from digest.db.engine import Database
from digest.db.issues import public_html, sent_issues
from digest.model import PLACEHOLDERS, ArchivedIssue, Placeholders
from digest.settings import Settings

ATOM = "http://www.w3.org/2005/Atom"
MAX_NUMBER = 2**31 - 1
XML = "http://www.w3.org/XML/1998/namespace"
# The web version's own policy: the message's inline styles and remote images, no script.
ISSUE_CSP = (
    "default-src 'none'; img-src https: data:; style-src 'unsafe-inline' https:; "
    "font-src https: data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)

__all__ = ["ISSUE_CSP", "ArchivedIssue", "atom_feed", "neutral_html", "sent_issues", "web_version"]


def web_version(db: Database, number: int, settings: Settings) -> str | None:
    """The issue's HTML as everyone may see it; None for a draft or no such issue (a number
    no issue can have included: the column holds 32-bit integers)."""
    if not 0 < number <= MAX_NUMBER:
        return None
    stored = public_html(db, number)
    return None if stored is None else neutral_html(stored[0], settings, stored[1])


def neutral_html(html: str, settings: Settings, placeholders: Placeholders = PLACEHOLDERS) -> str:
    """Replace the per-subscriber placeholders with pages that belong to nobody: they tell
    readers to use the links in their own copy."""
    base = settings.newsletter.base_url.rstrip("/")
    greeting = settings.newsletter.greeting.replace(
        "{first_name}", settings.newsletter.greeting_fallback
    )
    return (
        html.replace(placeholders.unsubscribe, f"{base}/unsubscribe")
        .replace(placeholders.preferences, f"{base}/preferences")
        .replace(placeholders.greeting, html_escape(greeting))
    )


def atom_feed(issues: list[ArchivedIssue], settings: Settings, now: datetime) -> bytes:
    """An Atom 1.0 document (RFC 4287) of `issues`, with absolute links."""
    cfg = settings.newsletter
    base = cfg.base_url.rstrip("/")
    ET.register_namespace("", ATOM)

    def add(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
        element = ET.SubElement(parent, f"{{{ATOM}}}{tag}", attrs)
        if text is not None:
            element.text = text
        return element

    feed = ET.Element(f"{{{ATOM}}}feed", {f"{{{XML}}}lang": cfg.language})
    add(feed, "id", f"{base}/archive/")
    add(feed, "title", cfg.name)
    add(feed, "subtitle", cfg.tagline)
    updated = max((issue.sent_at for issue in issues), default=now)
    add(feed, "updated", updated.isoformat())
    add(feed, "link", rel="self", type="application/atom+xml", href=f"{base}/archive/feed.atom")
    add(feed, "link", rel="alternate", type="text/html", href=f"{base}/archive")
    author = add(feed, "author")
    add(author, "name", cfg.name)
    add(author, "uri", cfg.website_url)
    for issue in issues:
        url = f"{base}/archive/{issue.number}"
        entry = add(feed, "entry")
        add(entry, "id", url)
        add(entry, "title", issue.subject)
        add(entry, "link", rel="alternate", type="text/html", href=url)
        add(entry, "published", issue.sent_at.isoformat())
        add(entry, "updated", issue.sent_at.isoformat())
        add(entry, "summary", issue.preheader or issue.subject)
    return bytes(ET.tostring(feed, encoding="utf-8", xml_declaration=True))
