"""The public site around the subscription pages, on SQLite and PostgreSQL: the archive and
its Atom feed (sent issues only, no personal links), security headers on every answer,
limits (body size, signup rate), error pages that leak nothing, no redirects; and one real
`digest serve` process on a free port, spoken to over HTTP."""

from __future__ import annotations

import re
import signal
import socket
import subprocess
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from pathlib import Path

import feedparser
import httpx
import pytest
from sqlalchemy import update

from digest.db import issues as archive_module
from digest.db.engine import Database
from digest.db.schema import Issue
from digest.settings import Settings
from digest.web.archive import ISSUE_CSP
from subscribers import web_actions
from tests.support.cli import DIGEST, run_main, write_config
from tests.support.clock import Clock
from tests.support.keys import TEST_SECRET_KEY
from tests.support.smtp import SmtpTestServer
from tests.support.web import (
    BASE,
    GMAIL_BODY,
    GMAIL_HEADERS,
    Site,
    make_site,
    person,
    sent_issues,
    snapshot,
)

pytestmark = pytest.mark.filterwarnings("ignore:Using `httpx` with `starlette.testclient`")
TOKEN_IN_PATH = re.compile(r"/(unsubscribe|preferences|confirm)/[A-Za-z0-9_\-.]{8,}")


@pytest.fixture
def build(
    db: Database,
    db_url: str,
    clock: Clock,
    smtp_server: SmtpTestServer,
    make_settings: Callable[..., Settings],
) -> Callable[..., Site]:
    def make(**values: object) -> Site:
        settings = make_settings(
            db_url,
            newsletter_base_url=values.pop("newsletter_base_url", BASE),
            newsletter_name="Cluster Weekly",
            smtp_port=smtp_server.port,
            **values,
        )
        client = {"raise_server_exceptions": False}
        return make_site(db, settings, clock, smtp_server, **client)

    return make


@pytest.fixture
def site(build: Callable[..., Site]) -> Site:
    return build()


# The archive ------------------------------------------------------------------------------


def test_the_archive_lists_sent_issues_and_never_a_draft(site: Site) -> None:
    site.add("reader@example.org")
    sent_issues(site.db, site.settings, site.clock, 2)  # #1 and #2 sent, #3 a draft
    index = site.client.get("/archive")
    assert index.status_code == 200
    assert 'href="/archive/1"' in index.text and 'href="/archive/2"' in index.text
    assert "/archive/3" not in index.text
    assert index.text.index("/archive/2") < index.text.index("/archive/1"), "newest first"
    assert site.client.get("/archive/").status_code == 200
    for path in ("/archive/3", "/archive/99", "/archive/0", "/archive/-1", "/archive/x"):
        missing = site.client.get(path)
        assert missing.status_code == 404, path
        assert "Page not found" in missing.text and "Story 3" not in missing.text
    # While an issue goes out, its "view in browser" link works; it is listed once sent.
    with site.db.session() as session:
        session.execute(update(Issue).where(Issue.number == 3).values(status="sending"))
    assert site.client.get("/archive/3").status_code == 200
    assert "/archive/3" not in site.client.get("/archive").text


def test_the_web_version_is_the_issue_without_anyone_s_links(site: Site) -> None:
    site.add("reader@example.org")
    sent_issues(site.db, site.settings, site.clock, 1)
    page = site.client.get("/archive/1")
    assert page.status_code == 200 and "Story 1" in page.text
    assert "%%" not in page.text
    assert TOKEN_IN_PATH.search(page.text) is None
    assert f'href="{BASE}/unsubscribe"' in page.text
    assert f'href="{BASE}/preferences"' in page.text
    assert page.headers["content-security-policy"] == ISSUE_CSP
    # The issue the reader got links here ("view in browser") and has personal links.
    [received] = site.received
    mail = received.raw.decode("ascii", "replace").replace("=\r\n", "")
    assert f"{BASE}/archive/1" in mail and TOKEN_IN_PATH.search(mail)
    # The neutral links lead to a page that explains where the personal ones are.
    helper = site.client.get("/unsubscribe")
    assert helper.status_code == 200 and "Use the link in your email" in helper.text


