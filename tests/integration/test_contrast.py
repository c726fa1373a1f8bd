"""Contrast and dark mode in a real headless Chromium: every visible text of the issue (the
demo's, and one with every section and option filled), of the confirmation mail and of
the public pages reads at WCAG's 4.5:1 (3:1 for large text) in light and in dark mode; a
pale brand colour is caught; the dark issue is dark (no white card), also under Chromium's
own auto dark mode; and `digest issue lint --contrast` reports the same. Screenshots are
kept in tests/artifacts/ (issue-{light,dark}-{640,375}.png, issue-autodark-375.png), and the
lowest ratio of each mode in tests/artifacts/contrast.txt."""

from __future__ import annotations

import email
import email.policy
import json
import shutil
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from click.testing import CliRunner

from digest.cli import cli
from digest.collect import collect
from digest.collect.sources import add_source
from digest.compose import compose_issue
from digest.compose.editing import set_intro, set_spotlight
from digest.db.engine import Database
from digest.db.issues import latest_issue
from digest.demo.server import FEEDS, FeedServer
from digest.lint.contrast import (
    PAGE_SCRIPT,
    TextSample,
    contrast_findings,
    lowest,
    samples_of,
    violations,
)
from digest.model import SourceKind, Spotlight
from digest.render import templates_dir
from digest.send.sample import preview_message
from digest.send.wiring import smtp_relay
from digest.settings import Settings
from digest.web import listen, url_of
from digest.web.mail import ConfirmationMail, render_confirmation
from digest.web.public import public_app
from tests.support.browser import CHROMIUM, Chromium, light_share, png_pixels
from tests.support.cli import run_main, write_config
from tests.support.clock import Clock, fixed
from tests.support.http import ALLOW_LOOPBACK
from tests.support.web import html_part

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"{CHROMIUM} is not installed"),
]
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
# Mail is read offline here: no request leaves the machine (the logo stays a broken image).
OFFLINE = ("--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",)
PALE = "#9fd3ff"
# Share of light pixels (luminance over 50 %) allowed in the middle of a dark screenshot.
DARK_LIGHT_SHARE = 0.12
# The dark-mode block of issue.mjml.j2 at commit 39557ce: it missed the inline backgrounds.
OLD_DARK_HEAD = """    <mj-raw>
      <meta name="color-scheme" content="light dark">
      <meta name="supported-color-schemes" content="light dark">
    </mj-raw>
    <mj-style>
      @media (prefers-color-scheme: dark) {
        .body-bg, .body-bg > div, .card { background-color: #161b22 !important; }
        .card div, .card td { color: #e6edf3 !important; }
        .item-title a { color: #e6edf3 !important; }
        .muted { color: #9da7b3 !important; }
      }
    </mj-style>
"""


def issue_html(
    tmp_path: Path,
    clock: Clock,
    make_settings: Callable[..., Settings],
    *,
    full: bool,
    **values: Any,
) -> str:
    """The demo's issue (sample feeds, an intro, an interview) as the sample subscriber gets
    it; `full` adds every option: logo, greeting, social links, a quote with its link."""
    options: dict[str, Any] = {
        "newsletter_name": "Cluster Weekly",
        "newsletter_postal_address": "Example Network, 1 Sample Street, 1000 Example City",
    }
    if full:
        options |= {
            "newsletter_logo_url": "https://example.org/logo.png",
            "newsletter_greeting": "Hello {first_name},",
            "newsletter_social_links": [
                "Mastodon https://example.social/@cluster",
                "LinkedIn https://www.linkedin.com/company/example",
            ],
        }
    folder = tmp_path / f"issue-{len(list(tmp_path.glob('issue-*')))}"
    folder.mkdir()
    settings = make_settings(
        db_url=f"sqlite:///{folder / 'contrast.sqlite3'}",
        **ALLOW_LOOPBACK,
        **options | values,
    )
    db = Database(settings.database_url)
    try:
        with FeedServer(clock()) as feeds:
            for name in FEEDS:
                add_source(db, feeds.url(name), SourceKind(name), f"Demo {name}", clock())
            collect(db, settings, clock)
        compose_issue(db, settings, clock)
        set_intro(
            db,
            settings,
            clock,
            "<p>Welcome to this week's issue: <b>twelve</b> stories and "
            '<a href="https://example.org/report">the report</a>.</p>',
        )
        spotlight = (
            Spotlight(
                kind="quote",
                title="",
                text="Shared test beds beat solo pilots.",
                by="A. Member",
                url="https://example.org/quotes/1",
            )
            if full
            else Spotlight(
                kind="interview",
                title="Five questions to a cluster manager",
                text="Why shared test beds beat solo pilots, and what comes next.",
                by="A. Member",
                url="https://example.org/interviews/1",
            )
        )
        set_spotlight(db, settings, clock, spotlight)
        return preview_message(latest_issue(db, None), settings, clock()).html
    finally:
        db.dispose()


