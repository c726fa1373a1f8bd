"""Pure parts of digest.web: which hosts are loopback, Host headers, and the lint report of
the preview."""

from __future__ import annotations

import pytest

import digest.web.preview
from digest.send.sample import PreviewMessage
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


MESSAGE = PreviewMessage(
    raw=b"", html='<p>x <img src="https://example.org/a.png"></p>', text="x", headers=()
)


def test_the_preview_shows_the_lint_findings() -> None:
    view = lint_view(MESSAGE, Settings())

    assert ("alt", "error") in [(f.check, f.level) for f in view.findings]
    assert view.note == ""


def test_a_failing_lint_is_a_note(monkeypatch: pytest.MonkeyPatch) -> None:
    def lint_issue(html: str, text: str, *, base_url: str) -> None:
        raise TypeError("a bug in a check")

    monkeypatch.setattr(digest.web.preview, "lint_issue", lint_issue)

    note = lint_view(MESSAGE, Settings()).note

    assert note.startswith("lint failed: TypeError: ")
