"""Pure parts of digest.web: which hosts are loopback, Host headers, and the optional lint
report of the preview."""

from __future__ import annotations

import sys
import types
from dataclasses import dataclass

import pytest

from digest.db.schema import Issue
from digest.preview import PreviewMessage
from digest.settings import Settings
from digest.web import host_of, is_loopback
from digest.web.preview import lint_view


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.0.0.2", True),
        ("localhost", True),
        ("LocalHost", True),
        ("::1", True),
        ("[::1]", True),
        ("0.0.0.0", False),  # noqa: S104 - a value under test, not a bind
        ("::", False),
        ("192.168.1.10", False),
        ("example.org", False),
        ("", False),
    ],
)
def test_is_loopback(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


@pytest.mark.parametrize(
    ("header", "host"),
    [
        ("127.0.0.1:8001", "127.0.0.1"),
        ("localhost", "localhost"),
        ("[::1]:8001", "::1"),
        ("[::1]", "::1"),
        ("Evil.Example:80", "evil.example"),
        ("", ""),
    ],
)
def test_host_of(header: str, host: str) -> None:
    assert host_of(header) == host


ISSUE = Issue(number=3, subject="S", preheader="P", html="<p>x</p>", text="x")
MESSAGE = PreviewMessage(raw=b"", html="<p>x</p>", text="x", headers=())


def fake_lint(monkeypatch: pytest.MonkeyPatch, lint_issue: object) -> None:
    module = types.ModuleType("digest.render.lint")
    module.lint_issue = lint_issue  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "digest.render.lint", module)


def test_lint_is_optional(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "digest.render.lint", None)  # import fails
    assert lint_view(ISSUE, MESSAGE, Settings()).note == "lint not available"


def test_lint_findings_are_read_defensively(monkeypatch: pytest.MonkeyPatch) -> None:
    @dataclass
    class Found:
        check: str
        level: str
        message: str

    @dataclass
    class Report:
        findings: tuple[Found, ...]

    seen: dict[str, str] = {}

    def lint_issue(html: str, text: str, *, base_url: str) -> Report:
        seen.update(html=html, text=text, base_url=base_url)
        return Report((Found("alt", "error", "an image has no alt text"),))

    fake_lint(monkeypatch, lint_issue)

    view = lint_view(ISSUE, MESSAGE, Settings())

    assert seen == {"html": "<p>x</p>", "text": "x", "base_url": "http://127.0.0.1:8000"}
    assert [(f.check, f.level, f.message) for f in view.findings] == [
        ("alt", "error", "an image has no alt text")
    ]


def test_a_failing_lint_is_a_note(monkeypatch: pytest.MonkeyPatch) -> None:
    def lint_issue(html: str, text: str, *, needs_this: str) -> None:
        raise AssertionError("not reached")

    fake_lint(monkeypatch, lint_issue)

    note = lint_view(ISSUE, MESSAGE, Settings()).note

    assert note.startswith("lint failed: TypeError: ")
