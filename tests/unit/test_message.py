"""The issue as an email: one template, personalized per recipient, valid MIME and headers."""

from __future__ import annotations

import binascii
import email
import email.policy
import random
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage

import pytest

from digest.errors import ConfigError
from digest.model import PLACEHOLDERS, IssuePlan, ItemKind, QueuedItem, Recipient
from digest.render import render_issue
from digest.send.message import (
    MARKERS,
    EncodedBody,
    Links,
    MessageTemplate,
    build_template,
    feedback_id,
    mail_template,
    newsletter_slug,
)
from digest.send.wiring import smtp_relay
from digest.settings import Settings
from subscribers.tokens import PREFERENCES, UNSUBSCRIBE, TokenSigner

NOW = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
BASE = "https://news.example.org"
ALICE = Recipient(
    delivery_id=1,
    subscriber_id=101,
    email="alice@example.com",
    name="Zoë Ångström-Müller",
    message_id="<issue5.101.aaaa@example.org>",
)
BOB = Recipient(
    delivery_id=2,
    subscriber_id=202,
    email="bob@example.net",
    name="Bob",
    message_id="<issue5.202.bbbb@example.org>",
)


def plan() -> IssuePlan:
    return IssuePlan(
        number=5,
        date=NOW,
        news=(
            QueuedItem(
                id=1,
                kind=ItemKind.NEWS,
                title="Café opens – « bienvenue »",
                link="https://example.org/news/1",
                # One long paragraph: the HTML and text carry lines far beyond 998 octets.
                summary="<p>" + "A long sentence about the new café. " * 60 + "</p>",
                published_at=NOW - timedelta(days=1),
            ),
        ),
        events=(
            QueuedItem(
                id=2,
                kind=ItemKind.EVENT,
                title="Winter summit",
                link="https://example.org/events/2",
                summary="",
                published_at=NOW - timedelta(days=3),
                event_start=NOW + timedelta(days=10),
                location="Lisboa",
            ),
        ),
    )


@pytest.fixture
def settings(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings(
        newsletter_name="Crônica Semanal",
        newsletter_from_address="news@example.org",
        newsletter_base_url=BASE,
        newsletter_reply_to="editors@example.org",
        compose_summary_chars=4000,
    )


@pytest.fixture
def template(settings: Settings) -> MessageTemplate:
    issue = render_issue(plan(), settings)
    return build_template(
        settings=settings,
        subject=issue.subject,
        html_body=issue.html,
        text_body=issue.text,
        number=5,
        placeholders=issue.placeholders,
        date=NOW,
    )


def links_for(settings: Settings, recipient: Recipient) -> Links:
    who = (recipient.subscriber_id, recipient.link_key)
    unsubscribe = TokenSigner(settings.signing_keys, UNSUBSCRIBE).sign(*who)
    preferences = TokenSigner(settings.signing_keys, PREFERENCES).sign(*who)
    return Links(
        unsubscribe=f"{BASE}/unsubscribe/{unsubscribe}",
        preferences=f"{BASE}/preferences/{preferences}",
    )


def parse(raw: bytes) -> EmailMessage:
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    return message


def parts(message: EmailMessage) -> tuple[str, str]:
    plain, html = list(message.iter_parts())
    assert isinstance(plain, EmailMessage) and isinstance(html, EmailMessage)
    return plain.get_content(), html.get_content()


def test_multipart_alternative_text_then_html(
    settings: Settings, template: MessageTemplate
) -> None:
    message = parse(template.personalize(ALICE, links_for(settings, ALICE)))
    assert message.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in message.iter_parts()] == ["text/plain", "text/html"]
    assert all(p.get_content_charset() == "utf-8" for p in message.iter_parts())
    assert not message.defects
    assert all(not p.defects for p in message.iter_parts())
    plain, html = parts(message)
    assert "Café opens – « bienvenue »" in plain
    assert "LATEST NEWS" in plain
    assert html.lstrip().startswith("<")
    assert "Winter summit" in html


