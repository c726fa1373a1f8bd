"""The `digest` command line against real feeds, SMTP and databases: in-process through
click's CliRunner, through `main()` for the one-line errors, and as real processes."""

from __future__ import annotations

import email
import email.policy
import json
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner

from digest.cli import cli
from digest.db.engine import Database
from digest.settings import load_settings
from tests.support.cli import DIGEST, assert_one_error_line, invoke, run_main, write_config
from tests.support.clock import NOW, fixed
from tests.support.feeds import RssItem, closed_port_url, rss, silent_server
from tests.support.http import FeedHttpServer, Route
from tests.support.smtp import SmtpTestServer


def feeds(now: datetime) -> dict[str, tuple[str, bytes]]:
    """News, events and calls feeds dated around `now` (the CLI runs on the real clock)."""
    news = rss(
        [
            RssItem(
                title=f"Story {n}",
                guid=f"story-{n}",
                link=f"https://example.org/story/{n}",
                description=f"<p>About story {n}.</p>",
                published=now - timedelta(hours=n + 1),
            )
            for n in range(3)
        ]
    )
    start = (now + timedelta(days=10)).replace(microsecond=0)
    events = rss(
        [
            RssItem(
                title="Cluster Forum",
                guid="forum",
                link="https://example.org/forum",
                published=now - timedelta(days=1),
                extra=f"<ev:startdate>{start.isoformat()}</ev:startdate>"
                "<ev:location>Gent, Belgium</ev:location>",
            )
        ]
    )
    deadline = now + timedelta(days=30)
    calls = rss(
        [
            RssItem(
                title="Open call",
                guid="call",
                link="https://example.org/call",
                description=f"<p>Apply now.</p><p>Deadline: {deadline:%d/%m/%Y}</p>",
                published=now - timedelta(days=1),
            )
        ]
    )
    return {
        "news": ("/news.xml", news),
        "events": ("/events.xml", events),
        "calls": ("/calls.xml", calls),
    }


@pytest.fixture
def served(http_server: FeedHttpServer) -> dict[str, str]:
    """The three feeds on the local HTTP server: kind -> URL."""
    urls = {}
    for kind, (path, body) in feeds(NOW).items():
        http_server.routes[path] = Route(body)
        urls[kind] = http_server.url(path)
    return urls


@pytest.fixture
def config(tmp_path: Path, db: Database, db_url: str, smtp_server: SmtpTestServer) -> Path:
    """Settings for a migrated, empty database (the `db` fixture empties it)."""
    return write_config(tmp_path, db_url, smtp_server.port)


