"""Looking at a fetched body before a parser does: UTF-16/32 with or without a byte order
mark, HTML pages where a feed was expected, and DOCTYPE entities that would expand hugely."""

from __future__ import annotations

import codecs
import html
import re
from collections import Counter
from urllib.parse import urljoin

from digest.model import Fetched

# Internal entities may add this much to a document. feedparser's strict parser (expat) stops
# a billion-laughs payload at its own limit, but then feedparser falls back to its loose
# parser, which expands every entity it kept without any limit.
MAX_ENTITY_EXPANSION = 4_000_000

_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
_XML_DECL_ENCODING = re.compile(r"""^(\s*<\?xml[^>]*?encoding\s*=\s*)(["'])[^"']*\2""")
_CHARSET = re.compile(r";\s*charset\s*=\s*[^;]*", re.IGNORECASE)
_ENTITY_NAME = re.compile(rb"""<!ENTITY\s+([^\s%"'>]+)\s+(["'])""")
_ENTITY_REF = re.compile(rb"&([A-Za-z_:][\w.:-]{0,99});")
# An HTML page starts with its doctype, <html>, or (sloppy ones) <head> or <body>.
_HTML_START = re.compile(
    rb"\s*(?:<!--.*?-->\s*)*<(?:!doctype\s+html|html|head|body)\b", re.IGNORECASE | re.DOTALL
)
_ALTERNATE = re.compile(rb"<link\b[^>]{0,2000}>", re.IGNORECASE)
_ATTR = re.compile(rb"""\b(rel|type|href)\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+))""", re.I)
_FEED_TYPES = (b"application/rss+xml", b"application/atom+xml", b"application/feed+json")


def wide_encoding(body: bytes) -> str | None:
    """utf-16-le/-be or utf-32-le/-be when the body is written in one, by its byte order mark
    or, without one, by the zero bytes around its first ASCII characters (`<`, `{`, `B`)."""
    for bom, name in _BOMS:
        if body.startswith(bom):
            return name
    head = body[:8]
    if len(head) < 8:
        return None
    if head[0:3] == b"\0\0\0" and head[4:7] == b"\0\0\0" and head[3] and head[7]:
        return "utf-32-be"
    if head[1:4] == b"\0\0\0" and head[5:8] == b"\0\0\0" and head[0] and head[4]:
        return "utf-32-le"
    if not any(head[0::2]) and all(head[1::2]):
        return "utf-16-be"
    if not any(head[1::2]) and all(head[0::2]):
        return "utf-16-le"
    return None


def as_utf8(fetched: Fetched) -> Fetched:
    """The fetched body re-encoded as UTF-8 when it is UTF-16 or UTF-32, its XML declaration
    and Content-Type charset saying so; any other body as it came. Every parser downstream
    (feedparser without a BOM, icalendar, the JSON feed reader) then reads it."""
    encoding = wide_encoding(fetched.body)
    if encoding is None:
        return fetched
    text = fetched.body.decode(encoding, errors="replace").lstrip("\ufeff")
    text = _XML_DECL_ENCODING.sub(r"\1\2utf-8\2", text, count=1)
    content_type = fetched.content_type
    if content_type:
        content_type = _CHARSET.sub("", content_type) + "; charset=utf-8"
    return Fetched(
        url=fetched.url,
        status=fetched.status,
        body=text.encode("utf-8"),
        content_type=content_type,
        etag=fetched.etag,
        last_modified=fetched.last_modified,
    )


def entity_expansion(body: bytes) -> int:
    """How many bytes the entities declared in the document's DOCTYPE would expand to where
    the document uses them (nested entities multiplied out); 0 without any."""
    first_element = re.search(rb"<[A-Za-z_]", body)
    prolog = body[: first_element.start()] if first_element else body
    values = _entity_values(prolog)
    if not values:
        return 0
    sizes: dict[bytes, int] = {}

    def size(name: bytes, seen: frozenset[bytes]) -> int:
        if name in sizes:
            return sizes[name]
        if name in seen:  # a loop: it would never end
            return MAX_ENTITY_EXPANSION + 1
        value = values[name]
        refs = [r for r in _ENTITY_REF.findall(value) if r in values]
        total = len(value) + sum(size(r, seen | {name}) for r in refs)
        sizes[name] = total
        return total

    uses = Counter(r for r in _ENTITY_REF.findall(body, len(prolog)) if r in values)
    try:
        return sum(count * size(name, frozenset()) for name, count in uses.items())
    except RecursionError:  # entities nested a thousand deep are an attack in themselves
        return MAX_ENTITY_EXPANSION + 1


def _entity_values(prolog: bytes) -> dict[bytes, bytes]:
    """The general entities declared in a prolog with a literal value (the first of each
    name counts, as in XML). Scanned with find(), not a regex, so that an unclosed quote
    cannot make it quadratic."""
    values: dict[bytes, bytes] = {}
    position = prolog.find(b"<!ENTITY")
    while position >= 0:
        declaration = _ENTITY_NAME.match(prolog, position)
        if declaration is None:
            position = prolog.find(b"<!ENTITY", position + 1)
            continue
        start = declaration.end()
        end = prolog.find(declaration.group(2), start)
        if end < 0:
            break
        values.setdefault(declaration.group(1), prolog[start:end])
        position = prolog.find(b"<!ENTITY", end)
    return values


def looks_like_html(fetched: Fetched) -> bool:
    kind = fetched.content_type.split(";")[0].strip().lower()
    head = fetched.body[:4096].lstrip(codecs.BOM_UTF8)
    return kind in ("text/html", "application/xhtml+xml") or bool(_HTML_START.match(head))


def advertised_feed(fetched: Fetched) -> str | None:
    """The address of a feed that an HTML page names in <link rel="alternate" ...>."""
    for tag in _ALTERNATE.finditer(fetched.body[:200_000]):
        attrs: dict[bytes, bytes] = {
            m.group(1).lower(): (m.group(2) or m.group(3) or m.group(4) or b"").strip()
            for m in _ATTR.finditer(tag.group(0))
        }
        rel, kind, href = attrs.get(b"rel", b""), attrs.get(b"type", b""), attrs.get(b"href")
        if b"alternate" in rel.lower() and kind.lower() in _FEED_TYPES and href:
            return urljoin(fetched.url, html.unescape(href.decode("utf-8", "replace")))
    return None