def test_lines_are_short_and_end_with_crlf(settings: Settings, template: MessageTemplate) -> None:
    raw = template.personalize(ALICE, links_for(settings, ALICE))
    assert raw.endswith(b"\r\n")
    assert b"\n" not in raw.replace(b"\r\n", b"")
    assert b"\r" not in raw.replace(b"\r\n", b"")
    lines = raw.split(b"\r\n")
    assert max(len(line) for line in lines) <= 998
    # Quoted-printable keeps the body within 76 characters per line.
    body = raw.split(b"\r\n\r\n", 1)[1]
    assert max(len(line) for line in body.split(b"\r\n")) <= 76
    assert raw.isascii()


def test_headers_are_complete(settings: Settings, template: MessageTemplate) -> None:
    message = parse(template.personalize(ALICE, links_for(settings, ALICE)))
    assert message["Message-ID"] == ALICE.message_id
    assert message["From"].addresses[0].addr_spec == "news@example.org"
    assert message["From"].addresses[0].display_name == "Crônica Semanal"
    assert message["Reply-To"] == "editors@example.org"
    assert message["MIME-Version"] == "1.0"
    assert message["X-Digest-Issue"] == "5"
    assert message["Date"].datetime == NOW
    assert message["List-Id"] == "Crônica Semanal <newsletter.example.org>"
    assert message["Precedence"] == "bulk"
    assert message["Feedback-ID"] == "5:cronica-semanal:digest:example.org"
    for name in (
        "To",
        "From",
        "Subject",
        "Date",
        "Message-ID",
        "List-Id",
        "List-Unsubscribe",
        "Precedence",
        "Feedback-ID",
    ):
        assert len(message.get_all(name) or []) == 1, name


def test_each_recipient_gets_their_own_unsubscribe_link(
    settings: Settings, template: MessageTemplate
) -> None:
    seen = []
    for recipient in (ALICE, BOB):
        links = links_for(settings, recipient)
        message = parse(template.personalize(recipient, links))
        plain, html = parts(message)
        assert message["List-Unsubscribe"] == f"<{links.unsubscribe}>"
        assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        assert f'href="{links.unsubscribe}"' in html
        assert f'href="{links.preferences}"' in html
        assert f"Unsubscribe: {links.unsubscribe}" in plain
        assert f"Preferences: {links.preferences}" in plain
        assert message["To"].addresses[0].addr_spec == recipient.email
        for placeholder in (PLACEHOLDERS.unsubscribe, PLACEHOLDERS.preferences):
            assert placeholder not in plain and placeholder not in html
        seen.append(links.unsubscribe)
    assert seen[0] != seen[1]
    # Alice's message does not carry Bob's link.
    alice = template.personalize(ALICE, links_for(settings, ALICE))
    assert seen[1].rsplit("/", 1)[1].encode() not in alice


def test_a_long_unsubscribe_url_stays_one_usable_header(template: MessageTemplate) -> None:
    long_url = f"{BASE}/unsubscribe/{'x' * 300}"
    raw = template.personalize(ALICE, Links(unsubscribe=long_url, preferences=f"{BASE}/p/1"))
    message = parse(raw)
    assert message["List-Unsubscribe"] == f"<{long_url}>"
    assert b"=?" not in next(
        line for line in raw.split(b"\r\n") if line.startswith(b"List-Unsubscribe:")
    )


def test_a_url_with_an_ampersand_is_escaped_in_the_html_only(template: MessageTemplate) -> None:
    url = f"{BASE}/unsubscribe?id=7&sig=abc"
    message = parse(template.personalize(ALICE, Links(unsubscribe=url, preferences=url)))
    plain, html = parts(message)
    assert 'href="https://news.example.org/unsubscribe?id=7&amp;sig=abc"' in html
    assert f"Unsubscribe: {url}" in plain
    assert message["List-Unsubscribe"] == f"<{url}>"


def test_a_non_ascii_display_name_is_encoded_and_round_trips(
    settings: Settings, template: MessageTemplate
) -> None:
    raw = template.personalize(ALICE, links_for(settings, ALICE))
    to_line = next(line for line in raw.split(b"\r\n") if line.startswith(b"To:"))
    assert b"=?utf-8?" in to_line.lower()
    message = parse(raw)
    address = message["To"].addresses[0]
    assert address.display_name == "Zoë Ångström-Müller"
    assert address.addr_spec == "alice@example.com"


