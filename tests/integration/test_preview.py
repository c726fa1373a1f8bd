"""The editor's preview on SQLite and PostgreSQL: the page, the message parts, following
template and queue changes without a restart, errors as one line; the real `digest issue
preview` server process; and proof copies with `digest issue send --test`."""

from __future__ import annotations

import email
import email.policy
import html
import os
import shutil
import signal
import socket
import subprocess
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner
from sqlalchemy import func, select, update

from digest.cli import cli
from digest.compose import compose_issue
from digest.db.engine import Database
from digest.db.schema import Delivery, Issue
from digest.render import templates_dir
from digest.send.message import build_template
from digest.send.personalize import Personalizer
from digest.settings import Settings
from digest.web.preview import preview_app
from tests.support.cli import DIGEST, add_item, invoke, run_main, write_config
from tests.support.clock import NOW, Clock, fixed, fixed_time_env
from tests.support.smtp import SmtpTestServer

with warnings.catch_warnings():
    # Starlette's TestClient would rather have the `httpx2` package; httpx does the same here.
    warnings.filterwarnings("ignore", "Using `httpx` with `starlette.testclient`")
    from starlette.testclient import TestClient


def copy_templates(folder: Path) -> Path:
    shutil.copytree(templates_dir(), folder, ignore=shutil.ignore_patterns("__*"))
    return folder


def edit(path: Path, old: str, new: str) -> None:
    source = path.read_text(encoding="utf-8")
    assert old in source, (path, old)
    path.write_text(source.replace(old, new), encoding="utf-8")
    # Some file systems keep coarse modification times; the size changes as well anyway.
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))


@dataclass
class Preview:
    client: TestClient
    config: Path  # settings for the CLI, on the same database
    templates: Path
    settings: Settings


@pytest.fixture
def preview(
    db: Database,
    db_url: str,
    tmp_path: Path,
    clock: Clock,
    make_settings: Callable[..., Settings],
) -> Iterator[Preview]:
    """A composed draft of two news items and the preview app over it (not started yet)."""
    templates = copy_templates(tmp_path / "templates")
    settings = make_settings(db_url=db_url, newsletter_templates_dir=str(templates))
    cli_dir = tmp_path / "cli"
    cli_dir.mkdir()
    config = write_config(cli_dir, db_url)
    add_item(config, "Harbour news", day=18)
    add_item(config, "Forest news", day=19)
    compose_issue(db, settings, clock)
    with TestClient(preview_app(db, settings, clock), base_url="http://127.0.0.1") as client:
        yield Preview(client, config, templates, settings)


def unsubscribe_url(settings: Settings) -> str:
    template = build_template(
        settings=settings, subject="", html_body="", text_body="", number=1, date=NOW
    )
    return Personalizer(template, settings).links(0).unsubscribe


def test_the_page_shows_both_widths_the_text_part_and_the_headers(preview: Preview) -> None:
    page = preview.client.get("/")

    assert page.status_code == 200
    body = page.text
    assert body.count('<iframe class="mail') == 2
    assert body.count('src="/message.html"') == 2
    assert "Desktop · 640 px" in body and "Phone · 375 px" in body
    text_part = body.split('<pre id="text-part">', 1)[1].split("</pre>", 1)[0]
    assert "Harbour news" in text_part and "About Forest news." in text_part
    assert "<th>Subject</th><td>Digest #1" in body
    assert "<th>To</th><td>A Reader &lt;reader@example.com&gt;</td>" in body
    assert "<th>List-Unsubscribe</th>" in body
    assert "<h2>Lint</h2>" in body
    csp = page.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "frame-ancestors 'none'" in csp
    assert "'unsafe-inline'" not in csp
    assert page.headers["x-content-type-options"] == "nosniff"


def test_the_message_is_personalized_as_sent(preview: Preview) -> None:
    url = unsubscribe_url(preview.settings)

    message_html = preview.client.get("/message.html")
    message_text = preview.client.get("/message.txt")
    eml = preview.client.get("/message.eml")

    assert message_html.status_code == 200
    assert message_html.headers["content-type"].startswith("text/html")
    assert html.escape(url) in message_html.text and "Harbour news" in message_html.text
    assert "%%" not in message_html.text
    assert "script-src" not in message_html.headers["content-security-policy"]
    assert url in message_text.text and "%%" not in message_text.text
    assert eml.headers["content-type"] == "message/rfc822"
    parsed = email.message_from_bytes(eml.content, policy=email.policy.default)
    assert parsed.get_content_type() == "multipart/alternative"
    assert parsed["To"] == "A Reader <reader@example.com>"
    assert parsed["List-Unsubscribe"] == f"<{url}>"


def test_only_get_and_only_our_host_names(preview: Preview) -> None:
    assert preview.client.post("/").status_code == 405
    assert preview.client.get("/", headers={"host": "attacker.example"}).status_code == 400
    assert preview.client.get("/version", headers={"host": "localhost:8001"}).status_code == 200
    assert preview.client.get("/nothing-here").status_code == 404


