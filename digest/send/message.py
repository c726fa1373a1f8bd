"""Every message the newsletter sends is built here: the issue, once per issue, personalized
per subscriber by substitution, and single mails (the signup confirmation) the same way.

The MIME skeleton, the common headers and the quoted-printable bodies are made once; per
subscriber only a few headers and the placeholders' values are made and encoded (binascii's
C encoder) and put in between, so a message costs microseconds, not a render.
"""

from __future__ import annotations

import binascii
import html
import re
import secrets
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, formataddr

from digest.errors import ConfigError
from digest.model import PLACEHOLDERS, Placeholders, Recipient
from digest.settings import Settings

CRLF = "\r\n"
SLUG_CHARS = 30
FEEDBACK_SENDER = re.compile(r"[A-Za-z0-9._-]{1,64}")


@dataclass(frozen=True, slots=True, kw_only=True)
class Links:
    unsubscribe: str
    unsubscribe_mailto: str = ""  # mailto: URI, or empty
    preferences: str
    greeting: str = ""  # "Hello Ada," or empty


@dataclass(frozen=True, slots=True)
class EncodedBody:
    """A body in quoted-printable, encoded (and dot-stuffed for SMTP) once, with the
    placeholders cut out: per subscriber only the values are encoded and put in between.

    Quoted-printable encodes each line on its own, and a soft line break (`=` CRLF) may stand
    anywhere, so a placeholder's line is encoded as its text before, a soft break, the value,
    a soft break, and its text after; it decodes to exactly the filled line. Every part
    starts at the start of a line, so dot-stuffing (RFC 5321 4.5.2) is done part by part.
    """

    parts: tuple[bytes | str, ...]  # bytes: encoded text; str: a placeholder
    stuffed: tuple[bytes | str, ...]

    @classmethod
    def of(cls, body: str, markers: Sequence[str] = PLACEHOLDERS.markers) -> EncodedBody:
        """`body` cut at `markers` (the issue's own: no other text is ever a placeholder)."""
        pattern = re.compile("(" + "|".join(re.escape(m) for m in markers) + ")")
        parts: list[bytes | str] = []
        pending: list[str] = []

        def flush() -> None:
            if pending:
                parts.append(_qp("".join(pending)))
                pending.clear()

        lines = body.split(CRLF)
        for n, line in enumerate(lines):
            if n == len(lines) - 1 and not line:
                break
            line += CRLF
            if "%%" not in line or not pattern.search(line):
                pending.append(line)
                continue
            flush()
            for piece in pattern.split(line):
                if piece in markers:
                    parts.append(piece)
                elif piece:
                    # A piece cut before a placeholder ends with a soft break; the last
                    # piece of the line ends with its CRLF.
                    parts.append(_qp(piece) if piece.endswith(CRLF) else _qp_cut(piece))
        flush()
        stuffed = tuple(dot_stuffed(p) if isinstance(p, bytes) else p for p in parts)
        return cls(tuple(parts), stuffed)

    def fill(self, values: dict[str, str], *, stuffed: bool = False) -> bytes:
        """The body with the placeholders' values; `stuffed`: ready for SMTP DATA."""
        out = []
        for part in self.stuffed if stuffed else self.parts:
            if isinstance(part, bytes):
                out.append(part)
            else:
                value = _qp_cut(values[part])
                out.append(dot_stuffed(value) if stuffed else value)
        return b"".join(out)


# The fixed markers of issues stored before each issue had its own key.
MARKERS = PLACEHOLDERS.markers


def _qp_cut(text: str) -> bytes:
    """`text` encoded as part of a longer line: ending with a soft line break, and with the
    CRLF soft breaks of an SMTP body (binascii writes LF when it sees no CRLF in the input).
    Lines stay within 76 characters, the `=` included."""
    encoded = _qp(text + CRLF)[:-2]
    head, _, last = encoded.rpartition(b"\r\n")
    if len(last) > 75:
        cut = 75
        while b"=" in last[cut - 2 : cut]:  # never inside an =XX escape
            cut -= 1
        last = last[:cut] + b"=\r\n" + last[cut:]
    return (head + b"\r\n" if head else b"") + last + b"=\r\n"


def dot_stuffed(encoded: bytes) -> bytes:
    """Dot-stuffing for SMTP DATA (RFC 5321 4.5.2) of text that starts a line: a whole
    message, or one part of a body."""
    stuffed = encoded.replace(b"\r\n.", b"\r\n..")
    return b"." + stuffed if stuffed.startswith(b".") else stuffed


def _qp(text: str) -> bytes:
    return binascii.b2a_qp(text.encode("utf-8"), istext=True)


