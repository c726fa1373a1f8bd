"""The sample an editor previews: an issue exactly as a subscriber receives it, the message
for a sample subscriber, its HTML and text parts, and the same written to files."""

from __future__ import annotations

import email
import email.policy
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from digest.files import private_folder, write_private
from digest.model import Recipient, StoredIssue
from digest.send.personalize import Personalizer, message_template
from digest.settings import Settings

SAMPLE = Recipient(
    delivery_id=0,
    subscriber_id=0,
    email="reader@example.com",
    name="A Reader",
    message_id="<preview@example.com>",
)


@dataclass(frozen=True, slots=True, kw_only=True)
class PreviewMessage:
    """The complete message for the sample subscriber, and its parts decoded."""

    raw: bytes
    html: str
    text: str
    headers: tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class PreviewFiles:
    html: Path
    text: Path
    eml: Path


def preview_message(issue: StoredIssue, settings: Settings, now: datetime) -> PreviewMessage:
    """The issue personalized for the sample subscriber, built as the send stage builds it."""
    raw = Personalizer(message_template(issue, settings, now), settings).message(SAMPLE)
    message = email.message_from_bytes(raw, policy=email.policy.default)
    html = text = ""
    for part in message.walk():
        if part.get_content_type() == "text/html":
            html = part.get_content()
        elif part.get_content_type() == "text/plain":
            text = part.get_content()
    headers = tuple((name, str(value)) for name, value in message.items())
    return PreviewMessage(raw=raw, html=html, text=text, headers=headers)


def write_preview(issue: StoredIssue, settings: Settings, out: Path, now: datetime) -> PreviewFiles:
    """issue.html, issue.txt and issue.eml in `out`, personalized for a sample subscriber."""
    private_folder(out)
    message = preview_message(issue, settings, now)
    files = PreviewFiles(out / "issue.html", out / "issue.txt", out / "issue.eml")
    # The sample's links are live tokens (of subscriber 0): owner-only, as all such files.
    write_private(files.html, message.html)
    write_private(files.text, message.text)
    write_private(files.eml, message.raw)
    return files
