"""The editor's desk on the preview page: each form posts through the same library calls as
the `digest issue` commands, only with the server's token and from the page's own origin,
and the draft and its panes show the change; read-only when not bound to loopback; the
proof button sends to newsletter.proof_addresses."""

from __future__ import annotations

import json
import re
import threading
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import uvicorn

from digest.compose import compose_issue
from digest.compose.view import show_issue
from digest.db.engine import Database
from digest.send.wiring import smtp_relay
from digest.settings import Settings
from digest.web import listen, url_of
from digest.web.preview import preview_app
from tests.support.browser import CHROMIUM, Chromium
from tests.support.cli import add_item, write_config
from tests.support.clock import Clock
from tests.support.smtp import SmtpTestServer

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", "Using `httpx` with `starlette.testclient`")
    from starlette.testclient import TestClient

FORM = {"content-type": "application/x-www-form-urlencoded"}
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"


@dataclass
class Desk:
    client: TestClient
    db: Database
    token: str

    def post(self, **form: str) -> str:
        """POST a desk form as the page does; the page shown after the redirect."""
        answer = self.client.post(
            "/desk",
            data={"token": self.token, **form},
            headers={**FORM, "origin": "http://127.0.0.1"},
            follow_redirects=False,
        )
        assert answer.status_code == 303, answer.text
        assert answer.headers["location"] == "/"
        page: str = self.client.get("/").text
        return page

    def titles(self) -> list[str]:
        return [line.title for line in show_issue(self.db).lines]


def token_of(page: str) -> str:
    tokens = set(re.findall(r'name="token" value="([^"]+)"', page))
    assert len(tokens) == 1, tokens
    token: str = tokens.pop()
    return token


@pytest.fixture
def desk(
    db: Database,
    db_url: str,
    tmp_path: Path,
    clock: Clock,
    make_settings: Callable[..., Settings],
    smtp_server: SmtpTestServer,
) -> Iterator[Desk]:
    settings = make_settings(
        db_url=db_url,
        compose_max_news=2,
        smtp_port=smtp_server.port,
        newsletter_proof_addresses=["ed@example.org", "chief@example.org"],
    )
    config = write_config(tmp_path, db_url)
    add_item(config, "Harbour news", day=18)
    add_item(config, "Forest news", day=19)
    add_item(config, "Valley news", day=17)  # the oldest: past max_news, waits in the queue
    compose_issue(db, settings, clock)
    app = preview_app(db, settings, clock, relay=smtp_relay(settings))
    with TestClient(app, base_url="http://127.0.0.1") as client:
        yield Desk(client, db, token_of(client.get("/").text))


def test_the_page_shows_the_desk_beside_the_items(desk: Desk) -> None:
    page = desk.client.get("/").text
    assert page.count('class="desk-item"') == 2
    for action in ("up", "down", "pin", "exclude", "edit", "intro", "spotlight", "proof"):
        assert f'name="action" value="{action}"' in page, action
    waiting = page.split('class="desk-waiting"', 1)[1].split("</ul>", 1)[0]
    assert "Valley news" in waiting and 'value="add"' in waiting
    assert "form-action 'self'" in desk.client.get("/").headers["content-security-policy"]
    assert "To ed@example.org, chief@example.org" in page


def test_pin_exclude_move_and_edit_change_the_draft(desk: Desk) -> None:
    assert desk.titles() == ["Forest news", "Harbour news"]

    desk.post(action="add", item="3")  # Valley news, left out by max_news
    assert "Valley news" in desk.titles()
    assert "pinned" in next(li for li in show_issue(desk.db).lines if li.item_id == 3).notes

    desk.post(action="exclude", item="2")  # Forest news
    assert "Forest news" not in desk.titles()
    page = desk.client.get("/").text
    waiting = page.split('class="desk-waiting"', 1)[1].split("</ul>", 1)[0]
    assert "Forest news" in waiting and 'value="include"' in waiting

    order = desk.titles()
    last = order[-1]
    desk.post(action="up", item=str(show_issue(desk.db).lines[-1].item_id), position="2")
    assert desk.titles()[0] == last

    page = desk.post(
        action="edit", item="1", title="Harbour reopens", summary="<b>Boats</b> are back."
    )
    assert "Harbour reopens" in desk.titles()
    assert "Harbour reopens" in desk.client.get("/message.html").text
    assert "Boats are back." in desk.client.get("/message.txt").text
    assert 'id="notice" role="status">item 1 edited</p>' in page

    page = desk.post(action="reset", item="1")
    assert "Harbour news" in desk.titles()

    page = desk.post(action="intro", intro="<p>Hello <b>editors</b></p>")
    assert "editors" in desk.client.get("/message.txt").text
    page = desk.post(
        action="spotlight", kind="quote", text="Well said.", by="A. Member", url="https://x.org/"
    )
    assert "Well said." in desk.client.get("/message.txt").text
    desk.post(action="clear-spotlight")
    assert "Well said." not in desk.client.get("/message.txt").text


