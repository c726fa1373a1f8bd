"""Reading a returned message safely: a capped parse, decoded text parts, the report parts
(delivery-status, feedback-report) and the headers of the message that came back.

Nothing here raises on bad input: truncated MIME, unknown charsets, broken transfer
encodings and binary garbage all give some text (possibly empty). Only the first
`MAX_BYTES` of a message are parsed and only the first `MAX_TEXT` characters of a part are
decoded, so a 50 MB attachment costs no more than a small bounce.
"""

from __future__ import annotations

import email
import email.header
import re
from dataclasses import dataclass, field
from email.message import Message
from email.policy import compat32

# Bounces put what matters first: the notice, the report, then the returned message.
MAX_BYTES = 256 * 1024
MAX_TEXT = 64 * 1024
MAX_PARTS = 64


@dataclass(slots=True)
class Parsed:
    """What classification reads from one message."""

    headers: Message  # the top-level headers (of the bounce itself)
    subject: str = ""
    texts: list[str] = field(default_factory=list)  # the notice's own text parts, decoded
    reports: list[str] = field(default_factory=list)  # delivery-status parts as text
    feedback: list[str] = field(default_factory=list)  # feedback-report parts as text
    original: list[Message] = field(default_factory=list)  # headers of returned messages
    original_text: list[str] = field(default_factory=list)  # text/rfc822-headers parts
    content_type: str = ""
    report_type: str = ""


def parse(raw: bytes) -> Parsed:
    """The parts of `raw` that classification needs; never raises."""
    data = raw[:MAX_BYTES]
    try:
        message = email.message_from_bytes(data, policy=compat32)
    except Exception:  # the parser is lenient, but a bug in it must not stop a run
        message = email.message_from_bytes(b"", policy=compat32)
    return parse_message(message)


def parse_message(message: Message) -> Parsed:
    """The same for a message already parsed (one attached to a bounce)."""
    parsed = Parsed(headers=message)
    parsed.subject = decode_header(header(message, "subject"))
    parsed.content_type = _content_type(message)
    parsed.report_type = (_param(message, "report-type") or "").lower()
    _walk(message, parsed, depth=0, budget=[MAX_PARTS])
    return parsed


def header(message: Message, name: str) -> str:
    """One header's raw value as text ("" when absent or unreadable)."""
    try:
        value = message.get(name)
    except Exception:
        return ""
    if value is None:
        return ""
    return str(value)


def headers(message: Message, name: str) -> list[str]:
    try:
        return [str(v) for v in message.get_all(name) or []]
    except Exception:
        return []


def decode_header(value: str) -> str:
    """An RFC 2047 header decoded as far as it can be, on one line."""
    if "=?" in value:
        try:
            parts = email.header.decode_header(value)
            value = "".join(
                _decode_bytes(text, charset) if isinstance(text, bytes) else text
                for text, charset in parts
            )
        except Exception:  # a malformed encoded word: keep the header as it came
            return " ".join(value.split())
    return " ".join(value.split())


def _content_type(part: Message) -> str:
    try:
        return part.get_content_type().lower()
    except Exception:
        return "text/plain"


def _param(part: Message, name: str) -> str | None:
    try:
        value = part.get_param(name)
    except Exception:
        return None
    if isinstance(value, tuple):  # RFC 2231 form
        value = value[2]
    return value if isinstance(value, str) else None