def test_template_and_queue_changes_show_without_a_restart(preview: Preview, db: Database) -> None:
    client = preview.client
    first = client.get("/version").json()
    assert first["ok"] is True
    assert client.get("/version").json() == first  # stable while nothing changes

    edit(preview.templates / "partials" / "footer.mjml.j2", "Preferences</a>", "Settings</a>")
    edit(preview.templates / "issue.txt.j2", "View in your browser:", "Read it online:")

    second = client.get("/version").json()
    assert second["version"] != first["version"] and second["ok"] is True
    assert client.get("/version").json() == second
    assert ">Settings</a>" in client.get("/message.html").text
    assert "Read it online:" in client.get("/message.txt").text
    assert "Read it online:" in client.get("/").text
    with db.session() as session:
        stored = session.scalars(select(Issue)).one()
    assert ">Settings</a>" in stored.html  # the draft itself was composed again

    add_item(preview.config, "Mountain news", day=21)

    third = client.get("/version").json()
    assert third["version"] != second["version"]
    assert "Mountain news" in client.get("/message.html").text
    assert "Mountain news" in client.get("/message.txt").text

    invoke(preview.config, "issue", "exclude", "1")
    assert client.get("/version").json()["version"] != third["version"]
    assert "Harbour news" not in client.get("/message.html").text


def test_a_broken_template_is_one_line_on_the_page_until_it_is_fixed(preview: Preview) -> None:
    header = preview.templates / "partials" / "header.mjml.j2"
    good = header.read_text(encoding="utf-8")
    header.write_text(good + "\n{% if %}\n", encoding="utf-8")

    page = preview.client.get("/")
    part = preview.client.get("/message.html")
    state = preview.client.get("/version").json()

    assert page.status_code == 200
    error = page.text.split('<p class="error" role="alert">', 1)[1].split("</p>", 1)[0]
    assert "header.mjml.j2" in error and "\n" not in error
    assert "Traceback" not in page.text and "<iframe" not in page.text
    assert part.status_code == 500
    assert part.text.startswith("digest preview: ") and part.text.count("\n") == 1
    assert "header.mjml.j2" in part.text and "Traceback" not in part.text
    assert state["ok"] is False

    header.write_text(good + "\n", encoding="utf-8")
    assert preview.client.get("/version").json()["ok"] is True
    assert preview.client.get("/message.html").status_code == 200


def test_a_sent_issue_is_shown_as_stored(preview: Preview, db: Database) -> None:
    with db.session() as session:
        session.execute(update(Issue).values(status="sent"))
    header = preview.templates / "partials" / "header.mjml.j2"
    header.write_text("{% if %}", encoding="utf-8")  # would fail if it were rendered
    add_item(preview.config, "Too late", day=21)

    page = preview.client.get("/")

    assert page.status_code == 200 and "issue #1 (sent)" in page.text
    assert "Too late" not in preview.client.get("/message.html").text


def test_with_no_issue_the_page_says_what_to_do(
    db: Database, db_url: str, clock: Clock, make_settings: Callable[..., Settings]
) -> None:
    app = preview_app(db, make_settings(db_url=db_url), clock)
    with TestClient(app, base_url="http://127.0.0.1") as client:
        page = client.get("/")
        assert page.status_code == 200
        assert "there is no issue yet: run `digest issue compose`" in page.text
        assert client.get("/message.eml").status_code == 500


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def listening_addresses(port: int) -> list[str]:
    """Local addresses of the TCP sockets listening on `port`, from /proc/net/tcp{,6}."""
    found = []
    for name in ("tcp", "tcp6"):
        table = Path("/proc/net") / name
        if not table.exists():
            continue
        for line in table.read_text().splitlines()[1:]:
            fields = line.split()
            address, hex_port = fields[1].rsplit(":", 1)
            if int(hex_port, 16) == port and fields[3] == "0A":  # 0A: LISTEN
                found.append(address)
    return found


def test_the_preview_server_runs_on_loopback_only(tmp_path: Path) -> None:
    config = write_config(tmp_path, f"sqlite:///{tmp_path / 'serve.sqlite3'}")
    add_item(config, "Served news")
    invoke(config, "issue", "compose")
    port = free_port()
    process = subprocess.Popen(
        [str(DIGEST), "--config", str(config), "issue", "preview", "--port", str(port)],
        env=fixed_time_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
    )
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                page = httpx.get(f"http://127.0.0.1:{port}/", timeout=2)
                break
            except httpx.TransportError:
                assert process.poll() is None, process.communicate()
                assert time.monotonic() < deadline, "the preview server did not answer"
                time.sleep(0.1)
        assert page.status_code == 200
        assert page.text.count('<iframe class="mail') == 2 and "Served news" in page.text
        assert httpx.get(f"http://127.0.0.1:{port}/message.html").status_code == 200
        if Path("/proc/net/tcp").exists():
            assert listening_addresses(port) == ["0100007F"]  # 127.0.0.1, nothing else
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"http://127.0.0.2:{port}/", timeout=2)
    finally:
        process.send_signal(signal.SIGINT)  # Ctrl-C
        out, err = process.communicate(timeout=15)
    assert process.returncode == 0, err
    assert out.splitlines() == [
        f"previewing issue #1 (draft) on http://127.0.0.1:{port}/ (Ctrl-C stops)",
        "preview stopped",
    ]
    assert err == ""


