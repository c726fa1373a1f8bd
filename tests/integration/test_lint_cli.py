"""`digest issue lint` on an issue composed on SQLite and PostgreSQL: a demo-like issue is
clean, --json parses, an error exits 1, and SpamAssassin's local score of the sample message
(skipped, with the reason, only where SpamAssassin is not installed; CI installs it)."""

from __future__ import annotations

import json
import shutil
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner, Result

from digest.cli import cli
from digest.db.engine import Database
from digest.lint.checks import SIZE_WARNING_BYTES
from digest.lint.spam import NOT_INSTALLED
from digest.render import templates_dir
from tests.support.cli import invoke, write_config
from tests.support.clock import NOW, fixed

NEWSLETTER = """[newsletter]
name = "Cluster Weekly"
postal_address = "Example Network, 1 Sample Street, 1000 Example City"
"""
PUBLIC = 'base_url = "https://news.example.org"\n'


def demo_like_items(path: Path) -> Path:
    """News with summaries and links, events and calls, as the demo's feeds have them."""
    today = NOW

    def day(offset: int) -> str:
        return (today + timedelta(days=offset)).strftime("%d/%m/%Y")

    news = [
        {
            "kind": "news",
            "title": f"{topic}: a new partnership of {n + 3} clusters",
            "url": f"https://example.org/news/{n}",
            "summary": f"<p>Cluster organisations agreed to pool {topic.lower()} pilots and "
            "share procurement guidance. The partnership will run joint workshops over the "
            'next two years. <a href="https://example.org/report">Read the report</a>.</p>',
            "date": day(-n),
        }
        for n, topic in enumerate(
            ["Hydrogen", "Textiles", "Agrifood", "Medtech", "Mobility", "Construction"]
        )
    ]
    events = [
        {
            "kind": "event",
            "title": f"Regional forum {n}",
            "url": f"https://example.org/events/{n}",
            "date": day(10 + 7 * n),
            "location": "Porto, Portugal",
        }
        for n in range(4)
    ]
    calls = [
        {
            "kind": "call",
            "title": f"Innovation vouchers, round {n}",
            "url": f"https://example.org/calls/{n}",
            "deadline": day(20 + 10 * n),
        }
        for n in range(3)
    ]
    path.write_text(yaml.safe_dump(news + events + calls, allow_unicode=True), encoding="utf-8")
    return path


def compose(tmp_path: Path, db_url: str, extra: str = "") -> Path:
    """Settings on the test database, the demo-like items queued and an issue composed."""
    config = write_config(tmp_path, db_url, extra=NEWSLETTER + extra)
    invoke(config, "items", "import", str(demo_like_items(tmp_path / "items.yaml")))
    invoke(config, "issue", "compose")
    return config


def lint(config: Path, *args: str) -> Result:
    return CliRunner().invoke(cli, ["--config", str(config), "issue", "lint", *args], obj=fixed)


def lint_json(config: Path, *args: str) -> tuple[int, dict[str, Any]]:
    result = lint(config, "--json", *args)
    return result.exit_code, json.loads(result.stdout)


def test_a_demo_like_issue_lints_clean(db: Database, db_url: str, tmp_path: Path) -> None:
    config = compose(tmp_path, db_url, PUBLIC)
    result = lint(config)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert len(lines) == 1, result.output  # no findings, only the summary
    assert lines[0].startswith("issue #1 (draft): 0 error(s), 0 warning(s); HTML ")


def test_json_output_parses(db: Database, db_url: str, tmp_path: Path) -> None:
    config = compose(tmp_path, db_url, PUBLIC)
    code, report = lint_json(config, "--number", "1")
    assert code == 0
    assert report["issue"] == 1 and report["status"] == "draft"
    assert (report["ok"], report["errors"], report["warnings"], report["findings"]) == (
        True,
        0,
        0,
        [],
    )
    assert 10_000 < report["html_bytes"] < SIZE_WARNING_BYTES
    assert report["ignored"] and all(i["reason"] for i in report["ignored"])
    assert report["spam"] is None


def test_a_local_base_url_is_a_warning_not_a_failure(
    db: Database, db_url: str, tmp_path: Path
) -> None:
    config = compose(tmp_path, db_url)  # base_url stays http://127.0.0.1:8000
    result = lint(config)
    assert result.exit_code == 0, result.output
    (warning, summary) = result.stdout.splitlines()
    assert warning.startswith("warning: links: newsletter.base_url is not public https")
    assert "0 error(s), 1 warning(s)" in summary


def test_an_error_exits_with_status_1(db: Database, db_url: str, tmp_path: Path) -> None:
    folder = tmp_path / "templates"
    shutil.copytree(templates_dir(), folder, ignore=shutil.ignore_patterns("__*"))
    header = folder / "partials" / "header.mjml.j2"
    header.write_text(
        '<mj-raw><img src="https://example.org/banner.png"></mj-raw>\n'
        + header.read_text(encoding="utf-8"),
        encoding="utf-8",
    )
    config = compose(tmp_path, db_url, PUBLIC + f'templates_dir = "{folder}"\n')
    result = lint(config)
    assert result.exit_code == 1, result.output
    assert result.stdout.splitlines()[0].startswith("error: alt: image without alt text")
    code, report = lint_json(config)
    assert code == 1 and report["ok"] is False and report["errors"] == 1


def test_spam_without_spamassassin_is_a_warning(
    db: Database, db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = compose(tmp_path, db_url, PUBLIC)
    monkeypatch.setattr(shutil, "which", lambda name, *a, **k: None)
    code, report = lint_json(config, "--spam")
    assert code == 0
    assert report["spam"] == {"available": False, "note": NOT_INSTALLED}
    assert [f["check"] for f in report["findings"]] == ["spam"]


@pytest.mark.skipif(
    shutil.which("spamassassin") is None,
    reason="SpamAssassin is not installed (apt-get install spamassassin); CI installs it",
)
def test_the_sample_message_scores_at_most_0(db: Database, db_url: str, tmp_path: Path) -> None:
    config = compose(tmp_path, db_url, PUBLIC)
    code, report = lint_json(config, "--spam")
    spam = report["spam"]
    rules = {rule["name"]: rule["points"] for rule in spam["rules"]}
    assert spam["available"] and spam["command"] == "spamassassin -t -L"
    assert spam["score"] <= 0, rules
    assert code == 0 and report["findings"] == []
    text = lint(config, "--spam")
    assert text.exit_code == 0
    assert "spam: score " in text.stdout
    assert all(name in text.stdout for name in rules)