def test_a_refused_change_is_said_on_the_page(desk: Desk) -> None:
    page = desk.post(action="spotlight", kind="quote", text="x", url="javascript:alert(1)")
    assert 'class="notice failed"' in page and "spotlight url must be http(s)" in page
    page = desk.post(action="pin", item="999")
    assert "there is no item 999" in page
    page = desk.client.get("/").text
    assert 'id="notice"' not in page  # said once


def test_without_the_token_or_from_another_origin_nothing_changes(desk: Desk) -> None:
    before = desk.titles()
    post = desk.client.post
    forged = {"action": "exclude", "item": "1"}
    assert post("/desk", data=forged, headers=FORM).status_code == 403
    assert post("/desk", data={**forged, "token": "guess"}, headers=FORM).status_code == 403
    evil = {**FORM, "origin": "http://attacker.example"}
    answer = post("/desk", data={**forged, "token": desk.token}, headers=evil)
    assert answer.status_code == 403
    cross = {**FORM, "sec-fetch-site": "cross-site"}
    assert post("/desk", data={**forged, "token": desk.token}, headers=cross).status_code == 403
    rebound = {**FORM, "host": "attacker.example"}
    assert post("/desk", data={**forged, "token": desk.token}, headers=rebound).status_code == 400
    as_json = {"content-type": "application/json"}
    assert post("/desk", content=b"{}", headers=as_json).status_code == 400
    assert desk.client.get("/desk").status_code == 405
    assert desk.titles() == before


def test_the_proof_button_sends_to_the_proof_addresses(
    desk: Desk, smtp_server: SmtpTestServer
) -> None:
    page = desk.post(action="proof")
    assert "proof of issue #1 sent to ed@example.org, chief@example.org" in page
    assert [m.rcpt for m in smtp_server.received] == ["ed@example.org", "chief@example.org"]
    assert all(m.message["Subject"].startswith("[TEST] ") for m in smtp_server.received)

    smtp_server.faults.refuse["chief@example.org"] = "550 5.1.1 No such user"
    page = desk.post(action="proof")
    assert 'class="notice failed"' in page and "550 5.1.1 No such user" in page


def test_off_loopback_the_desk_is_read_only(
    db: Database, db_url: str, tmp_path: Path, clock: Clock, make_settings: Callable[..., Settings]
) -> None:
    settings = make_settings(db_url=db_url)
    add_item(write_config(tmp_path, db_url), "Open news", day=18)
    compose_issue(db, settings, clock)
    with TestClient(preview_app(db, settings, clock, allowed_hosts=None)) as client:
        page = client.get("/").text
        assert "Read-only: this preview is not bound to loopback." in page
        token = token_of(page)
        answer = client.post("/desk", data={"token": token, "action": "exclude", "item": "1"})
        assert answer.status_code == 403
    assert [line.title for line in show_issue(db).lines] == ["Open news"]


