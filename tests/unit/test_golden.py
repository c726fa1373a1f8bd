"""Golden files: the rendered HTML and text of a fixed issue, byte for byte.

A change to a template or the render stage shows up here as a diff to review. After an
intended change, regenerate with `REGENERATE_GOLDEN=1 pytest tests/unit/test_golden.py`
and commit the new files with the change.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path

import pytest

from digest.render import render_issue
from digest.settings import Settings
from tests.support.plans import fixed_plan

GOLDEN = Path(__file__).resolve().parents[1] / "golden"


def scrub(text: str) -> str:
    """The issue's random placeholder key (new each render) and ids MJML may add."""
    text = re.sub(r"(%%[A-Z_]+)_[0-9A-F]{32}%%", r"\1%%", text)
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
