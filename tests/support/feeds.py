"""Feed bodies for tests: the fixture files, a small RSS builder, and addresses that fail."""

from __future__ import annotations

import socket
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from email.utils import format_datetime
from pathlib import Path
from xml.sax.saxutils import escape

FEEDS = Path(__file__).parent.parent / "fixtures" / "feeds"


def fixture_feed(name: str) -> bytes:
    """The bytes of tests/fixtures/feeds/NAME."""
    return (FEEDS / name).read_bytes()


@dataclass(frozen=True, slots=True, kw_only=True)
class RssItem:
    title: str
    guid: str
    link: str = ""
    description: str = ""
    published: datetime | None = None
    extra: str = ""  # raw XML added to the item, e.g. <ev:startdate>...</ev:startdate>


EVENT_NS = "http://purl.org/rss/1.0/modules/event/"


def rss(items: Sequence[RssItem], *, title: str = "Built feed") -> bytes:
    """An RSS 2.0 document with `items`; descriptions are sent as CDATA, as feeds often do.
    The event module is declared as `ev:`."""
    parts = [
        '<?xml version="1.0" encoding="UTF-8"?>\n',
        f'<rss version="2.0" xmlns:ev="{EVENT_NS}"><channel>',
        f"<title>{escape(title)}</title><link>https://example.org/</link>",
        "<description>Built by tests/support/feeds.py</description>",
    ]
    for item in items:
        parts.append("<item>")
        parts.append(f"<title>{escape(item.title)}</title>")
        parts.append(f'<guid isPermaLink="false">{escape(item.guid)}</guid>')
        if item.link:
            parts.append(f"<link>{escape(item.link)}</link>")
        if item.published:
            parts.append(f"<pubDate>{format_datetime(item.published)}</pubDate>")
        parts.append(f"<description><![CDATA[{item.description}]]></description>")
        parts.append(item.extra)
        parts.append("</item>")
    parts.append("</channel></rss>\n")
    return "".join(parts).encode()


def closed_port_url(path: str = "/feed.xml") -> str:
    """A loopback URL on a port nobody listens on: connecting is refused at once."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}{path}"


@contextmanager
def silent_server() -> Iterator[str]:
    """A URL whose server accepts the connection but never answers a byte."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        port = listener.getsockname()[1]
        yield f"http://127.0.0.1:{port}/never-answers.xml"
