"""The issue in a real browser: headless Chromium renders the demo's issue at 640 and 375 px
from the preview server, there is no horizontal scrolling on the phone, the preview page
itself works under its Content-Security-Policy and follows a template change; the
screenshots are kept in tests/artifacts/."""

from __future__ import annotations

import shutil
import struct
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import uvicorn

from digest.collect import collect
from digest.collect.sources import add_source
from digest.compose import compose_issue
from digest.compose.editing import set_intro, set_spotlight
from digest.db.engine import Database
from digest.demo.server import FEEDS, FeedServer
from digest.model import SourceKind, Spotlight
from digest.render import templates_dir
from digest.settings import Settings
from digest.web import listen, url_of
from digest.web.preview import preview_app
from tests.support.browser import CHROMIUM, Chromium
from tests.support.clock import Clock
from tests.support.http import ALLOW_LOOPBACK

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"{CHROMIUM} is not installed"),
]
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
DESKTOP, PHONE = 640, 375


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


@pytest.fixture
def served(
    tmp_path: Path, clock: Clock, make_settings: Callable[..., Settings]
) -> Iterator[tuple[str, Path]]:
    """The demo's issue (sample feeds, an intro and a spotlight) behind the preview server
    on a free loopback port: (its URL, the templates folder it reads)."""
    templates = tmp_path / "templates"
    shutil.copytree(templates_dir(), templates, ignore=shutil.ignore_patterns("__*"))
    settings = make_settings(
        db_url=f"sqlite:///{tmp_path / 'browser.sqlite3'}",
        newsletter_templates_dir=str(templates),
        newsletter_name="Cluster Weekly",
        newsletter_postal_address="Example Network, 1 Sample Street, 1000 Example City",
        **ALLOW_LOOPBACK,
    )
    db = Database(settings.database_url)
    with FeedServer(clock()) as feeds:
        for name in FEEDS:
            add_source(db, feeds.url(name), SourceKind(name), f"Demo {name}", clock())
        collect(db, settings, clock)
    compose_issue(db, settings, clock)
    set_intro(db, settings, clock, "<p>Welcome to this week's issue: <b>twelve</b> stories.</p>")
    set_spotlight(
        db,
        settings,
        clock,
        Spotlight(
            kind="interview",
            title="Five questions to a cluster manager",
            text="Why shared test beds beat solo pilots, and what comes next.",
            by="A. Member",
            url="https://example.org/interviews/a-very-long-path-that-should-wrap-on-phones",
        ),
    )
    sock = listen("127.0.0.1", 0)
    server = uvicorn.Server(
        uvicorn.Config(preview_app(db, settings, clock), log_level="warning", lifespan="off")
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        yield url_of(sock), templates
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
        db.dispose()


def test_the_issue_in_chromium_at_desktop_and_phone_widths(
    served: tuple[str, Path], tmp_path: Path
) -> None:
    base, templates = served
    with Chromium(tmp_path / "profile") as browser:
        widths = {}
        for width, height, mobile in ((DESKTOP, 900, False), (PHONE, 812, True)):
            browser.viewport(width, height, mobile=mobile)
            browser.open(base + "message.html")
            widths[width] = browser.evaluate(
                "({scroll: document.documentElement.scrollWidth, inner: window.innerWidth,"
                " body: document.body.scrollWidth,"
                " text: document.body.innerText})"
            )
            shot = browser.screenshot(ARTIFACTS / f"issue-{width}px.png")
            shot_width, shot_height = png_size(shot)
            assert shot_width == width and shot_height > 1000, (width, shot_height)
            assert len(shot) > 20_000  # a rendered issue, not a blank page

        phone = widths[PHONE]
        assert phone["inner"] == PHONE
        assert phone["scroll"] <= PHONE and phone["body"] <= PHONE, phone  # no sideways scroll
        assert widths[DESKTOP]["scroll"] <= DESKTOP
        assert "five questions to a cluster manager" in phone["text"].lower()
        assert "Unsubscribe" in phone["text"]

        # The preview page: both frames load under its CSP, and follow a template change.
        browser.call(
            "Page.addScriptToEvaluateOnNewDocument",
            source="window.violations = [];"
            "document.addEventListener('securitypolicyviolation',"
            " e => window.violations.push(e.violatedDirective + ' ' + e.documentURI));",
        )
        browser.viewport(1280, 1000)
        browser.open(base)
        frames_ready = (
            "(() => { const f = [...document.querySelectorAll('iframe.mail')];"
            " return f.length === 2 && f.every(x => x.contentDocument"
            " && x.contentDocument.readyState === 'complete'"
            " && x.contentDocument.body.innerText.includes('{marker}')"
            " && x.offsetHeight > 1000); })()"
        )
        assert browser.wait_for(frames_ready.replace("{marker}", "Preferences"))
        phone_frame = browser.evaluate(
            "(() => { const f = document.querySelector('iframe.phone');"
            " return [f.contentDocument.documentElement.scrollWidth, f.clientWidth]; })()"
        )
        assert phone_frame[0] <= phone_frame[1] == PHONE
        shot = browser.screenshot(ARTIFACTS / "preview-page.png")
        assert png_size(shot)[0] == 1280

        # An edited template shows in both frames and in the text part, without a reload.
        browser.evaluate("window.sameDocument = true")
        edit(templates / "partials" / "footer.mjml.j2", "Preferences</a>", "Your settings</a>")
        edit(templates / "issue.txt.j2", "View in your browser:", "Read it online:")
        assert browser.wait_for(frames_ready.replace("{marker}", "Your settings"), timeout=10)
        assert browser.wait_for(
            "document.getElementById('text-part').textContent.includes('Read it online:')"
        )
        assert browser.evaluate("window.sameDocument") is True
        assert browser.evaluate("window.violations") == []
        assert browser.evaluate("document.getElementById('live').textContent") == "live"

        # A broken template turns the page into its one-line error, and back when fixed.
        header = templates / "partials" / "header.mjml.j2"
        good = header.read_text(encoding="utf-8")
        header.write_text(good + "{% if %}", encoding="utf-8")
        assert browser.wait_for("document.querySelector('p.error') !== null", timeout=10)
        error = browser.evaluate("document.querySelector('p.error').textContent")
        assert "header.mjml.j2" in error and "\n" not in error
        header.write_text(good, encoding="utf-8")
        assert browser.wait_for(frames_ready.replace("{marker}", "Your settings"), timeout=10)
        assert browser.evaluate("window.violations") == []


def edit(path: Path, old: str, new: str) -> None:
    source = path.read_text(encoding="utf-8")
    assert old in source, (path, old)
    path.write_text(source.replace(old, new), encoding="utf-8")