@dataclass(frozen=True, slots=True, kw_only=True)
class MessageTemplate:
    common_headers: bytes  # From, Subject, Date, ..., ending with CRLF
    boundary: str
    text: str  # CRLF line ends, placeholders in
    html: str
    placeholders: Placeholders = PLACEHOLDERS  # the markers `text` and `html` hold
    _text: EncodedBody = field(init=False, repr=False, compare=False)
    _html: EncodedBody = field(init=False, repr=False, compare=False)
    _heads: tuple[bytes, bytes, bytes] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        markers = self.placeholders.markers
        object.__setattr__(self, "_text", EncodedBody.of(self.text, markers))
        object.__setattr__(self, "_html", EncodedBody.of(self.html, markers))
        object.__setattr__(
            self,
            "_heads",
            (
                _part_head(self.boundary, "text/plain"),
                _part_head(self.boundary, "text/html"),
                f"--{self.boundary}--\r\n".encode("ascii"),
            ),
        )

    def personalize(self, recipient: Recipient, links: Links, *, stuffed: bool = False) -> bytes:
        """The complete message for one subscriber; `stuffed`: dot-stuffed for SMTP DATA
        (the transport adds the final dot line)."""
        head = _to_header(recipient) + _headers(
            ("Message-ID", recipient.message_id),
            (
                "List-Unsubscribe",
                f"<{links.unsubscribe}>"
                + (f", <{links.unsubscribe_mailto}>" if links.unsubscribe_mailto else ""),
            ),
            ("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"),
        )
        marks = self.placeholders
        text = {
            marks.unsubscribe: links.unsubscribe,
            marks.preferences: links.preferences,
            marks.greeting: links.greeting,
        }
        escaped = {marker: html.escape(value) for marker, value in text.items()}
        return self._assemble(head, text, escaped, stuffed=stuffed)

    def addressed(self, recipient: Recipient, *, stuffed: bool = False) -> bytes:
        """The complete message to one person, outside the list (a confirmation mail): To
        and Message-ID only, no list headers, and any placeholder text left as it is."""
        head = _to_header(recipient) + _headers(("Message-ID", recipient.message_id))
        unchanged = {marker: marker for marker in self.placeholders.markers}
        return self._assemble(head, unchanged, unchanged, stuffed=stuffed)

    def _assemble(
        self, head: bytes, text: dict[str, str], html_values: dict[str, str], *, stuffed: bool
    ) -> bytes:
        text_body = self._text.fill(text, stuffed=stuffed)
        html_body = self._html.fill(html_values, stuffed=stuffed)
        text_head, html_head, end = self._heads
        # Header lines start with a name or (folded) with white space, the part heads with
        # "--": none of them needs stuffing.
        return b"".join(
            (
                head,
                self.common_headers,
                b"\r\n",
                text_head,
                text_body,
                b"\r\n",
                html_head,
                html_body,
                b"\r\n",
                end,
            )
        )


def _headers(*fields: tuple[str, str]) -> bytes:
    """Per-recipient header lines, written directly: the values are ASCII we made ourselves
    (formataddr encodes a non-ASCII name), and the email package's folder would turn a long
    URL into an encoded word that mail clients cannot use as a link."""
    lines = []
    for name, value in fields:
        if "\r" in value or "\n" in value or not value.isascii():
            raise ValueError(f"{name} header value {value!r} is not one ASCII line")
        lines.append(f"{name}: {value}\r\n")
    return "".join(lines).encode("ascii")


def _to_header(recipient: Recipient) -> bytes:
    """The To line, whatever the name holds: one address, and a name that shows as the text
    it is. An ASCII name is written as it is, or as a quoted string when it has characters
    that mean something in an address (`"Eve, evil@x.org" <a@b>`). Any other name, and one
    that holds something shaped like an RFC 2047 encoded word (`=?utf-8?q?Bcc=3A_x?=`, which
    a mail client would decode and show as other text, even inside quotes), is written
    whole as encoded words of our own, which a client decodes exactly once. The email
    package's folder is not used: it decodes such a name and writes the result raw."""
    name, address = recipient.name, recipient.email
    if "\r" in name or "\n" in name:
        raise ValueError(f"To header: name {name!r} contains a line break")
    if not name:
        return _headers(("To", address))
    if name.isascii() and name.isprintable() and "=?" not in name:
        return _headers(("To", formataddr((name, address))))
    words = _encoded_words(name)
    return ("To: " + "\r\n ".join(words) + f" <{address}>\r\n").encode("ascii")


def _encoded_words(text: str, most_bytes: int = 45) -> list[str]:
    """`text` as base64 RFC 2047 encoded words of at most 75 characters (45 bytes of UTF-8
    each), cut between characters, never inside one."""
    chunks: list[bytes] = [b""]
    for char in text:
        raw = char.encode("utf-8")
        if chunks[-1] and len(chunks[-1]) + len(raw) > most_bytes:
            chunks.append(b"")
        chunks[-1] += raw
    return [f"=?utf-8?b?{binascii.b2a_base64(c, newline=False).decode()}?=" for c in chunks]


