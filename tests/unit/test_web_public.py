"""Pure parts of the public pages: the signup rate limit, the same-origin check, expiring
confirm tokens, the neutral web version and the Atom document."""

from __future__ import annotations

import email
import email.policy
import hashlib
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TypedDict, Unpack

import feedparser
import pytest
from itsdangerous import URLSafeTimedSerializer
from starlette.requests import Request

from digest.settings import NewsletterSettings, Settings
from digest.web.archive import ArchivedIssue, atom_feed, neutral_html
from digest.web.guard import RateLimiter, client_key, origin_of, same_origin
from digest.web.mail import ConfirmationMail, render_confirmation
from digest.web.pages import Pages
from subscribers.tokens import CONFIRM, ExpiredLink, InvalidLink, LinkTarget, TimedTokenSigner
from tests.support.clock import Clock

KEY = "current-key-0123456789abcdef"
OLD_KEY = "former-key-0123456789abcdef"
START = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)


class NewsletterOverrides(TypedDict, total=False):
    """The newsletter settings these tests change."""

    name: str
    base_url: str
    brand_color: str
    templates_dir: str


def settings(**newsletter: Unpack[NewsletterOverrides]) -> Settings:
    return Settings(newsletter=NewsletterSettings(**newsletter))


# Rate limit -------------------------------------------------------------------------------


def test_the_rate_limit_is_a_sliding_window_per_key() -> None:
    clock = Clock(START)
    limiter = RateLimiter(3, timedelta(hours=1), clock)
    assert [limiter.hit("a") for _ in range(3)] == [None, None, None]
    wait = limiter.hit("a")
    assert wait == timedelta(hours=1)
    assert limiter.hit("b") is None
    clock.advance(minutes=30)
    assert limiter.hit("a") == timedelta(minutes=30), "refused hits are not counted"
    clock.advance(minutes=30)
    assert limiter.hit("a") is None  # the first three are an hour old now


def test_the_rate_limit_remembers_a_bounded_number_of_addresses() -> None:
    limiter = RateLimiter(1, timedelta(hours=1), Clock(START), max_keys=100)
    for n in range(1000):
        limiter.hit(f"10.0.{n // 256}.{n % 256}")
    assert len(limiter._events) == 100
    assert limiter.hit("10.0.3.231") is not None  # the newest are remembered
    assert limiter.hit("10.0.0.0") is None  # the oldest were dropped


# Same origin ------------------------------------------------------------------------------


def request(headers: dict[str, str], host: str = "news.example.org") -> Request:
    raw = [(k.lower().encode(), v.encode()) for k, v in {"host": host, **headers}.items()]
    scope = {
        "type": "http",
        "method": "POST",
        "scheme": "https",
        "server": (host, 443),
        "path": "/preferences/t",
        "query_string": b"",
        "headers": raw,
    }
    return Request(scope)


@pytest.mark.parametrize(
    ("headers", "allowed"),
    [
        ({}, True),  # a mail provider or a script: the token decides
        ({"Origin": "https://news.example.org"}, True),
        ({"Origin": "HTTPS://NEWS.EXAMPLE.ORG"}, True),
        ({"Origin": "https://www.example.org"}, True),  # the organisation's own site
        ({"Referer": "https://news.example.org/preferences/t"}, True),
        ({"Origin": "null"}, False),
        ({"Origin": "https://evil.example"}, False),
        ({"Origin": "http://news.example.org"}, False),  # another scheme
        ({"Origin": "https://news.example.org.evil.example"}, False),
        ({"Referer": "https://evil.example/?https://news.example.org"}, False),
        ({"Referer": "not a url"}, False),
        ({"Origin": "https://news.example.org", "Referer": "https://evil.example/"}, True),
    ],
)
def test_same_origin(headers: dict[str, str], allowed: bool) -> None:
    own = ["https://news.example.org", "https://www.example.org"]
    assert same_origin(request(headers), own) is allowed


@pytest.mark.parametrize(
    ("origin", "allowed"),
    [
        ("https://evil.example", False),  # the Host header is the attacker's too
        ("http://127.0.0.1:8000", True),  # a local run
        ("http://localhost:8000", True),
        ("http://[::1]:8000", True),
        ("http://127.0.0.1.evil.example", False),
    ],
)
def test_same_origin_never_trusts_the_host_header(origin: str, allowed: bool) -> None:
    forged = request({"Origin": origin}, host=origin.partition("://")[2])
    assert same_origin(forged, ["https://news.example.org"]) is allowed


@pytest.mark.parametrize(
    ("host", "key"),
    [
        ("192.0.2.7", "192.0.2.7"),
        ("2001:db8:1:2:aaaa:bbbb:cccc:dddd", "2001:db8:1:2::/64"),
        ("2001:db8:1:2::1", "2001:db8:1:2::/64"),
        ("2001:db8:1:3::1", "2001:db8:1:3::/64"),
        ("::ffff:192.0.2.7", "192.0.2.7"),
        ("testclient", "testclient"),
    ],
)
def test_the_signup_limit_counts_an_ipv6_client_by_its_64(host: str, key: str) -> None:
    assert client_key(host) == key