@pytest.fixture
def served_desk(
    tmp_path: Path, clock: Clock, make_settings: Callable[..., Settings]
) -> Iterator[str]:
    """The preview server on a free loopback port over a draft of two news, one more waiting."""
    db_url = f"sqlite:///{tmp_path / 'desk.sqlite3'}"
    settings = make_settings(db_url=db_url, compose_max_news=2)
    config = write_config(tmp_path, db_url)
    add_item(config, "Harbour news", day=18)
    add_item(config, "Forest news", day=19)
    add_item(config, "Valley news", day=17)
    db = Database(db_url)
    compose_issue(db, settings, clock)
    sock = listen("127.0.0.1", 0)
    server = uvicorn.Server(
        uvicorn.Config(preview_app(db, settings, clock), log_level="warning", lifespan="off")
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        yield url_of(sock)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
        db.dispose()


def click(browser: Chromium, selector: str) -> None:
    """Click a desk button and wait for the page the server shows after the change."""
    browser.events.clear()
    browser.evaluate(f"document.querySelector({json.dumps(selector)}).click()")
    browser.wait_event("Page.loadEventFired")


PANES = "[...document.querySelectorAll('iframe.mail')]"


def in_both_panes(text: str) -> str:
    """A script true when the desktop and the phone frames are loaded and show `text`."""
    return (
        f"(() => {{ const f = {PANES}; return f.length === 2 && f.every(x => x.contentDocument"
        " && x.contentDocument.readyState === 'complete' && x.contentDocument.body"
        f" && x.contentDocument.body.innerText.includes({json.dumps(text)})); }})()"
    )


def in_no_pane(text: str) -> str:
    return (
        f"(() => {{ const f = {PANES}; return f.length === 2 && f.every(x => x.contentDocument"
        " && x.contentDocument.readyState === 'complete' && x.contentDocument.body"
        f" && !x.contentDocument.body.innerText.includes({json.dumps(text)})); }})()"
    )


def news_order(browser: Chromium) -> list[str]:
    titles: list[str] = browser.evaluate(
        "[...document.querySelectorAll('#desk li.desk-item input[name=title]')].map(x => x.value)"
    )
    return titles


@pytest.mark.browser
@pytest.mark.skipif(not CHROMIUM.exists(), reason=f"{CHROMIUM} is not installed")
def test_the_desk_in_chromium(served_desk: str, tmp_path: Path) -> None:
    base = served_desk
    with Chromium(tmp_path / "profile") as browser:
        browser.call(
            "Page.addScriptToEvaluateOnNewDocument",
            source="window.violations = [];"
            "document.addEventListener('securitypolicyviolation',"
            " e => window.violations.push(e.violatedDirective + ' ' + e.documentURI));",
        )
        browser.viewport(1440, 1000)
        browser.open(base)
        assert browser.wait_for(in_both_panes("Harbour news"))
        assert news_order(browser) == ["Forest news", "Harbour news"]
        browser.screenshot(ARTIFACTS / "preview-desk-before.png")

        # Add the waiting item (a pin), exclude another: both panes follow.
        click(browser, '#desk .desk-waiting li[data-item="3"] button[value="add"]')
        assert browser.wait_for(in_both_panes("Valley news")), browser.evaluate(
            "location.href + ' | ' + document.body.innerText.slice(0, 600)"
        )
        click(browser, '#desk li.desk-item[data-item="2"] button[value="exclude"]')
        assert browser.wait_for(in_no_pane("Forest news"))
        assert browser.wait_for(in_both_panes("Valley news"))
        order = news_order(browser)
        assert sorted(order) == ["Harbour news", "Valley news"]

        # Move the second item up.
        second = browser.evaluate("document.querySelectorAll('#desk li.desk-item')[1].dataset.item")
        click(browser, f'#desk li.desk-item[data-item="{second}"] button[value="up"]')
        assert news_order(browser) == list(reversed(order))

        # Edit a title in its field and save it.
        browser.evaluate(
            "document.querySelector('#desk li.desk-item[data-item=\"1\"] input[name=title]')"
            ".value = 'Harbour reopens'"
        )
        click(browser, '#desk li.desk-item[data-item="1"] button[value="edit"]')
        assert browser.wait_for(in_both_panes("Harbour reopens"))
        assert browser.evaluate("document.getElementById('notice').textContent") == (
            "item 1 edited"
        )
        first_pane_order = browser.evaluate(
            "document.querySelector('iframe.desktop').contentDocument.body.innerText"
        )
        valley, harbour = (
            first_pane_order.index("Valley news"),
            first_pane_order.index("Harbour reopens"),
        )
        assert (valley < harbour) == (news_order(browser)[0] == "Valley news")

        # Reload: every change is kept (it is in the draft, not in the page).
        browser.open(base)
        assert browser.wait_for(in_both_panes("Harbour reopens"))
        assert browser.wait_for(in_no_pane("Forest news"))
        assert "Harbour reopens" in news_order(browser)
        assert browser.evaluate("document.getElementById('notice')") is None
        assert browser.evaluate("window.violations") == []

        # Lint findings look alike whatever their level; only the colour says which.
        looks = browser.evaluate(
            "(() => { const ul = document.createElement('ul'); ul.className = 'lint';"
            ' ul.innerHTML = \'<li class="error"><span class="level">error</span> x</li>'
            '<li class="warning"><span class="level">warning</span> x</li>\';'
            " document.getElementById('details').append(ul);"
            " const s = [...ul.children].map(li => getComputedStyle(li));"
            " const keys = ['fontFamily', 'fontSize', 'backgroundColor', 'padding',"
            " 'maxWidth', 'borderLeftWidth', 'whiteSpace'];"
            " const r = { same: keys.every(k => s[0][k] === s[1][k]),"
            " colours: s[0].borderLeftColor !== s[1].borderLeftColor }; ul.remove(); return r;"
            " })()"
        )
        assert looks == {"same": True, "colours": True}
        shot = browser.screenshot(ARTIFACTS / "preview-desk-after.png")
        assert shot[:8] == b"\x89PNG\r\n\x1a\n"