def _part_head(boundary: str, content_type: str) -> bytes:
    return (
        f'--{boundary}\r\nContent-Type: {content_type}; charset="utf-8"\r\n'
        "Content-Transfer-Encoding: quoted-printable\r\n\r\n"
    ).encode("ascii")


def _crlf(text: str) -> str:
    return CRLF.join(text.splitlines()) + CRLF


def message_domain(settings: Settings) -> str:
    return settings.newsletter.from_address.rpartition("@")[2] or "localhost"


def newsletter_slug(name: str) -> str:
    """A short ASCII id of the newsletter's name: "Crônica Semanal" is "cronica-semanal"."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")
    return slug[:SLUG_CHARS].rstrip("-") or "newsletter"


def feedback_id(settings: Settings, number: int) -> str:
    """Gmail's Feedback-ID, `issue:newsletter:digest:sender`: its feedback loop reports
    complaint rates per value of each field, the last one (the sender) being fixed.

    ConfigError when the sender id (smtp.feedback_id, else the From domain) is not a plain
    word: a colon would shift the fields, and a line break would start a header of its own.
    """
    sender = settings.smtp.feedback_id.strip()
    setting = "smtp.feedback_id"
    if not sender:
        sender, setting = message_domain(settings).lower(), "newsletter.from_address"
    if not FEEDBACK_SENDER.fullmatch(sender):
        raise ConfigError(
            f"{setting}: {sender!r} cannot end the Feedback-ID header "
            "(letters, digits, '.', '_' and '-' only, at most 64)"
        )
    return f"{number}:{newsletter_slug(settings.newsletter.name)}:digest:{sender}"


def build_template(
    *,
    settings: Settings,
    subject: str,
    html_body: str,
    text_body: str,
    number: int,
    date: datetime,
    placeholders: Placeholders = PLACEHOLDERS,
) -> MessageTemplate:
    """The issue's message: the common headers, the list's own, and the two parts, with the
    issue's own `placeholders` to fill per subscriber."""
    cfg = settings.newsletter
    return mail_template(
        settings=settings,
        subject=subject,
        html_body=html_body,
        text_body=text_body,
        date=date,
        placeholders=placeholders,
        headers=(
            ("List-Id", f"{cfg.name} <newsletter.{message_domain(settings)}>"),
            # Not a standard header, but vacation responders and many filters take it as "do
            # not answer this automatically".
            ("Precedence", "bulk"),
            ("Feedback-ID", feedback_id(settings, number)),
            ("X-Digest-Issue", str(number)),
        ),
    )


def mail_template(
    *,
    settings: Settings,
    subject: str,
    html_body: str,
    text_body: str,
    date: datetime,
    headers: Sequence[tuple[str, str]] = (),
    placeholders: Placeholders = PLACEHOLDERS,
) -> MessageTemplate:
    """Any message the newsletter sends: From (and Reply-To), Subject, Date, `headers`, and
    a text and an HTML part; To and Message-ID are added per recipient."""
    cfg = settings.newsletter
    for setting, value in (
        ("newsletter.name", cfg.name),
        ("newsletter.from_address", cfg.from_address),
        ("newsletter.reply_to", cfg.reply_to),
    ):
        if "\r" in value or "\n" in value:
            raise ConfigError(f"{setting}: {value!r} must be one line (it goes into a header)")
    head = EmailMessage(policy=SMTP)
    head["From"] = formataddr((cfg.name, cfg.from_address))
    if cfg.reply_to:
        head["Reply-To"] = cfg.reply_to
    head["Subject"] = subject
    head["Date"] = format_datetime(date)
    for name, value in headers:
        head[name] = value
    boundary = f"=_digest_{secrets.token_hex(12)}"
    head["MIME-Version"] = "1.0"
    head["Content-Type"] = f'multipart/alternative; boundary="{boundary}"'
    return MessageTemplate(
        # Only the header block: serializing the message itself would add an empty body.
        common_headers=b"".join(SMTP.fold_binary(name, value) for name, value in head.items()),
        boundary=boundary,
        text=_crlf(text_body),
        html=_crlf(html_body),
        placeholders=placeholders,
    )


def make_message_id(settings: Settings, number: int, subscriber_id: int) -> str:
    """Fixed when the ledger row is made, so a retried delivery keeps its Message-ID and
    receiving systems can recognise a duplicate."""
    return f"<issue{number}.{subscriber_id}.{secrets.token_hex(6)}@{message_domain(settings)}>"