def test_the_weekly_job_step_by_step(
    config: Path, served: dict[str, str], smtp_server: SmtpTestServer, tmp_path: Path
) -> None:
    for kind, url in served.items():
        added = invoke(config, "sources", "add", url, "--kind", kind, "--name", f"Test {kind}")
        assert added.stdout.startswith("added source ") and url in added.stdout
    listed = invoke(config, "sources", "list")
    assert len(listed.stdout.splitlines()) == 3 and "new" in listed.stdout

    collected = invoke(config, "collect")
    assert "collected 3 source(s): 5 new item(s), 0 failed" in collected.stdout
    assert collected.stderr == ""
    health = json.loads(invoke(config, "sources", "list", "--json").stdout)
    assert [s["health"] for s in health] == ["ok", "ok", "ok"]
    assert [s["items_found"] for s in health] == [3, 1, 1]

    queue = json.loads(invoke(config, "items", "list", "--json").stdout)
    assert sorted(i["kind"] for i in queue) == ["call", "event", "news", "news", "news"]
    assert {i["state"] for i in queue} == {"queued"}
    forum = next(i for i in queue if i["kind"] == "event")
    assert forum["location"] == "Gent, Belgium" and forum["event_start"]
    call = next(i for i in queue if i["kind"] == "call")
    assert call["deadline"] and call["needs_review"] is None
    events_only = json.loads(invoke(config, "items", "list", "--kind", "event", "--json").stdout)
    assert [i["title"] for i in events_only] == ["Cluster Forum"]

    composed = invoke(config, "issue", "compose")
    assert composed.stdout.startswith("composed issue #1: 3 news, 1 event, 1 call;")

    out = tmp_path / "preview"
    preview = invoke(config, "issue", "preview", "--out", str(out))
    assert str(out / "issue.html") in preview.stdout
    html = (out / "issue.html").read_text(encoding="utf-8")
    assert "Story 0" in html and "Cluster Forum" in html and "Open call" in html
    assert "Story 2" in (out / "issue.txt").read_text(encoding="utf-8")
    eml = email.message_from_bytes((out / "issue.eml").read_bytes(), policy=email.policy.default)
    assert eml.get_content_type() == "multipart/alternative"

    roster = tmp_path / "people.csv"
    roster.write_text(
        "email,name\nann@example.com,Ann\nbob@example.com,Bob\nnot-an-address,X\n"
        "cleo@example.com,Cleo\nANN@example.com,Ann again\n",
        encoding="utf-8",
    )
    imported = invoke(config, "subscribers", "import", str(roster))
    assert imported.stdout.strip() == (
        "imported 3 new subscriber(s); 0 already known, 0 forgotten, 1 duplicate row(s), "
        "1 bad row(s)"
    )
    assert imported.stderr.startswith(f"{roster}:4: skipped: ")
    listing = json.loads(invoke(config, "subscribers", "list", "--json").stdout)
    assert [(s["email"], s["status"]) for s in listing] == [
        ("ann@example.com", "active"),
        ("bob@example.com", "active"),
        ("cleo@example.com", "active"),
    ]
    assert "bob@example.com" in invoke(config, "subscribers", "list").stdout

    dry = invoke(config, "issue", "send", "--dry-run")
    assert "would go to 3 of 3" in dry.stdout and "nothing was sent" in dry.stdout
    assert smtp_server.received == []
    assert json.loads(invoke(config, "status", "--json").stdout)["latest_issue"]["status"] == (
        "draft"
    )

    sent = invoke(config, "issue", "send")
    assert "issue #1: 3 sent" in sent.stdout and "complete" in sent.stdout
    assert sorted(r.rcpt for r in smtp_server.received) == [
        "ann@example.com",
        "bob@example.com",
        "cleo@example.com",
    ]
    again = invoke(config, "issue", "send")
    assert "3 sent" in again.stdout and len(smtp_server.received) == 3

    status = json.loads(invoke(config, "status", "--json").stdout)
    assert status["sources"] == {"ok": 3}
    assert status["subscribers"] == {"active": 3}
    # News appear once; the event and the call roll on into the next issues until they pass.
    assert status["items"] == {"call/queued": 1, "event/queued": 1, "news/published": 3}
    assert status["latest_issue"]["number"] == 1
    assert status["latest_issue"]["status"] == "sent"
    assert status["latest_issue"]["deliveries"] == {"sent": 3}
    text_status = invoke(config, "status").stdout
    assert "latest issue #1 sent" in text_status and "3 sent" in text_status