def test_a_display_name_with_specials_is_quoted(
    settings: Settings, template: MessageTemplate
) -> None:
    odd = Recipient(
        delivery_id=3,
        subscriber_id=303,
        email="odd@example.com",
        name='Doe, "Jay" <boss@example.com>',
        message_id="<m3@example.org>",
    )
    message = parse(template.personalize(odd, links_for(settings, odd)))
    addresses = message["To"].addresses
    assert len(addresses) == 1
    assert addresses[0].addr_spec == "odd@example.com"
    assert addresses[0].display_name == 'Doe, "Jay" <boss@example.com>'


@pytest.mark.parametrize(
    "name",
    ["Mallory\r\nBcc: evil@example.com", "Mallory\nBcc: evil@example.com", "M\rBcc: e@x.org"],
)
def test_a_name_cannot_inject_a_header(
    settings: Settings, template: MessageTemplate, name: str
) -> None:
    evil = Recipient(
        delivery_id=4,
        subscriber_id=404,
        email="mallory@example.com",
        name=name,
        message_id="<m4@example.org>",
    )
    try:
        raw = template.personalize(evil, links_for(settings, evil))
    except ValueError:
        return  # refused: the send stage fails this one recipient
    assert not re.search(rb"^bcc:", raw, flags=re.IGNORECASE | re.MULTILINE)
    message = parse(raw)
    assert message["Bcc"] is None
    assert [a.addr_spec for a in message["To"].addresses] == ["mallory@example.com"]


def test_an_injected_name_is_refused_with_value_error(
    settings: Settings, template: MessageTemplate
) -> None:
    evil = Recipient(
        delivery_id=5,
        subscriber_id=505,
        email="mallory@example.com",
        name="Mallory\r\nBcc: evil@example.com",
        message_id="<m5@example.org>",
    )
    with pytest.raises(ValueError, match="To"):
        template.personalize(evil, links_for(settings, evil))


def test_the_subject_with_non_ascii_round_trips(
    settings: Settings, template: MessageTemplate
) -> None:
    raw = template.personalize(ALICE, links_for(settings, ALICE))
    message = parse(raw)
    assert message["Subject"] == "Crônica Semanal #5 – 23 November 2026"
    subject_at = raw.index(b"Subject:")
    assert b"=?utf-8?" in raw[subject_at : subject_at + 200].lower()


def test_the_template_is_reusable(settings: Settings, template: MessageTemplate) -> None:
    links = links_for(settings, ALICE)
    first = template.personalize(ALICE, links)
    template.personalize(BOB, links_for(settings, BOB))
    assert template.personalize(ALICE, links) == first


def test_envelope_sender_defaults_to_the_from_address(
    settings: Settings, make_settings: Callable[..., Settings]
) -> None:
    assert smtp_relay(settings).envelope_from == "news@example.org"
    bounces = make_settings(smtp_envelope_from="bounces@example.org")
    assert smtp_relay(bounces).envelope_from == "bounces@example.org"


def test_the_feedback_id_sender_is_the_setting_when_given(
    make_settings: Callable[..., Settings],
) -> None:
    settings = make_settings(newsletter_name="Golden Weekly", smtp_feedback_id="digest-sender.1")
    other = build_template(
        settings=settings, subject="S", html_body="<p>h</p>", text_body="t", number=42, date=NOW
    )
    message = parse(other.personalize(BOB, Links(unsubscribe=f"{BASE}/u", preferences="p")))
    assert message["Feedback-ID"] == "42:golden-weekly:digest:digest-sender.1"
    assert feedback_id(settings, 7) == "7:golden-weekly:digest:digest-sender.1"


def test_the_feedback_id_sender_defaults_to_the_from_domain_in_lowercase(
    make_settings: Callable[..., Settings],
) -> None:
    settings = make_settings(newsletter_from_address="News@Lists.Example.ORG")
    assert feedback_id(settings, 3) == "3:digest:digest:lists.example.org"


