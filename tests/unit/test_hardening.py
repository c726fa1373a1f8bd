"""Issue 12, the parts without a database or network: titles without disguising characters
(item 16), no SMTP password in clear (10), address checks and URL spellings (13, 17), files
that are the owner's only (9)."""

from __future__ import annotations

import dataclasses
import ipaddress
import os
import stat
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from digest.collect.clean import one_line
from digest.collect.parse import parse_feed
from digest.compose.editing import checked_spotlight, decide_edit
from digest.errors import ConfigError
from digest.model import Fetched, ItemEdit, ParseOptions, SourceKind, Spotlight
from digest.net import AddressPolicy, is_public, normalize_url
from digest.send.journal import Journal
from digest.send.transport import SmtpTransport
from digest.settings import Settings, SmtpSettings
from digest.text import plain_text, sanitize_summary
from tests.support.feeds import RssItem, rss

SPOOF = "Invoice \u202egpj.exe\u202c"

# --- 16: bidi overrides and zero-width characters ------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        SPOOF,
        "Invoice &#x202E;gpj.exe&#x202C;",
        "Invoice \u2067gpj.exe\u2069",
        "Invoice \u202d\u200bgpj.exe\ufeff",
        "Invoice \u2060gpj\u200b.exe",
    ],
)
def test_titles_lose_bidi_overrides_and_zero_width_characters(text: str) -> None:
    assert plain_text(text) == "Invoice gpj.exe"


def test_joiners_that_do_a_job_are_kept() -> None:
    family = "\U0001f468\u200d\U0001f469\u200d\U0001f467"
    persian = "\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645"
    assert plain_text(f"{family} {persian}") == f"{family} {persian}"


def test_a_feed_title_location_and_summary_are_cleaned() -> None:
    body = rss(
        [
            RssItem(
                title=SPOOF,
                guid="1",
                link="https://example.org/1",
                description="<p>Pay \u202eredro\u202c now &#x200B;</p>",
                published=datetime(2026, 12, 1, tzinfo=UTC),
            )
        ]
    )
    fetched = Fetched(url="https://example.org/feed", status=200, body=body)
    [entry] = parse_feed(fetched, ParseOptions(kind=SourceKind.NEWS))
    assert entry.title == "Invoice gpj.exe"
    assert "\u202e" not in entry.summary and "\u200b" not in entry.summary
    assert sanitize_summary("<p>a\u202eb</p>", 400) == "<p>ab</p>"


def test_an_editor_title_and_spotlight_are_cleaned() -> None:
    edit = decide_edit(ItemEdit(item_id=1), summary_chars=400, title=SPOOF)
    assert edit.title == "Invoice gpj.exe"
    spotlight = checked_spotlight(
        Spotlight(kind="quote", title=SPOOF, text="x\u2066y", by="A\u200bB", url="")
    )
    assert (spotlight.title, spotlight.text, spotlight.by) == ("Invoice gpj.exe", "xy", "AB")


def test_error_lines_from_feeds_are_cleaned() -> None:
    assert one_line(f"HTTP 500 {SPOOF}") == "HTTP 500 Invoice gpj.exe"


# --- 10: the SMTP password never in clear -------------------------------------------------


def test_login_without_tls_to_a_remote_relay_is_refused(
    make_settings: Callable[..., Settings],
) -> None:
    with pytest.raises(ConfigError) as caught:
        make_settings(smtp_host="mail.example.net", smtp_username="u", smtp_password="hunter22")
    message = str(caught.value)
    assert "smtp.security" in message and "smtp.allow_plaintext_auth" in message
    assert "hunter22" not in message and "\n" not in message


@pytest.mark.parametrize(
    "values",
    [
        {"smtp_host": "127.0.0.1"},
        {"smtp_host": "localhost"},
        {"smtp_host": "::1"},
        {"smtp_host": "mail.example.net", "smtp_security": "starttls"},
        {"smtp_host": "mail.example.net", "smtp_security": "tls"},
        {"smtp_host": "mail.example.net", "smtp_allow_plaintext_auth": "true"},
    ],
)
def test_login_is_allowed_with_tls_on_loopback_or_when_explicitly_allowed(
    make_settings: Callable[..., Settings], values: dict[str, str]
) -> None:
    settings = make_settings(smtp_username="u", smtp_password="p", **values)
    assert settings.smtp.cleartext_login() == ""