def test_an_unanswering_source_does_not_stop_collect(
    config: Path, served: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    with silent_server() as silent:
        invoke(config, "sources", "add", silent, "--kind", "news")
        invoke(config, "sources", "add", closed_port_url(), "--kind", "news")
        invoke(config, "sources", "add", served["news"], "--kind", "news")

        code, out, err = run_main(["--config", str(config), "collect"], capsys)

    assert code == 3  # some sources failed: `digest collect --help`
    assert out.splitlines()[-1] == "collected 3 source(s): 3 new item(s), 2 failed"
    failures = err.splitlines()
    assert len(failures) == 2
    assert failures[0].startswith(f"{silent}: FAILED: timed out")
    assert "FAILED: cannot connect" in failures[1]
    listed = invoke(config, "sources", "list").stdout
    assert listed.count("last error:") == 2
    assert "3 items" in listed


def test_init_writes_a_starter_file_and_refuses_to_overwrite_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "new.toml"
    written = invoke(None, "init", "--path", str(path))
    assert f"wrote {path}" in written.stdout
    settings = load_settings(path, env={})
    assert len(settings.security.secret_key) >= 32
    assert path.stat().st_mode & 0o077 == 0  # it holds the signing key
    before = path.read_text(encoding="utf-8")
    other = tmp_path / "other.toml"
    invoke(None, "init", "--path", str(other))
    assert load_settings(other, env={}).security.secret_key != settings.security.secret_key

    code, _, err = run_main(["init", "--path", str(path)], capsys)

    assert_one_error_line(code, err, "already exists", "--force")
    assert path.read_text(encoding="utf-8") == before
    invoke(None, "init", "--path", str(path), "--force")
    assert path.read_text(encoding="utf-8") != before


def all_commands(group: click.Group, prefix: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    yield prefix
    context = click.Context(group)
    for name in group.list_commands(context):
        command = group.get_command(context, name)
        assert command is not None, name
        if isinstance(command, click.Group):
            yield from all_commands(command, (*prefix, name))
        else:
            yield (*prefix, name)


def test_version_is_shown() -> None:
    result = CliRunner().invoke(cli, ["--version"], obj=fixed)
    assert result.exit_code == 0 and "0.1.0" in result.stdout


def test_every_command_answers_help() -> None:
    paths = list(all_commands(cli))
    assert ("issue", "send") in paths and ("subscribers", "import") in paths
    assert len(paths) > 20
    for path in paths:
        result = CliRunner().invoke(cli, [*path, "--help"], obj=fixed)
        assert result.exit_code == 0, (path, result.output)
        assert result.stdout.startswith("Usage: "), path
        assert result.stderr == ""


BAD_CONFIGS: dict[str, tuple[str, str]] = {
    "malformed-toml": ("[database\nurl = 1\n", "not valid TOML"),
    "unknown-setting": (
        "[smtp]\nprot = 25\n",
        "unknown setting smtp.prot (did you mean smtp.port?)",
    ),
    "unknown-section": ("[smpt]\nport = 25\n", "unknown setting [smpt]"),
    "wrong-type": ('[smtp]\nport = "twenty-five"\n', "smtp.port: expected a whole number"),
    "bad-db-url": ('[database]\nurl = "nosuchdb://x"\n', "nosuchdb://x"),
}


@pytest.mark.parametrize("name", list(BAD_CONFIGS))
def test_a_bad_settings_file_is_one_error_line(
    name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    body, expected = BAD_CONFIGS[name]
    path = tmp_path / "digest.toml"
    path.write_text(body, encoding="utf-8")

    code, out, err = run_main(["--config", str(path), "status"], capsys)

    assert_one_error_line(code, err, expected)
    assert out == ""


def test_a_missing_settings_file_is_one_error_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "nowhere.toml"
    code, _, err = run_main(["--config", str(missing), "sources", "list"], capsys)
    assert_one_error_line(code, err, str(missing), "not found")


def test_an_unreachable_database_is_one_error_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    port = closed_port_url().split(":")[2].split("/")[0]
    config = write_config(tmp_path, f"postgresql+psycopg://postgres@127.0.0.1:{port}/nothing")
    code, _, err = run_main(["--config", str(config), "status"], capsys)
    assert_one_error_line(code, err, "cannot open the database")


def test_command_errors_are_one_line(
    config: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    base = ["--config", str(config)]

    code, _, err = run_main(
        [*base, "sources", "add", "ftp://example.org/feed", "--kind", "news"], capsys
    )
    assert_one_error_line(code, err, "'ftp://example.org/feed' is not an http(s) URL")

    code, _, err = run_main([*base, "issue", "send"], capsys)
    assert_one_error_line(code, err, "there is no issue yet", "digest issue compose")
    code, _, err = run_main([*base, "issue", "send", "--dry-run"], capsys)
    assert_one_error_line(code, err, "no issue")
    code, _, err = run_main([*base, "issue", "preview", "--number", "7"], capsys)
    assert_one_error_line(code, err, "there is no issue #7")
    code, _, err = run_main([*base, "issue", "compose"], capsys)
    assert_one_error_line(code, err, "not composed", "collect first")

    no_email = tmp_path / "no-email.csv"
    no_email.write_text("name\nAnn\n", encoding="utf-8")
    code, _, err = run_main([*base, "subscribers", "import", str(no_email)], capsys)
    assert_one_error_line(code, err, f"{no_email}:1:", "no email column")

    invoke(config, "sources", "add", "http://example.org/feed", "--kind", "news")
    code, _, err = run_main(
        [*base, "sources", "add", "http://example.org/feed", "--kind", "news"], capsys
    )
    assert_one_error_line(code, err, "already a source")


def test_without_auto_upgrade_an_empty_database_asks_for_db_upgrade(
    tmp_path: Path, empty_db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path, empty_db_url, extra="")
    config.write_text(
        config.read_text(encoding="utf-8").replace(
            "[database]\n", "[database]\nauto_upgrade = false\n"
        ),
        encoding="utf-8",
    )
    code, _, err = run_main(["--config", str(config), "status"], capsys)
    assert_one_error_line(code, err, "run `digest db upgrade`")

    assert "database: empty" in invoke(config, "db", "current").stdout
    assert "upgraded database from empty to" in invoke(config, "db", "upgrade").stdout
    assert "up to date" in invoke(config, "db", "upgrade").stdout
    assert "latest issue none yet" in invoke(config, "status").stdout


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*args], capture_output=True, text=True, timeout=60, cwd=cwd, check=False)


@pytest.fixture
def sqlite_config(tmp_path: Path) -> Path:
    """Settings for a SQLite file that the first command creates (the process tests are
    about the entry points, so one database is enough)."""
    return write_config(tmp_path, f"sqlite:///{tmp_path / 'process.sqlite3'}")


def test_the_installed_command_runs_as_a_process(
    sqlite_config: Path, served: dict[str, str], tmp_path: Path
) -> None:
    config = sqlite_config
    assert DIGEST.exists()
    helped = run(str(DIGEST), "--help", cwd=tmp_path)
    assert helped.returncode == 0 and "Usage: digest" in helped.stdout

    added = run(
        str(DIGEST),
        "--config",
        str(config),
        "sources",
        "add",
        served["news"],
        "--kind",
        "news",
        cwd=tmp_path,
    )
    assert added.returncode == 0, added.stderr
    collected = run(
        sys.executable, "-m", "digest", "--config", str(config), "collect", cwd=tmp_path
    )
    assert collected.returncode == 0, collected.stderr
    assert "3 new item(s), 0 failed" in collected.stdout
    listed = run(str(DIGEST), "--config", str(config), "items", "list", "--json", cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    assert sorted(i["title"] for i in json.loads(listed.stdout)) == [
        "Story 0",
        "Story 1",
        "Story 2",
    ]


def test_a_process_error_is_one_line_on_stderr(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("this is = = not toml\n", encoding="utf-8")
    for argv in (
        [str(DIGEST), "--config", str(bad), "status"],
        [sys.executable, "-m", "digest", "--config", str(tmp_path / "missing.toml"), "collect"],
    ):
        result = run(*argv, cwd=tmp_path)
        assert result.returncode == 1
        assert result.stdout == ""
        assert len(result.stderr.splitlines()) == 1, result.stderr
        assert result.stderr.startswith("digest: error: ")


def test_settings_file_is_found_in_the_working_folder(config: Path, served: dict[str, str]) -> None:
    # No --config: ./digest.toml of the folder the command runs in.
    result = run(str(DIGEST), "status", "--json", cwd=config.parent)
    assert result.returncode == 0, result.stderr
    data: dict[str, Any] = json.loads(result.stdout)
    assert data["settings"] == str(config.resolve())
