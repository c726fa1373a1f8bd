"""`digest demo` end to end: its own feed server, a real SMTP capture process, a Maildir."""

from __future__ import annotations

import email
import email.policy
import html
import json
import re
import stat
import subprocess
import sys
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from digest.cli import cli
from digest.db.engine import Database
from digest.db.schema import Issue, IssueItem, Item, Subscriber
from digest.demo import MARKER, DemoSummary, run_demo
from digest.errors import ConfigError
from digest.settings import Settings, load_settings
from subscribers.tokens import UNSUBSCRIBE, TokenSigner
from tests.support.clock import NOW, fixed

SUBSCRIBERS = 60


def now() -> datetime:
    # The demo's feeds are dated relative to the clock it is given: the tests' fixed one.
    return NOW


@dataclass(frozen=True)
class Demo:
    first: DemoSummary
    second: DemoSummary  # the same folder again

    @property
    def workspace(self) -> Path:
        return self.second.workspace


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Demo:
    folder = tmp_path_factory.mktemp("demo") / "workspace"
    first = run_demo(folder, SUBSCRIBERS, now, progress=None)
    second = run_demo(folder, SUBSCRIBERS, now, progress=None)
    return Demo(first, second)


@dataclass(frozen=True)
class Delivered:
    raw: bytes
    message: EmailMessage
    html: str
    text: str