def test_the_transport_refuses_settings_made_in_code() -> None:
    cfg = SmtpSettings(host="mail.example.net", username="u", password="p")
    with pytest.raises(ConfigError, match=r"smtp\.allow_plaintext_auth"):
        SmtpTransport(cfg)
    SmtpTransport(dataclasses.replace(cfg, security="starttls")).close()
    SmtpTransport(dataclasses.replace(cfg, username="")).close()  # no login: nothing to leak


# --- 13: which addresses the collector may reach -------------------------------------------


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "127.1.2.3",
        "10.0.0.1",
        "172.16.5.4",
        "192.168.1.1",
        "169.254.169.254",
        "100.100.100.200",
        "0.0.0.0",  # noqa: S104 - an address refused, not bound
        "255.255.255.255",
        "224.0.0.1",
        "::1",
        "::",
        "fd00::1",
        "fc00::1",
        "fe80::1",
        "fec0::1",
        "ff02::1",
        "::ffff:127.0.0.1",
        "::ffff:169.254.169.254",
        "::127.0.0.1",
        "2002:7f00:1::1",
        "2002:a9fe:a9fe::1",
        "64:ff9b::a9fe:a9fe",
        "2001:db8::1",
    ],
)
def test_non_public_addresses_are_refused(address: str) -> None:
    assert not is_public(ipaddress.ip_address(address))
    assert "not a public address" in AddressPolicy().refusal("feed.example", [address])


@pytest.mark.parametrize("address", ["93.184.216.34", "2606:4700::1111", "::ffff:93.184.216.34"])
def test_public_addresses_are_fetched(address: str) -> None:
    assert is_public(ipaddress.ip_address(address))
    assert AddressPolicy().refusal("feed.example", [address]) == ""


def test_the_allow_list_takes_host_names_and_networks() -> None:
    policy = AddressPolicy.allowing(["Intranet.Example.", "10.1.0.0/16", "::1"])
    assert policy.refusal("intranet.example", ["10.9.9.9"]) == ""
    assert policy.refusal("other.example", ["10.1.2.3", "::1"]) == ""
    assert policy.refusal("other.example", ["10.2.0.1"]) != ""


# --- 17: one spelling per feed URL -------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "normal"),
    [
        ("HTTP://Example.ORG/Feed.xml", "http://example.org/Feed.xml"),
        ("http://example.org:80/feed", "http://example.org/feed"),
        ("https://example.org:443/feed", "https://example.org/feed"),
        ("https://example.org:8443/feed", "https://example.org:8443/feed"),
        ("http://example.org./feed#top", "http://example.org/feed"),
        ("http://example.org", "http://example.org/"),
        ("https://BÜCHER.example/f?a=B", "https://xn--bcher-kva.example/f?a=B"),
        ("http://[0:0::1]:8080/x", "http://[::1]:8080/x"),
    ],
)
def test_feed_urls_are_normalized(url: str, normal: str) -> None:
    assert normalize_url(url) == normal


@pytest.mark.parametrize("url", ["ftp://example.org/f", "example.org/feed", "http:///f"])
def test_only_http_urls_normalize(url: str) -> None:
    with pytest.raises(ValueError, match="not an http"):
        normalize_url(url)


# --- 9: owner-only files ------------------------------------------------------------------


@pytest.fixture
def umask_022() -> Iterator[None]:
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def test_the_send_journal_and_its_folder_are_private(tmp_path: Path, umask_022: None) -> None:
    path = tmp_path / "data" / "send-journal" / "x-issue-1.log"
    journal = Journal(path)
    journal.begin(1)
    journal.discard()
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE((tmp_path / "data").stat().st_mode) == 0o700