def test_preview_server_errors_are_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path, f"sqlite:///{tmp_path / 'serve.sqlite3'}")
    base = ["--config", str(config), "issue", "preview"]
    code, _, err = run_main([*base, "--port", str(free_port())], capsys)
    assert code == 1 and err.startswith("digest: error: there is no issue yet")

    add_item(config, "Some news")
    invoke(config, "issue", "compose")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        code, out, err = run_main([*base, "--port", str(port)], capsys)
    assert code == 1 and out == ""
    lines = err.splitlines()
    assert len(lines) == 1 and "in use" in lines[0]
    assert lines[0].startswith(f"digest: error: cannot listen on 127.0.0.1:{port}: ")

    # A documentation address (TEST-NET-1) is not on this machine: the warning comes first,
    # then the bind fails, so nothing is ever exposed by this test.
    code, _, err = run_main([*base, "--host", "192.0.2.1", "--port", "0"], capsys)
    lines = err.splitlines()
    assert code == 1 and len(lines) == 2
    assert lines[0].startswith("digest: warning: 192.0.2.1 is not a loopback address")
    assert lines[1].startswith("digest: error: cannot listen on 192.0.2.1:0")


def deliveries(db: Database) -> int:
    with db.session() as session:
        return session.scalar(select(func.count()).select_from(Delivery)) or 0


def issue_status(db: Database) -> str:
    with db.session() as session:
        return session.scalars(select(Issue.status)).one()


def test_send_test_sends_one_proof_and_leaves_the_ledger_alone(
    db: Database,
    db_url: str,
    tmp_path: Path,
    smtp_server: SmtpTestServer,
    capsys: pytest.CaptureFixture[str],
) -> None:
    config = write_config(tmp_path, db_url, smtp_server.port)
    add_item(config, "Proof news")
    invoke(config, "issue", "compose")
    invoke(config, "subscribers", "import", str(roster(tmp_path)))

    sent = invoke(config, "issue", "send", "--test", "--to", "Editor@Example.com")

    assert sent.stdout.startswith("test copy of issue #1 sent to editor@example.com: 250 ")
    assert len(smtp_server.received) == 1
    proof = smtp_server.received[0]
    assert proof.rcpt == "editor@example.com"
    assert proof.message["To"] == "editor@example.com"
    assert proof.message["Subject"].startswith("[TEST] Digest #1")
    assert "Proof news" in proof.raw.decode()
    assert deliveries(db) == 0 and issue_status(db) == "draft"

    smtp_server.faults.refuse["nobody@example.com"] = "550 5.1.1 No such user"
    code, out, err = run_main(
        ["--config", str(config), "issue", "send", "--test", "--to", "nobody@example.com"], capsys
    )
    assert code == 1 and out == ""
    assert err.splitlines() == [
        "digest: error: test copy of issue #1 to nobody@example.com not accepted: "
        "550 5.1.1 No such user"
    ]

    code, _, err = run_main(
        ["--config", str(config), "issue", "send", "--test", "--to", "not-an-address"], capsys
    )
    assert code == 1 and len(err.splitlines()) == 1 and "not a valid address" in err
    code, _, err = run_main(["--config", str(config), "issue", "send", "--test"], capsys)
    assert code != 0 and "give --to ADDRESS or set newsletter.proof_addresses" in err
    code, _, err = run_main(
        ["--config", str(config), "issue", "send", "--to", "a@example.com"], capsys
    )
    assert code != 0 and "--to goes with --test" in err
    code, _, err = run_main(
        ["--config", str(config), "issue", "send", "--test", "--to", "a@example.com", "--dry-run"],
        capsys,
    )
    assert code != 0 and "cannot be a --dry-run" in err

    assert len(smtp_server.received) == 1
    assert deliveries(db) == 0 and issue_status(db) == "draft"
    assert (
        CliRunner().invoke(cli, ["--config", str(config), "issue", "send"], obj=fixed).exit_code
        == 0
    )
    assert len(smtp_server.received) == 3  # the real send is not affected by the proofs


def roster(tmp_path: Path) -> Path:
    path = tmp_path / "people.csv"
    path.write_text("email,name\nann@example.com,Ann\nbob@example.com,Bob\n", encoding="utf-8")
    return path


def test_the_demo_reports_the_html_size_lint_reports(tmp_path: Path) -> None:
    """The demo used to count the stored HTML (with its placeholders); lint and the preview
    measure the message as a subscriber gets it. Both now say the same number."""
    from digest.demo import run_demo
    from digest.lint import lint_issue

    summary = run_demo(tmp_path / "demo", 1, fixed)
    html_part = summary.preview_html.read_bytes().decode()  # as written, line ends and all
    text_part = summary.preview_text.read_bytes().decode()
    report = lint_issue(html_part, text_part, base_url="http://127.0.0.1:8000")
    assert summary.issue_bytes == report.html_bytes == len(html_part.encode())