def delivered(maildir: Path) -> list[Delivered]:
    messages = []
    for path in sorted((maildir / "new").iterdir()):
        raw = path.read_bytes()
        message = email.message_from_bytes(raw, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        html_part = message.get_body(("html",))
        text_part = message.get_body(("plain",))
        assert html_part is not None and text_part is not None
        messages.append(
            Delivered(raw, message, html.unescape(html_part.get_content()), text_part.get_content())
        )
    return messages


def test_the_demo_reports_what_it_did(demo: Demo) -> None:
    for summary in (demo.first, demo.second):
        assert summary.accepted == SUBSCRIBERS and summary.failed == 0
        assert summary.subscribers == SUBSCRIBERS and summary.issue_number == 1
        assert set(summary.items) == {"news", "event", "call"}
        assert all(n > 0 for n in summary.items.values()), summary.items
        assert summary.issue_bytes > 10_000
        assert summary.seconds > 0
    assert demo.first.workspace == demo.second.workspace
    assert (demo.workspace / MARKER).is_file()
    assert demo.second.settings_file == demo.workspace / "digest.toml"


def subscriber_ids(settings: Settings) -> dict[str, int]:
    database = Database(settings.database_url, auto_upgrade=False)
    try:
        with database.session() as session:
            rows = session.execute(select(Subscriber.email, Subscriber.id))
            return {address: number for address, number in rows}
    finally:
        database.dispose()


def test_every_subscriber_got_one_valid_personal_message(demo: Demo) -> None:
    messages = delivered(demo.second.maildir)
    settings = load_settings(demo.second.settings_file, env={})
    ids = subscriber_ids(settings)
    signer = TokenSigner(settings.signing_keys, UNSUBSCRIBE)

    assert len(messages) == SUBSCRIBERS  # the second run replaced the first one's Maildir
    links = set()
    recipients = set()
    for item in messages:
        msg = item.message
        assert msg.get_content_type() == "multipart/alternative"
        assert [p.get_content_type() for p in msg.iter_parts()] == ["text/plain", "text/html"]
        assert max(len(line.rstrip(b"\r")) for line in item.raw.split(b"\n")) <= 998
        rcpt = msg["X-Envelope-To"]
        assert msg["To"].addresses[0].addr_spec == rcpt
        recipients.add(rcpt)
        unsubscribe = msg["List-Unsubscribe"].strip("<>")
        assert unsubscribe.startswith("http")
        assert unsubscribe in item.html and unsubscribe in item.text
        assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        # The link unsubscribes this message's recipient, nobody else.
        assert signer.verify(unsubscribe.rsplit("/", 1)[1]).subscriber_id == ids[rcpt]
        links.add(unsubscribe)
    assert len(recipients) == SUBSCRIBERS
    assert len(links) == SUBSCRIBERS


def test_past_events_and_closed_calls_stay_out_of_the_issue(demo: Demo) -> None:
    settings = load_settings(demo.second.settings_file, env={})
    database = Database(settings.database_url, auto_upgrade=False)
    try:
        with database.session() as session:
            expired = list(session.scalars(select(Item).where(Item.state == "expired")))
            in_issue = set(
                session.scalars(select(Item.title).join(IssueItem, IssueItem.item_id == Item.id))
            )
            issue = session.scalars(select(Issue)).one()
    finally:
        database.dispose()

    assert {i.kind for i in expired} == {"event", "call"}
    assert issue.status == "sent" and in_issue
    sample = delivered(demo.second.maildir)[0]
    preview = html.unescape(demo.second.preview_html.read_text(encoding="utf-8"))
    for item in expired:
        assert item.title not in in_issue
        assert item.title not in sample.html and item.title not in sample.text
        assert item.title not in preview
    for title in in_issue:
        assert title in sample.html and title in preview


def test_the_preview_files_are_written(demo: Demo) -> None:
    preview = demo.second.preview_html.parent
    assert demo.second.preview_html == preview / "issue.html"
    for name in ("issue.html", "issue.txt", "issue.eml"):
        assert (preview / name).stat().st_size > 500, name
    assert "Cluster Weekly" in demo.second.preview_html.read_text(encoding="utf-8")
    assert demo.second.preview_text.read_text(encoding="utf-8").strip()
    assert demo.second.sample_message is not None and demo.second.sample_message.is_file()


def test_the_workspace_works_with_the_cli_afterwards(demo: Demo) -> None:
    config = str(demo.second.settings_file)
    listed = CliRunner().invoke(cli, ["--config", config, "items", "list"], obj=fixed)
    assert listed.exit_code == 0, (listed.output, listed.exception)
    rows = [line for line in listed.stdout.splitlines() if line.split()[0].isdigit()]
    assert len(rows) == sum(demo.second.items.values())  # one line per item (and a header)
    assert "published" in listed.stdout and "expired" in listed.stdout
    status = CliRunner().invoke(cli, ["--config", config, "status", "--json"], obj=fixed)
    assert status.exit_code == 0, status.output
    assert json.loads(status.stdout)["latest_issue"]["deliveries"] == {"sent": SUBSCRIBERS}


def test_a_folder_that_is_not_a_demo_workspace_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "my-project"
    folder.mkdir()
    (folder / "notes.txt").write_text("mine\n", encoding="utf-8")

    with pytest.raises(ConfigError, match="not a demo workspace"):
        run_demo(folder, 3, now)

    assert [p.name for p in folder.iterdir()] == ["notes.txt"]


def test_the_demo_command_prints_json(tmp_path: Path) -> None:
    workspace = tmp_path / "cli-demo"
    digest = Path(sys.executable).parent / "digest"

    result = subprocess.run(
        [str(digest), "demo", "--subscribers", "30", "--json", "--workspace", str(workspace)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    for key in ("workspace", "settings_file", "maildir", "preview_html", "seconds"):
        assert key in summary
    assert summary["accepted"] == 30 and summary["failed"] == 0
    assert Path(summary["workspace"]) == workspace.resolve()
    assert Path(summary["settings_file"]).is_file()
    assert Path(summary["preview_html"]).is_file()
    assert len(list((Path(summary["maildir"]) / "new").iterdir())) == 30
    assert isinstance(summary["seconds"], float) and summary["seconds"] > 0


def test_the_workspace_files_are_the_owners_only(demo: Demo) -> None:
    """Issue 12, item 9: the settings (the secret key), the database, the captured mail and
    the preview (live links) are 0600, their folders 0700."""
    workspace = demo.second.workspace
    files = [
        demo.second.settings_file,
        *workspace.rglob("*.sqlite3*"),
        *sorted((demo.second.maildir / "new").iterdir())[:3],
        demo.second.preview_html,
    ]
    assert len(files) >= 5
    assert {str(f): stat.S_IMODE(f.stat().st_mode) for f in files} == {str(f): 0o600 for f in files}
    assert stat.S_IMODE(workspace.stat().st_mode) == 0o700


def test_the_demo_issue_shows_everything_the_engine_can_do(demo: Demo) -> None:
    """Like the sample digest: an intro in Markdown, news, events with times and places,
    calls with deadlines, a spotlight quote, and the footer's social links and address."""
    message = delivered(demo.second.maildir)[0]
    body, text = message.html, message.text
    assert "<strong>Cluster Weekly</strong>" in body and "**" not in text  # the intro
    assert "Regions & Clusters Forum [1]" in text  # its link as a numbered reference
    assert "[1] https://example.org/events/regions-clusters-forum" in text
    for part in (body, text):
        assert "LATEST NEWS" in part.upper()
        assert "1 December 2026, 14:00–15:00 · Online" in part  # the webinar, with its time
        assert "5 December 2026, 09:00 – 6 December 2026, 17:00 · Marrowby, Ireland" in part
        assert "Deadline: 2 December 2026" in part  # calls with their deadlines
        assert "never" in part and "Dr Ada Marrow" in part  # the spotlight quote
        assert "LinkedIn" in part and "Mastodon" in part  # the footer's social links
        assert "1 Sample Street" in part
    assert "<strong>never</strong>" in body


def test_the_demo_command_says_what_it_collected_in_words(tmp_path: Path) -> None:
    """Issue 13, item 7: "5 calls, 7 events, 8 news", not "5 call"."""
    digest = Path(sys.executable).parent / "digest"
    result = subprocess.run(
        [str(digest), "demo", "--subscribers", "3", "--workspace", str(tmp_path / "words")],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    (line,) = [line for line in result.stdout.splitlines() if "collected" in line]
    assert re.fullmatch(r"  collected +\d+ calls, \d+ events, \d+ news", line), line