def test_the_atom_feed_lists_sent_issues_with_absolute_links(build: Callable[..., Site]) -> None:
    site = build(newsletter_base_url="https://news.example.org")
    site.add("reader@example.org")
    sent_issues(site.db, site.settings, site.clock, 2)
    answer = site.client.get("/archive/feed.atom")
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/atom+xml; charset=utf-8"
    ET.fromstring(answer.content)  # noqa: S314 - our own document: is it well-formed?
    feed = feedparser.parse(answer.content)
    assert not feed.bozo, feed.bozo_exception
    assert feed.version == "atom10"
    assert feed.feed.title == "Cluster Weekly"
    assert [e.link for e in feed.entries] == [
        "https://news.example.org/archive/2",
        "https://news.example.org/archive/1",
    ]
    assert all(e.id.startswith("https://news.example.org/archive/") for e in feed.entries)
    assert feed.entries[0].title.startswith("Cluster Weekly #2")
    assert feed.feed.updated_parsed is not None and feed.entries[0].updated_parsed is not None


@pytest.mark.parametrize(
    "number", ["9223372036854775808", "9223372036854775807", "2147483648", "1" + "0" * 40]
)
def test_an_issue_number_out_of_range_is_a_404(site: Site, number: str) -> None:
    answer = site.client.get(f"/archive/{number}")
    assert answer.status_code == 404 and "Page not found" in answer.text


def test_an_empty_archive(site: Site) -> None:
    assert "No issue has been sent yet" in site.client.get("/archive").text
    feed = feedparser.parse(site.client.get("/archive/feed.atom").content)
    assert not feed.bozo and feed.entries == []


# Security headers, errors, redirects ------------------------------------------------------


def responses(site: Site) -> dict[str, httpx.Response]:
    subscriber_id = site.add("headers@example.org")
    client = site.client
    return {
        "signup form": client.get("/"),
        "archive": client.get("/archive"),
        "feed": client.get("/archive/feed.atom"),
        "stylesheet": client.get("/site.css"),
        "preferences": client.get(site.preferences_path(subscriber_id)),
        "unsubscribe page": client.get(site.unsubscribe_path(subscriber_id)),
        "bad token": client.get("/unsubscribe/forged"),
        "404": client.get("/no/such/page"),
        "405": client.delete("/subscribe"),
        "413": client.post("/subscribe", content=b"e" * 20_000),
        "415": client.post("/subscribe", content=b"{}", headers={"Content-Type": "text/json"}),
        "one-click": client.post(
            site.unsubscribe_path(subscriber_id), content=GMAIL_BODY, headers=GMAIL_HEADERS
        ),
    }


def test_every_response_carries_the_security_headers(site: Site) -> None:
    for name, answer in responses(site).items():
        headers = answer.headers
        assert headers["x-content-type-options"] == "nosniff", name
        assert headers["x-frame-options"] == "DENY", name
        assert "default-src 'none'" in headers["content-security-policy"], name
        assert "frame-ancestors 'none'" in headers["content-security-policy"], name
        assert headers["referrer-policy"] in ("no-referrer", "same-origin"), name
        assert "strict-transport-security" not in headers, name
        if "/unsubscribe/" in str(answer.url) or "/preferences/" in str(answer.url):
            assert headers["cache-control"] == "no-store", name


def test_https_sites_send_strict_transport_security(build: Callable[..., Site]) -> None:
    site = build(newsletter_base_url="https://news.example.org")
    answer = site.client.get("/no/such/page")
    assert answer.headers["strict-transport-security"].startswith("max-age=")


