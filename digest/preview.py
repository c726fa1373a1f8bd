"""Writing an issue to files exactly as a subscriber receives it: HTML, text and one .eml."""

from __future__ import annotations

import email
import email.policy
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from digest.db.schema import Issue
from digest.model import Recipient
from digest.send import Personalizer, message_template
from digest.settings import Settings

SAMPLE = Recipient(
    delivery_id=0,
    subscriber_id=0,
    email="reader@example.com",
    name="A Reader",
    message_id="<preview@example.com>",
)


@dataclass(frozen=True, slots=True)
class PreviewFiles:
    html: Path
    text: Path
    eml: Path


def write_preview(issue: Issue, settings: Settings, out: Path, now: datetime) -> PreviewFiles:
    """issue.html, issue.txt and issue.eml in `out`, personalized for a sample subscriber."""
    out.mkdir(parents=True, exist_ok=True)
    raw = Personalizer(message_template(issue, settings, now), settings).message(SAMPLE)
    message = email.message_from_bytes(raw, policy=email.policy.default)
    files = PreviewFiles(out / "issue.html", out / "issue.txt", out / "issue.eml")
    for part in message.walk():
        if part.get_content_type() == "text/html":
            files.html.write_text(part.get_content(), encoding="utf-8")
        elif part.get_content_type() == "text/plain":
            files.text.write_text(part.get_content(), encoding="utf-8")
    files.eml.write_bytes(raw)
    return files
