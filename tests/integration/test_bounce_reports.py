"""`digest bounces list`, `show` and `stats`, and the bounce line of `digest status`, on
SQLite and PostgreSQL, over messages processed for real."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from digest.bounces.process import process_message
from digest.cli import cli
from digest.db.engine import Database
from digest.settings import Settings, load_settings
from tests.support.cli import write_config
from tests.support.clock import NOW, fixed
from tests.support.dsn import auto_reply, complaint, dsn
from tests.support.seed import mailed_issue

BASE = "newsletter@example.com"


def run(config: Path, *args: str, exit_code: int = 0) -> Result:
    result = CliRunner().invoke(cli, ["--config", str(config), *args], obj=fixed)
    assert result.exit_code == exit_code, (args, result.output, result.exception)
    return result


@pytest.fixture
def config(db: Database, db_url: str, tmp_path: Path) -> Path:
    """Issue #1 mailed to 40 people: 1 hard bounce, 1 soft, 1 complaint, an auto-reply and a
    report about a stranger come back."""
    path = write_config(tmp_path, db_url)
    settings = load_settings(path)
    mailed_issue(db, settings, 40)
    for raw in (
        dsn(to=BASE, recipient="user1@example.com", serial="1"),
        dsn(to=BASE, recipient="user2@example.com", status="4.2.2", code=452, serial="2"),
        complaint(to=BASE, recipient="user3@example.com", mail_from=BASE),
        auto_reply(to=BASE, sender="user4@example.com"),
        dsn(to=BASE, recipient="stranger@example.org", serial="3"),
    ):
        process(db, settings, raw)
    return path


def process(db: Database, settings: Settings, raw: bytes) -> None:
    process_message(db, settings, raw, channel="maildir", now=NOW)


def test_list_shows_one_line_each_newest_first(config: Path) -> None:
    lines = run(config, "bounces", "list").output.splitlines()
    assert len(lines) == 5
    assert lines[0].startswith("#5 ") and "set_aside" in lines[0] and "stranger" in lines[0]
    assert "hard" in lines[-1] and "user1@example.com" in lines[-1]
    hard = run(config, "bounces", "list", "--kind", "hard").output.splitlines()
    assert [line.split()[0] for line in hard] == ["#5", "#1"]
    assert len(run(config, "bounces", "list", "--limit", "2").output.splitlines()) == 2
    later = run(config, "bounces", "list", "--since", "2026-11-24").output
    assert later.strip() == "no bounces received"


def test_show_gives_the_classification_the_outcome_and_the_evidence(config: Path) -> None:
    out = run(config, "bounces", "show", "1").output
    assert "kind         hard (user_unknown)" in out
    assert "outcome      applied" in out
    assert "subscriber   user1@example.com (delivery" in out
    assert "--- headers ---" in out and "Subject: Undelivered Mail Returned to Sender" in out
    assert "--- evidence ---" in out and "Status: 5.1.1" in out
    aside = run(config, "bounces", "show", "5").output
    assert "outcome      set_aside" in aside and "stranger@example.org is not a subscriber" in aside
    missing = CliRunner().invoke(cli, ["--config", str(config), "bounces", "show", "99"], obj=fixed)
    assert missing.exit_code != 0 and "no received message #99" in str(missing.exception)


def test_stats_counts_rates_and_warns(config: Path) -> None:
    result = run(config, "bounces", "stats")
    assert "#1" in result.output
    assert "1 (2.50%)" in result.output  # 1 hard of 40, 1 soft of 40
    assert "1 (2.500%)" in result.output  # 1 complaint of 40
    assert "complaint rate 2.50%" in result.output
    assert "hard-bounce rate 2.50% is above 2.00%" in result.output
    data = json.loads(run(config, "bounces", "stats", "--issue", "1", "--json").stdout)
    assert data[0]["issue"] == 1 and data[0]["mailed"] == data[0]["delivered"] == 40
    assert (data[0]["hard"], data[0]["soft"], data[0]["complaints"]) == (1, 1, 1)
    assert data[0]["complaint_rate"] == 0.025 and len(data[0]["warnings"]) == 2
    unknown = CliRunner().invoke(
        cli, ["--config", str(config), "bounces", "stats", "--issue", "7"], obj=fixed
    )
    assert unknown.exit_code != 0 and "issue #7 has not been sent" in str(unknown.exception)


def test_status_shows_the_latest_issues_rates_in_one_line(config: Path) -> None:
    # A 2.5 % complaint rate is far over bounces.complaint_warn_rate: status asks for
    # attention with exit status 2.
    status = run(config, "status", exit_code=2)
    assert "complaint" in status.stderr
    out = status.stdout
    (line,) = [line for line in out.splitlines() if line.startswith("bounces")]
    assert line == (
        "bounces      #1: 1 (2.50%) hard, 1 (2.50%) soft, 1 (2.500%) complaints of 40 mailed"
    )
    data = json.loads(run(config, "status", "--json", exit_code=2).stdout)
    assert data["bounces"]["hard"] == 1 and data["bounces"]["mailed"] == 40