def test_error_pages_are_branded_and_leak_nothing(
    site: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    missing = site.client.get("/.env")
    assert missing.status_code == 404 and "Cluster Weekly" in missing.text
    wrong = site.client.put("/subscribe")
    assert wrong.status_code == 405 and set(wrong.headers["allow"].split(", ")) >= {"GET", "POST"}

    def explode(*args: object) -> None:
        raise RuntimeError("secret detail: postgresql://admin:hunter2@db")

    monkeypatch.setattr(web_actions, "preferences", explode)
    subscriber_id = site.add("boom@example.org")
    broken = site.client.get(site.preferences_path(subscriber_id))
    assert broken.status_code == 500
    assert "Something went wrong" in broken.text and "Cluster Weekly" in broken.text
    assert broken.headers["x-content-type-options"] == "nosniff"
    for answer in (missing, wrong, broken):
        for leak in ("Traceback", "secret detail", "hunter2", "RuntimeError", "starlette"):
            assert leak not in answer.text


def test_there_are_no_redirects_to_follow(site: Site) -> None:
    client = site.client
    for answer in (
        client.get("//evil.example/"),
        client.get("/archive/?next=https://evil.example/"),
        client.get("/subscribe?next=https://evil.example/", headers={"Host": "evil.example"}),
        site.signup("r@example.org", next="https://evil.example/", redirect="//evil.example"),
    ):
        assert not answer.is_redirect and "location" not in answer.headers
        assert "evil.example" not in answer.text


def test_robots_are_kept_off_the_token_pages(site: Site) -> None:
    robots = site.client.get("/robots.txt").text
    for path in ("/confirm/", "/unsubscribe/", "/preferences/"):
        assert f"Disallow: {path}" in robots


# Limits -----------------------------------------------------------------------------------


def test_oversized_posts_get_413_and_change_nothing(build: Callable[..., Site]) -> None:
    site = build(web_max_form_bytes=2048)
    subscriber_id = site.add("big@example.org")
    before = snapshot(site.db)
    huge = {"email": "big2@example.org", "name": "x" * 5000}
    declared = site.signup(**huge)
    assert declared.status_code == 413 and "Too much data" in declared.text

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted as it arrives
        yield b"email=big3%40example.org&name="
        for _ in range(10):
            yield b"x" * 1000

    streamed = site.client.post(
        "/subscribe",
        content=chunks(),
        headers={"Content-Type": "application/x-www-form-urlencoded", "Origin": BASE},
    )
    assert streamed.status_code == 413
    prefs = site.client.post(
        site.preferences_path(subscriber_id),
        content=b"action=save&paused=1&" + b"section=news&" * 400,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert prefs.status_code == 413
    assert snapshot(site.db) == before and site.received == []


def test_a_forged_host_header_does_not_make_another_site_our_own(site: Site) -> None:
    # DNS rebinding, or a script: the attacker's host in Host and in Origin alike.
    forged = {"Host": "evil.example", "Origin": "http://evil.example"}
    answer = site.client.post("/subscribe", data={"email": "x@example.org"}, headers=forged)
    assert answer.status_code == 403 and person(site.db, "x@example.org") is None
    subscriber_id = site.add("kept@example.org")
    before = snapshot(site.db)
    path = site.preferences_path(subscriber_id)
    saved = site.client.post(path, data={"section": "news"}, headers=forged)
    assert saved.status_code == 403 and snapshot(site.db) == before
    # Our own origin (newsletter.base_url) and a loopback one (a local run) still work.
    ours = site.client.post("/subscribe", data={"email": "y@example.org"}, headers={"Origin": BASE})
    local = {"Host": "127.0.0.1:8000", "Origin": "http://127.0.0.1:8000"}
    loop = site.client.post("/subscribe", data={"email": "z@example.org"}, headers=local)
    assert ours.status_code == loop.status_code == 200


def test_too_many_form_fields_are_refused(site: Site) -> None:
    body = "&".join(f"f{n}=1" for n in range(100)) + "&email=many%40example.org"
    answer = site.client.post(
        "/subscribe", content=body, headers={"Content-Type": "application/x-www-form-urlencoded"}
    )
    assert answer.status_code == 400 and snapshot(site.db) == []


def test_signups_are_rate_limited_per_client_address(build: Callable[..., Site]) -> None:
    site = build(web_signup_per_hour=3)
    for n in range(3):
        assert site.signup(f"n{n}@example.org").status_code == 200
    refused = site.signup("n3@example.org")
    assert refused.status_code == 429 and "Too many" in refused.text
    assert 0 < int(refused.headers["retry-after"]) <= 3600
    assert person(site.db, "n3@example.org") is None and len(site.received) == 3
    # Another client address is counted on its own.
    other = make_site(site.db, site.settings, site.clock, site.smtp, client=("198.51.100.7", 1))
    assert other.signup("n4@example.org").status_code == 200
    assert other.client.get("/").status_code == 200  # reading is never limited
    # The window slides: an hour later the first address may sign up again.
    site.clock.advance(hours=1, seconds=1)
    assert site.signup("n5@example.org").status_code == 200


# A real `digest serve` process ------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def test_a_real_digest_serve_process_answers_over_http(
    tmp_path: Path,
    db: Database,
    db_url: str,
    smtp_server: SmtpTestServer,
    make_settings: Callable[..., Settings],
    clock: Clock,
) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    settings = make_settings(db_url, security_secret_key=TEST_SECRET_KEY)
    config = write_config(
        tmp_path, db_url, smtp_server.port, extra=f'[newsletter]\nbase_url = "{base}"\n'
    )
    site = make_site(db, settings, clock, smtp_server)
    subscriber_id = site.add("real@example.org")
    process = subprocess.Popen(
        [str(DIGEST), "--config", str(config), "serve", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                page = httpx.get(f"{base}/", timeout=2)
                break
            except httpx.TransportError:
                assert process.poll() is None, process.communicate()
                assert time.monotonic() < deadline, "digest serve did not answer"
                time.sleep(0.1)
        assert page.status_code == 200 and 'action="/subscribe"' in page.text
        assert page.headers["x-frame-options"] == "DENY"
        path = site.unsubscribe_path(subscriber_id)
        looked = httpx.get(f"{base}{path}", timeout=5)
        assert looked.status_code == 200
        found = person(db, "real@example.org")
        assert found is not None and found.status == "active"
        answer = httpx.post(f"{base}{path}", content=GMAIL_BODY, headers=GMAIL_HEADERS, timeout=5)
        assert answer.status_code == 200 and "You are unsubscribed" in answer.text
        found = person(db, "real@example.org")
        assert found is not None and found.status == "unsubscribed"
        # The signup's confirmation mail goes out from the sender inside the process.
        data = {"email": "newcomer@example.org"}
        signed = httpx.post(f"{base}/subscribe", data=data, headers={"Origin": base}, timeout=5)
        assert signed.status_code == 200
        while not smtp_server.received:
            assert time.monotonic() < deadline + 20, "no confirmation mail from digest serve"
            time.sleep(0.05)
        assert smtp_server.received[0].rcpt == "newcomer@example.org"
    finally:
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=15)
    assert process.returncode == 0, err
    assert out.splitlines() == [
        f"serving the public pages on {base}/ for {base} (Ctrl-C stops)",
        "stopped",
    ]
    assert err == ""


def test_serve_warns_about_a_public_address_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path, f"sqlite:///{tmp_path / 'serve.sqlite3'}")
    # TEST-NET-1 is not on this machine: the warning comes, then the bind fails.
    code, out, err = run_main(
        ["--config", str(config), "serve", "--host", "192.0.2.1", "--port", "0"], capsys
    )
    lines = err.splitlines()
    assert code == 1 and out == "" and len(lines) == 2
    assert lines[0].startswith("digest: warning: 192.0.2.1 is not a loopback address")
    assert lines[1].startswith("digest: error: cannot listen on 192.0.2.1:0")


def test_archive_module_keeps_drafts_private() -> None:
    assert "draft" not in archive_module.PUBLIC_STATUSES
