"""A person in a real browser: headless Chromium signs up on the public pages served by
uvicorn, the confirmation mail arrives at the test SMTP server, its link confirms, the
preferences are saved and the person unsubscribes; under the pages' real Content-Security-
Policy and Referrer-Policy (the forms' same-origin check must pass in a real browser).
Screenshots are kept in tests/artifacts/."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import uvicorn

from digest.db.engine import Database
from digest.send.wiring import smtp_relay
from digest.settings import Settings
from digest.web import listen, url_of
from digest.web.public import public_app
from tests.support.browser import CHROMIUM, Chromium
from tests.support.clock import fixed
from tests.support.smtp import SmtpTestServer
from tests.support.web import html_part, link_in, person

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"{CHROMIUM} is not installed"),
]
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
WATCH_CSP = (
    "window.violations = [];"
    "document.addEventListener('securitypolicyviolation',"
    " e => window.violations.push(e.violatedDirective + ' ' + e.blockedURI));"
)


@dataclass
class Served:
    base: str  # without the trailing slash
    db: Database
    smtp: SmtpTestServer


@pytest.fixture
def served(
    tmp_path: Path, smtp_server: SmtpTestServer, make_settings: Callable[..., Settings]
) -> Iterator[Served]:
    sock = listen("127.0.0.1", 0)
    base = url_of(sock).rstrip("/")
    settings = make_settings(
        db_url=f"sqlite:///{tmp_path / 'web.sqlite3'}",
        newsletter_base_url=base,
        newsletter_name="Cluster Weekly",
        newsletter_postal_address="Example Network, 1 Sample Street, 1000 Example City",
        smtp_port=smtp_server.port,
    )
    db = Database(settings.database_url)
    app = public_app(db, settings, fixed, smtp_relay(settings))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        yield Served(base, db, smtp_server)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
        db.dispose()


def submit(browser: Chromium, selector: str) -> None:
    """Click a button and wait for the page it leads to."""
    browser.events.clear()
    browser.evaluate(f"document.querySelector({json.dumps(selector)}).click()")
    browser.wait_event("Page.loadEventFired")


def page_text(browser: Chromium) -> str:
    return str(browser.evaluate("document.body.innerText"))


def wait_for_mail(smtp: SmtpTestServer, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not smtp.received:
        assert time.monotonic() < deadline, "no confirmation mail arrived"
        time.sleep(0.05)


def test_signup_confirm_preferences_unsubscribe_in_chromium(served: Served, tmp_path: Path) -> None:
    with Chromium(tmp_path / "profile") as browser:
        browser.call("Page.addScriptToEvaluateOnNewDocument", source=WATCH_CSP)
        browser.viewport(800, 900)
        browser.open(served.base + "/")
        assert browser.evaluate("getComputedStyle(document.querySelector('.brand')).color")
        browser.screenshot(ARTIFACTS / "web-1-signup.png")
        browser.evaluate(
            "document.getElementById('email').value = 'ada@example.org';"
            "document.getElementById('name').value = 'Ada Lovelace';"
            "document.querySelector('input[value=events]').checked = false;"
        )
        submit(browser, "form.signup button")
        assert "Check your inbox" in page_text(browser)
        browser.screenshot(ARTIFACTS / "web-2-check-inbox.png")

        wait_for_mail(served.smtp)
        [received] = served.smtp.received
        mail = received.message
        assert received.rcpt == "ada@example.org"
        # The confirmation mail itself, as a mail client would show it.
        shown = tmp_path / "confirm-mail.html"
        shown.write_text(html_part(mail), encoding="utf-8")
        browser.open(shown.as_uri())
        browser.screenshot(ARTIFACTS / "web-3-confirmation-mail.png")

        browser.open(served.base + link_in(mail, "confirm", served.base))
        assert "Yes, subscribe me" in page_text(browser)
        pending = person(served.db, "ada@example.org")
        assert pending is not None and pending.status == "pending"
        submit(browser, "form button")
        assert "You are subscribed" in page_text(browser)
        browser.screenshot(ARTIFACTS / "web-4-subscribed.png")
        active = person(served.db, "ada@example.org")
        assert active is not None and active.status == "active" and not active.wants_events

        browser.events.clear()
        browser.evaluate("document.querySelector('main a[href^=\"/preferences/\"]').click()")
        browser.wait_event("Page.loadEventFired")
        assert "ada@example.org" in page_text(browser)
        checked = browser.evaluate(
            "[...document.querySelectorAll('input[name=section]')]"
            ".filter(e => e.checked).map(e => e.value)"
        )
        assert checked == ["news", "calls"]
        browser.evaluate("document.querySelector('input[name=paused]').checked = true")
        submit(browser, "form.preferences button")
        assert "Saved." in page_text(browser), page_text(browser)
        browser.screenshot(ARTIFACTS / "web-5-preferences.png")
        paused = person(served.db, "ada@example.org")
        assert paused is not None and paused.paused and paused.status == "active"

        submit(browser, "form.leave button")
        assert "You are unsubscribed" in page_text(browser)
        browser.screenshot(ARTIFACTS / "web-6-unsubscribed.png")
        gone = person(served.db, "ada@example.org")
        assert gone is not None and gone.status == "unsubscribed"
        assert urlsplit(str(browser.evaluate("location.href"))).path.startswith("/unsubscribe/")
        assert browser.evaluate("window.violations") == []