def test_origin_of() -> None:
    assert origin_of("https://Example.org:8443/a?b#c") == "https://example.org:8443"
    assert origin_of("/relative") == "" and origin_of("") == ""


# Confirm tokens ---------------------------------------------------------------------------


def test_confirm_tokens_round_trip_and_expire() -> None:
    clock = Clock(START)
    signer = TimedTokenSigner([KEY], CONFIRM, clock, timedelta(hours=72))
    token = signer.sign(42, "link-key", "stamp")
    clock.advance(hours=72)
    assert signer.verify(token) == (LinkTarget(42, "link-key"), "stamp")
    clock.advance(seconds=1)
    with pytest.raises(ExpiredLink, match="expired"):
        signer.verify(token)


def test_a_confirm_token_from_the_future_is_refused() -> None:
    clock = Clock(START + timedelta(days=1))
    token = TimedTokenSigner([KEY], CONFIRM, clock, timedelta(hours=72)).sign(1, "k", "s")
    clock.now = START
    with pytest.raises(ExpiredLink):
        TimedTokenSigner([KEY], CONFIRM, clock, timedelta(hours=72)).verify(token)


def test_confirm_tokens_survive_key_rotation() -> None:
    clock = Clock(START)
    token = TimedTokenSigner([OLD_KEY], CONFIRM, clock, timedelta(hours=1)).sign(7, "k", "s")
    rotated = TimedTokenSigner([OLD_KEY, KEY], CONFIRM, clock, timedelta(hours=1))
    assert rotated.verify(token) == (LinkTarget(7, "k"), "s")
    with pytest.raises(InvalidLink):
        TimedTokenSigner([KEY], CONFIRM, clock, timedelta(hours=1)).verify(token)


@pytest.mark.parametrize(
    "value",
    [
        *(42, "42", [1], [1, 2], ["1", "s"], [True, "s"], None),
        # The shape before link keys, an empty key, a key that is not a string.
        *([1, "s"], [1, "", "s"], [1, 2, "s"], [True, "k", "s"]),
    ],
)
def test_validly_signed_confirm_tokens_of_the_wrong_shape_are_refused(value: object) -> None:
    clock = Clock(START)
    serializer = URLSafeTimedSerializer(
        [KEY], salt="digest.confirm", signer_kwargs={"digest_method": hashlib.sha256}
    )
    token = str(serializer.dumps(value))
    with pytest.raises(InvalidLink):
        TimedTokenSigner([KEY], CONFIRM, clock, timedelta(hours=1)).verify(token)


def test_an_altered_confirm_token_is_invalid_not_expired() -> None:
    clock = Clock(START)
    signer = TimedTokenSigner([KEY], CONFIRM, clock, timedelta(hours=1))
    token = signer.sign(1, "k", "s")
    clock.advance(days=30)  # even when it would be expired, a changed token is "not valid"
    changed = token[:-3] + ("AAA" if not token.endswith("AAA") else "BBB")
    with pytest.raises(InvalidLink) as caught:
        signer.verify(changed)
    assert not isinstance(caught.value, ExpiredLink)


# Archive ----------------------------------------------------------------------------------


def test_the_web_version_has_no_placeholders_left() -> None:
    html = '<a href="%%UNSUBSCRIBE_URL%%">x</a><a href="%%PREFERENCES_URL%%">y</a>'
    neutral = neutral_html(html, settings(base_url="https://n.example/"))
    assert neutral == (
        '<a href="https://n.example/unsubscribe">x</a><a href="https://n.example/preferences">y</a>'
    )


def test_the_atom_feed_escapes_what_it_carries() -> None:
    issue = ArchivedIssue(
        number=3, subject="Q&A <live> ]]>", preheader='"quoted" & more', sent_at=START
    )
    document = atom_feed([issue], settings(base_url="https://n.example"), START)
    ET.fromstring(document)  # noqa: S314 - our own document: is it well-formed?
    feed = feedparser.parse(document)
    assert not feed.bozo
    assert feed.entries[0].title == "Q&A <live> ]]>"
    assert feed.entries[0].link == "https://n.example/archive/3"


def test_only_a_hex_brand_colour_reaches_the_stylesheet() -> None:
    assert "--brand: #abcdef;" in Pages(settings(brand_color="#abcdef")).css
    hostile = Pages(settings(brand_color="red;}</style><script>x</script>"))
    assert "script" not in hostile.css and "--brand: #1d4e89;" in hostile.css


def test_the_confirmation_mail_falls_back_to_the_built_in_templates(tmp_path: Path) -> None:
    # An operator's templates folder from before signup existed has no confirm.mjml.j2.
    own = settings(templates_dir=str(tmp_path), name="Own Name")
    mail = ConfirmationMail(
        email="a@example.org", name="A", action_url="https://n.example/confirm/t", already=False
    )
    message = email.message_from_bytes(
        render_confirmation(mail, own, START), policy=email.policy.default
    )
    assert "Own Name" in str(message["Subject"])
    assert message["Auto-Submitted"] == "auto-generated"
    for kind in ("plain", "html"):
        body = message.get_body((kind,))
        assert body is not None and "https://n.example/confirm/t" in body.get_content()
