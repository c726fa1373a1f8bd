"""Golden files: the rendered HTML and text of a fixed issue, byte for byte.

A change to a template or the render stage shows up here as a diff to review. After an
intended change, regenerate with `REGENERATE_GOLDEN=1 pytest tests/unit/test_golden.py`
and commit the new files with the change.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from digest.model import IssuePlan, ItemKind, QueuedItem, Spotlight
from digest.render import render_issue
from digest.settings import Settings

GOLDEN = Path(__file__).resolve().parents[1] / "golden"
DATE = datetime(2027, 3, 1, 7, 0, tzinfo=UTC)


def fixed_plan() -> IssuePlan:
    def at(days: int) -> datetime:
        return DATE + timedelta(days=days)

    news = tuple(
        QueuedItem(
            id=n,
            kind=ItemKind.NEWS,
            title=title,
            link=f"https://example.org/news/{n}",
            summary=summary,
            published_at=at(-n),
        )
        for n, (title, summary) in enumerate(
            [
                (
                    "Ports & hydrogen: a partnership <signed>",
                    '<p>Seven clusters agree to <a href="https://example.org/p">pool</a> '
                    "tests.</p>",
                ),
                (
                    'Survey: 71% of clusters assess "digital readiness"',
                    "<p>Most members now get an assessment.</p><p>Few have a data advisor.</p>",
                ),
                ("A story with no summary", ""),
            ],
            start=1,
        )
    )
    events = (
        QueuedItem(
            id=10,
            kind=ItemKind.EVENT,
            title="Regions Forum",
            link="https://example.org/e/10",
            summary="",
            published_at=at(-1),
            event_start=at(12),
            event_end=at(13),
            location="Porto, Portugal",
        ),
        QueuedItem(
            id=11,
            kind=ItemKind.EVENT,
            title="Webinar: Green skills",
            link="https://example.org/e/11",
            summary="",
            published_at=at(-1),
            event_start=at(30),
            location=None,
        ),
    )
    calls = (
        QueuedItem(
            id=20,
            kind=ItemKind.CALL,
            title="Digital Innovation Hubs call",
            link="https://example.org/c/20",
            summary="",
            published_at=at(-2),
            deadline=at(21),
        ),
    )
    return IssuePlan(
        number=42,
        date=DATE,
        news=news,
        events=events,
        calls=calls,
        intro="<p>Welcome to issue 42.</p>",
        spotlight=Spotlight(
            kind="quote",
            text="Clusters are how regions learn.",
            by="A. Member",
            url="https://example.org/q",
        ),
    )


def scrub(text: str) -> str:
    """Nothing dynamic is in a rendered issue today; this guards against ids MJML may add."""
    return re.sub(r"mj-column-per-\d+", "mj-column-per-N", text)


@pytest.mark.parametrize("part", ["html", "text"])
def test_rendered_issue_matches_the_golden_file(
    part: str, make_settings: Callable[..., Settings]
) -> None:
    settings = make_settings(
        newsletter_name="Golden Weekly",
        newsletter_base_url="https://news.example.org",
        newsletter_postal_address="1 Example Street, Example City",
    )
    rendered = render_issue(fixed_plan(), settings)
    actual = scrub(rendered.html if part == "html" else rendered.text)
    golden = GOLDEN / f"issue.{part if part == 'html' else 'txt'}"
    if os.environ.get("REGENERATE_GOLDEN") == "1":
        golden.write_text(actual, encoding="utf-8")
    assert golden.exists(), "no golden file yet: run with REGENERATE_GOLDEN=1"
    assert actual == golden.read_text(encoding="utf-8")