def measure(browser: Chromium, url: str, scheme: str, width: int = 640) -> list[TextSample]:
    browser.viewport(width, 900, mobile=width < 640)
    browser.color_scheme(scheme)
    browser.open(url)
    samples = samples_of(browser.evaluate(PAGE_SCRIPT))
    assert len(samples) > 3, (url, scheme)  # the page was measured, not a blank one
    return samples


def assert_readable(samples: list[TextSample], what: str, scheme: str) -> None:
    found = [f.line for f in contrast_findings(samples, scheme)]
    assert not found, f"{what}:\n" + "\n".join(found)


def page(tmp_path: Path, name: str, html: str) -> str:
    path = tmp_path / name
    path.write_text(html, encoding="utf-8")
    return path.as_uri()


def dark_share(browser: Chromium) -> float:
    """The share of light pixels in the middle of the page (the card: 10 % margins)."""
    width, height, rows = png_pixels(browser.capture(scale=0.25))
    return light_share(rows, width // 10, width - width // 10, height // 10, height - height // 10)


def record(line: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with (ARTIFACTS / "contrast.txt").open("a", encoding="utf-8") as out:
        out.write(line + "\n")


@pytest.mark.parametrize("full", [False, True], ids=["demo", "every-option"])
def test_the_issue_reads_in_light_and_dark_mode_and_the_dark_one_is_dark(
    full: bool, tmp_path: Path, clock: Clock, make_settings: Callable[..., Settings]
) -> None:
    url = page(tmp_path, "issue.html", issue_html(tmp_path, clock, make_settings, full=full))
    if full:
        (ARTIFACTS / "contrast.txt").unlink(missing_ok=True)
    with Chromium(tmp_path / "profile", extra_flags=OFFLINE) as browser:
        for width in (640, 375):
            shares = {}
            for scheme in ("light", "dark"):
                samples = measure(browser, url, scheme, width)
                assert_readable(samples, f"issue at {width}px", scheme)
                bottom = lowest(samples)
                assert bottom is not None
                if full:
                    record(
                        f"issue {scheme} {width}px: lowest {bottom.ratio:.2f}:1 "
                        f"({bottom.color.css} on {bottom.background.css}: {bottom.text[:50]!r})"
                    )
                    browser.screenshot(ARTIFACTS / f"issue-{scheme}-{width}.png")
                shares[scheme] = dark_share(browser)
            # The white card is gone in dark mode, and the measure itself can tell.
            assert shares["dark"] < DARK_LIGHT_SHARE, shares
            assert shares["light"] > 0.6, shares


def test_chromium_auto_dark_mode_does_not_invert_twice(
    tmp_path: Path, clock: Clock, make_settings: Callable[..., Settings]
) -> None:
    """Chromium's forced dark mode (a stand-in for clients that invert mail themselves):
    with a dark preference, the mail's own dark styles apply and the meta color-scheme
    keeps Chromium from inverting them back to light; with a light preference Chromium
    darkens the light mail itself. Either way the reader sees a dark mail."""
    url = page(tmp_path, "issue.html", issue_html(tmp_path, clock, make_settings, full=True))
    flags = (*OFFLINE, "--enable-features=WebContentsForceDark")
    with Chromium(tmp_path / "profile", extra_flags=flags) as browser:
        for scheme in ("dark", "light"):
            assert_readable(measure(browser, url, scheme, 375), "issue, auto dark", scheme)
            assert dark_share(browser) < DARK_LIGHT_SHARE, scheme
            if scheme == "dark":
                browser.screenshot(ARTIFACTS / "issue-autodark-375.png")


def test_a_pale_brand_colour_fails_the_check_with_a_readable_finding(
    tmp_path: Path, clock: Clock, make_settings: Callable[..., Settings]
) -> None:
    html = issue_html(tmp_path, clock, make_settings, full=False, newsletter_brand_color=PALE)
    url = page(tmp_path, "pale.html", html)
    with Chromium(tmp_path / "profile", extra_flags=OFFLINE) as browser:
        light = [f.line for f in contrast_findings(measure(browser, url, "light"), "light")]
        dark = [f.line for f in contrast_findings(measure(browser, url, "dark"), "dark")]
    # The white header text on the pale brand, and the pale headings on the white card.
    assert "error: contrast: light mode: 1.59:1 is under 4.5:1 for text #ffffff on #9fd3ff" in (
        "\n".join(light)
    )
    assert any(line.endswith("for text #9fd3ff on #ffffff: Latest news") for line in light)
    # In dark mode the headings use the lighter variant and read; the header still fails.
    assert dark and all("on #9fd3ff" in line for line in dark), dark


def test_the_check_fails_on_the_dark_mode_of_commit_39557ce(
    tmp_path: Path, clock: Clock, make_settings: Callable[..., Settings]
) -> None:
    templates = tmp_path / "templates"
    shutil.copytree(templates_dir(), templates, ignore=shutil.ignore_patterns("__*"))
    issue = templates / "issue.mjml.j2"
    source = issue.read_text(encoding="utf-8")
    start = source.index('    <mj-raw>\n      <meta name="color-scheme"')
    issue.write_text(
        source[:start] + OLD_DARK_HEAD + source[source.index("  </mj-head>") :], encoding="utf-8"
    )
    html = issue_html(
        tmp_path, clock, make_settings, full=False, newsletter_templates_dir=str(templates)
    )
    url = page(tmp_path, "old.html", html)
    with Chromium(tmp_path / "profile", extra_flags=OFFLINE) as browser:
        assert_readable(measure(browser, url, "light"), "old issue", "light")
        dark = violations(measure(browser, url, "dark"))
        assert dark_share(browser) > DARK_LIGHT_SHARE  # the white card
    assert any(s.color.css == "#e6edf3" and s.background.css == "#ffffff" for s in dark), dark


@pytest.mark.parametrize("brand", ["#1d4e89", "#000"], ids=["default", "black"])
def test_the_confirmation_mail_reads_in_light_and_dark_mode(
    brand: str, tmp_path: Path, make_settings: Callable[..., Settings]
) -> None:
    settings = make_settings(newsletter_name="Cluster Weekly", newsletter_brand_color=brand)
    with Chromium(tmp_path / "profile", extra_flags=OFFLINE) as browser:
        for already in (False, True):
            raw = render_confirmation(
                ConfirmationMail(
                    email="ada@example.org",
                    name="Ada",
                    action_url="https://news.example.org/confirm/abc",
                    already=already,
                ),
                settings,
                fixed(),
            )
            message = email.message_from_bytes(raw, policy=email.policy.default)
            url = page(tmp_path, f"confirm-{already}.html", html_part(message))
            for scheme in ("light", "dark"):
                assert_readable(measure(browser, url, scheme), f"confirmation {already}", scheme)
                if scheme == "dark":
                    assert dark_share(browser) < DARK_LIGHT_SHARE
                if not already and brand == "#1d4e89":
                    browser.screenshot(ARTIFACTS / f"confirm-{scheme}-640.png")


@pytest.fixture
def public_site(tmp_path: Path, make_settings: Callable[..., Settings]) -> Iterator[str]:
    sock = listen("127.0.0.1", 0)
    base = url_of(sock).rstrip("/")
    settings = make_settings(
        db_url=f"sqlite:///{tmp_path / 'web.sqlite3'}",
        newsletter_base_url=base,
        newsletter_name="Cluster Weekly",
        newsletter_postal_address="Example Network, 1 Sample Street, 1000 Example City",
    )
    db = Database(settings.database_url)
    app = public_app(db, settings, fixed, smtp_relay(settings))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        yield base
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
        db.dispose()


def test_the_public_pages_read_in_light_and_dark_mode(public_site: str, tmp_path: Path) -> None:
    paths = ["/", "/subscribe", "/preferences", "/unsubscribe", "/archive/", "/confirm/bad"]
    with Chromium(tmp_path / "profile") as browser:
        for path in paths:
            for scheme in ("light", "dark"):
                assert_readable(measure(browser, public_site + path, scheme), path, scheme)


# `digest issue lint --contrast`


def compose_config(tmp_path: Path, extra: str = "") -> Path:
    items = tmp_path / "items.yaml"
    items.write_text(
        "- {kind: news, title: Hydrogen pilots, url: 'https://example.org/news/1',"
        " summary: '<p>Clusters pool pilots. <a href=\"https://example.org/r\">Report</a></p>',"
        " date: '20/11/2026'}\n"
        "- {kind: event, title: Regional forum, url: 'https://example.org/events/1',"
        " date: '10/12/2026', location: 'Porto, Portugal'}\n"
        "- {kind: call, title: Innovation vouchers, url: 'https://example.org/calls/1',"
        " deadline: '20/12/2026'}\n",
        encoding="utf-8",
    )
    config = write_config(
        tmp_path,
        f"sqlite:///{tmp_path / 'lint.sqlite3'}",
        extra='[newsletter]\nname = "Cluster Weekly"\n'
        'postal_address = "Example Network, 1 Sample Street, 1000 Example City"\n'
        'base_url = "https://news.example.org"\n' + extra,
    )
    for args in (["items", "import", str(items)], ["issue", "compose"]):
        result = CliRunner().invoke(cli, ["--config", str(config), *args], obj=fixed)
        assert result.exit_code == 0, result.output
    return config


def test_lint_contrast_passes_and_names_the_lowest_ratio_of_each_mode(tmp_path: Path) -> None:
    config = compose_config(tmp_path)
    result = CliRunner().invoke(
        cli, ["--config", str(config), "issue", "lint", "--contrast"], obj=fixed
    )
    assert result.exit_code == 0, result.output
    light, dark, summary = result.stdout.splitlines()
    assert light.startswith("contrast: light mode: lowest ")
    assert dark.startswith("contrast: dark mode: lowest ")
    assert "0 error(s)" in summary


def test_lint_contrast_fails_on_a_pale_brand_colour(tmp_path: Path) -> None:
    config = compose_config(tmp_path, f'brand_color = "{PALE}"\n')
    result = CliRunner().invoke(
        cli, ["--config", str(config), "issue", "lint", "--contrast", "--json"], obj=fixed
    )
    assert result.exit_code == 1, result.output
    report = json.loads(result.stdout)
    messages = [f["message"] for f in report["findings"] if f["check"] == "contrast"]
    assert "light mode: 1.59:1 is under 4.5:1 for text #ffffff on #9fd3ff" in messages
    assert report["contrast"]["light"]["lowest_ratio"] == 1.59


def test_lint_contrast_without_chromium_is_one_clear_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    config = compose_config(tmp_path)
    monkeypatch.setenv("PATH", str(tmp_path / "nothing-here"))
    code, out, err = run_main(["--config", str(config), "issue", "lint", "--contrast"], capsys)
    assert code == 1 and out == ""
    assert err.count("\n") == 1 and "the contrast check needs Chromium" in err, err