def _walk(part: Message, parsed: Parsed, depth: int, budget: list[int]) -> None:
    budget[0] -= 1
    if budget[0] < 0 or depth > 8:
        return
    kind = _content_type(part)
    if kind == "message/rfc822" or kind == "message/partial":
        payload = _payload_list(part)
        if payload:
            parsed.original.append(payload[0])
        else:
            # A returned message the parser could not nest: read its headers from the text.
            parsed.original_text.append(part_text(part))
        return
    if kind in ("text/rfc822-headers", "message/rfc822-headers", "text/rfc822-header"):
        parsed.original_text.append(part_text(part))
        return
    if kind in ("message/delivery-status", "message/global-delivery-status"):
        parsed.reports.append(_status_text(part))
        return
    if kind == "message/disposition-notification":
        # An MDN is a bounce only when the message was refused or deleted unread (a Sieve
        # reject); a read receipt is not one.
        text = _status_text(part)
        if re.search(r"^disposition:.*(deleted|denied|failed|rejected|error)", text, re.I | re.M):
            parsed.reports.append(text)
        return
    if kind == "message/feedback-report":
        parsed.feedback.append(_status_text(part))
        return
    if part.is_multipart():
        for sub in _payload_list(part):
            _walk(sub, parsed, depth + 1, budget)
        return
    if kind.startswith("multipart/"):
        # Its boundary never came (a truncated or hand-cut message): read the body as text.
        parsed.texts.append(part_text(part))
        return
    if kind.startswith("text/") or kind in ("application/octet-stream", "message/global"):
        if kind == "application/octet-stream" and depth > 0:
            return
        text = part_text(part)
        if kind == "text/html":
            text = html_to_text(text)
        parsed.texts.append(text)


def _payload_list(part: Message) -> list[Message]:
    try:
        payload = part.get_payload()
    except Exception:
        return []
    if isinstance(payload, list):
        return [p for p in payload if isinstance(p, Message)]
    return []


def _status_text(part: Message) -> str:
    """A delivery-status part as text: the parser reads it as a list of header blocks."""
    blocks = _payload_list(part)
    if not blocks:
        return part_text(part)
    lines: list[str] = []
    for block in blocks:
        for name, value in block.items():
            lines.append(f"{name}: {' '.join(str(value).split())}")
        lines.append("")
    payload = blocks[-1].get_payload()
    if isinstance(payload, str) and payload.strip():
        # A block the parser could not split (no blank line between groups) ends up here.
        lines.append(payload[:MAX_TEXT])
    return "\n".join(lines)


def part_text(part: Message) -> str:
    """A leaf part's text: transfer encoding undone, charset decoded with fallbacks."""
    try:
        payload = part.get_payload()
    except Exception:
        return ""
    if isinstance(payload, list):
        try:
            return part.as_string()[:MAX_TEXT]
        except Exception:
            return ""
    if not isinstance(payload, str):
        return ""
    try:
        data = part.get_payload(decode=True)
    except Exception:
        data = None
    if not isinstance(data, bytes):
        data = payload.encode("utf-8", "surrogateescape")
    charset = _param(part, "charset")
    return _decode_bytes(data[: MAX_TEXT * 2], charset)[:MAX_TEXT]


def _decode_bytes(data: bytes, charset: str | None) -> str:
    """Strictly in the declared charset, then UTF-8, then the declared one with
    replacement characters, then Latin-1 (which decodes anything)."""
    declared = (charset or "").strip().strip('"').lower()
    for name, errors in ((declared, "strict"), ("utf-8", "strict"), (declared, "replace")):
        if not name:
            continue
        try:
            return data.decode(name, errors)
        except (LookupError, UnicodeDecodeError, ValueError):
            continue
    return data.decode("latin-1")


_TAG = re.compile(
    r"<(script|style)\b.*?</\1\s*>|<br\s*/?>|</?(p|div|tr|li|h\d)\b[^>]*>|<[^>]+>", re.I | re.S
)
_ENTITIES = {"&lt;": "<", "&gt;": ">", "&amp;": "&", "&nbsp;": " ", "&quot;": '"', "&#39;": "'"}


def html_to_text(html: str) -> str:
    """Enough of an HTML part's text to read addresses and error words from."""

    def replace(match: re.Match[str]) -> str:
        tag = match.group(0).lower()
        if tag.startswith(("<br", "<p", "</p", "<div", "</div", "<tr", "</tr", "<li", "<h", "</h")):
            return "\n"
        return ""

    text = _TAG.sub(replace, html)
    for entity, char in _ENTITIES.items():
        text = text.replace(entity, char)
    return text