@pytest.mark.parametrize(
    ("name", "slug"),
    [
        ("Crônica Semanal", "cronica-semanal"),
        ("Golden Weekly", "golden-weekly"),
        ("  The *Best* News: 2027!  ", "the-best-news-2027"),
        ("Ωμέγα", "newsletter"),  # nothing ASCII survives
        ("x" * 80, "x" * 30),
        ("A" + " b" * 40, ("a" + "-b" * 40)[:30].rstrip("-")),
        ("a\r\nBcc: evil@example.com", "a-bcc-evil-example-com"),
    ],
)
def test_the_newsletter_id_is_a_short_ascii_slug(name: str, slug: str) -> None:
    assert newsletter_slug(name) == slug
    assert len(slug) <= 30 and ":" not in slug


@pytest.mark.parametrize(
    "value",
    ["a:b", "sender\r\nBcc: evil@example.com", "two words", "x" * 65, "ünïcode"],
)
def test_a_feedback_id_that_would_break_the_header_is_a_config_error(
    make_settings: Callable[..., Settings], value: str
) -> None:
    settings = make_settings(smtp_feedback_id=value)
    with pytest.raises(ConfigError, match=r"smtp\.feedback_id"):
        build_template(
            settings=settings, subject="S", html_body="<p>h</p>", text_body="t", number=1, date=NOW
        )


@pytest.mark.parametrize(
    ("setting", "value"),
    [
        ("newsletter_name", "Digest\r\nBcc: evil@example.com"),
        ("newsletter_reply_to", "editors@example.org\nBcc: evil@example.com"),
        ("newsletter_from_address", "news@example.org\rBcc: evil@example.com"),
    ],
)
def test_a_setting_with_a_line_break_cannot_inject_a_header(
    make_settings: Callable[..., Settings], setting: str, value: str
) -> None:
    settings = make_settings(**{setting: value})
    with pytest.raises(ConfigError, match=re.escape(setting.replace("_", ".", 1))):
        build_template(
            settings=settings, subject="S", html_body="<p>h</p>", text_body="t", number=1, date=NOW
        )


def test_a_body_encoded_once_and_filled_decodes_to_the_filled_body() -> None:
    rng = random.Random(7)
    pieces = ["word", " ", "  ", "\t", "é", "=", ".", "..", "a" * 90, "<a href='", *MARKERS]
    for _ in range(500):
        lines = ["".join(rng.choice(pieces) for _ in range(rng.randint(0, 12))) for _ in range(9)]
        body = "\r\n".join(lines) + "\r\n"
        values = {
            marker: rng.choice([f"https://x.org/{rng.randint(0, 10**9)}", ".", ""])
            for marker in MARKERS
        }
        filled = body
        for marker, value in values.items():
            filled = filled.replace(marker, value)
        encoded = EncodedBody.of(body)
        plain = encoded.fill(values)
        assert binascii.a2b_qp(plain) == filled.encode("utf-8")
        assert all(len(line) <= 76 for line in plain.split(b"\r\n"))
        assert b"\n" not in plain.replace(b"\r\n", b"")
        # Dot-stuffed for DATA: undoing the stuffing gives the same bytes.
        wire = encoded.fill(values, stuffed=True)
        unstuffed = b"\r\n".join(
            line[1:] if line.startswith(b".") else line for line in wire.split(b"\r\n")
        )
        assert unstuffed == plain
        assert not any(
            line.startswith(b".") and not line.startswith(b"..") for line in wire.split(b"\r\n")
        )


def test_a_single_mail_has_no_list_headers_and_keeps_placeholder_text(settings: Settings) -> None:
    template = mail_template(
        settings=settings,
        subject="Please confirm",
        html_body=f"<p>{PLACEHOLDERS.unsubscribe}</p>",
        text_body=f"Typed: {PLACEHOLDERS.greeting}",
        date=NOW,
        headers=(("Auto-Submitted", "auto-generated"),),
    )
    raw = template.addressed(ALICE)
    message = email.message_from_bytes(raw, policy=email.policy.default)
    [to] = message["To"].addresses
    assert (to.display_name, to.addr_spec) == (ALICE.name, ALICE.email)
    assert message["Message-ID"] == ALICE.message_id
    assert message["Auto-Submitted"] == "auto-generated"
    assert message["From"] and message["Date"] and message["Subject"] == "Please confirm"
    for absent in ("List-Unsubscribe", "List-Id", "Precedence", "Feedback-ID"):
        assert message[absent] is None, absent
    text = message.get_body(("plain",))
    assert text is not None and PLACEHOLDERS.greeting in text.get_content()
