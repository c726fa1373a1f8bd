"""The bounce classifier on real bounces of each MTA family and kind (fixtures copied from
the corpus with their expectations) and on hand-made edge cases: VERP tokens, ARF, auto-
replies, and input that must give a report, never an exception."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from digest.bounces.classify import as_label, classify
from digest.bounces.status import verdict
from digest.model import BounceKind, BounceReason
from digest.send.verp import envelope_sender

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "bounces"
EXPECTED: dict[str, dict[str, Any]] = json.loads(
    (FIXTURES / "expected.json").read_text(encoding="utf-8")
)
KEYS = ["old-verp-key", "verp-test-key"]


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_corpus_fixture_is_classified_as_its_source_expects(name: str) -> None:
    expected = EXPECTED[name]
    label = as_label(classify((FIXTURES / name).read_bytes()))
    assert label["is_bounce"] == expected["is_bounce"]
    if expected["is_bounce"] and expected["recipients"] is not None:
        assert sorted(label["recipients"]) == sorted(expected["recipients"])
    if expected["kind"] is not None:
        assert label["kind"] == expected["kind"]


def test_fixtures_cover_every_kind() -> None:
    kinds = {e["kind"] for e in EXPECTED.values()}
    assert {"hard", "soft", "complaint", "not_bounce"} <= kinds


def dsn(recipient: str, status: str, diagnostic: str, *, to: str = "bounces@example.org") -> bytes:
    return (
        "From: Mail Delivery System <MAILER-DAEMON@mx.example.net>\r\n"
        f"To: <{to}>\r\n"
        "Subject: Undelivered Mail Returned to Sender\r\n"
        "MIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="b1"\r\n'
        "\r\n--b1\r\nContent-Type: text/plain\r\n\r\n"
        f"<{recipient}>: host mx.example.net said: {diagnostic}\r\n"
        "\r\n--b1\r\nContent-Type: message/delivery-status\r\n\r\n"
        "Reporting-MTA: dns; mx.example.net\r\n\r\n"
        f"Final-Recipient: rfc822; {recipient}\r\nAction: failed\r\nStatus: {status}\r\n"
        f"Diagnostic-Code: smtp; {diagnostic}\r\n"
        "\r\n--b1\r\nContent-Type: text/rfc822-headers\r\n\r\n"
        f"From: news@example.org\r\nTo: {recipient}\r\nSubject: Weekly\r\n"
        "\r\n--b1--\r\n"
    ).encode()


@pytest.mark.parametrize(
    ("status", "diagnostic", "kind", "reason"),
    [
        (
            "5.1.1",
            "550 5.1.1 <Reader@Example.COM>: Recipient address rejected: User unknown",
            BounceKind.HARD,
            BounceReason.USER_UNKNOWN,
        ),
        (
            "5.1.2",
            "550 5.1.2 Host or domain name not found",
            BounceKind.HARD,
            BounceReason.DOMAIN_NOT_FOUND,
        ),
        ("5.2.2", "552 5.2.2 Mailbox full", BounceKind.SOFT, BounceReason.MAILBOX_FULL),
        ("4.4.1", "451 4.4.1 Connection timed out", BounceKind.SOFT, BounceReason.NETWORK),
        ("5.7.1", "554 5.7.1 Message rejected as spam", BounceKind.SOFT, BounceReason.SPAM),
        (
            "5.7.1",
            "550 5.7.1 Client host blocked using zen.spamhaus.org",
            BounceKind.SOFT,
            BounceReason.BLOCKED,
        ),
    ],
)
def test_dsn_status_and_words_give_kind_and_reason(
    status: str, diagnostic: str, kind: BounceKind, reason: BounceReason
) -> None:
    report = classify(dsn("Reader@Example.COM", status, diagnostic))
    assert report.is_bounce
    assert report.recipients == ("reader@example.com",)
    assert (report.kind, report.reason, report.status) == (kind, reason, status)
    assert report.code == int(diagnostic[:3])
    assert "\n" not in report.diagnostic and report.diagnostic


def test_a_verp_token_that_verifies_names_the_delivery() -> None:
    sender = envelope_sender("bounces@example.org", 4242, KEYS)
    raw = b"Delivered-To: " + sender.encode() + b"\r\n" + dsn("a@example.com", "5.1.1", "550 no")
    assert classify(raw, verp_keys=KEYS).delivery_id == 4242
    assert classify(raw).delivery_id is None  # no keys: nothing is trusted


def test_a_token_signed_by_an_older_key_still_verifies() -> None:
    sender = envelope_sender("bounces@example.org", 7, KEYS[:1])
    raw = dsn("a@example.com", "5.1.1", "550 no", to=sender)
    assert classify(raw, verp_keys=KEYS).delivery_id == 7


def test_a_forged_verp_token_is_ignored() -> None:
    sender = envelope_sender("bounces@example.org", 4242, ["someone-elses-key"])
    forged = sender.replace("+ya-", "+yb-")
    for address in (sender, forged, "bounces+ya-aaaaaaaaaa@example.org"):
        raw = f"X-Original-To: {address}\r\n".encode() + dsn("a@example.com", "5.1.1", "550 x")
        report = classify(raw, verp_keys=KEYS)
        assert report.delivery_id is None
        assert report.kind is BounceKind.HARD


ARF = (
    "From: feedback@isp.example\r\nTo: abuse@example.org\r\nSubject: FW: Weekly\r\n"
    "MIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=feedback-report; "
    'boundary="arf"\r\n\r\n--arf\r\nContent-Type: text/plain\r\n\r\nA complaint.\r\n'
    "--arf\r\nContent-Type: message/feedback-report\r\n\r\nFeedback-Type: abuse\r\n"
    "User-Agent: ISP-FBL/1.0\r\nVersion: 1\r\n{rcpt}\r\n"
    "--arf\r\nContent-Type: message/rfc822\r\n\r\nFrom: news@example.org\r\n"
    "To: {to}\r\nSubject: Weekly\r\n\r\nHello\r\n--arf--\r\n"
)


def test_arf_names_the_original_rcpt_to() -> None:
    raw = ARF.format(rcpt="Original-Rcpt-To: <Reader@Example.com>", to="undisclosed:;")
    report = classify(raw.encode())
    assert (report.is_bounce, report.kind, report.reason) == (
        True,
        BounceKind.COMPLAINT,
        BounceReason.FEEDBACK,
    )
    assert report.recipients == ("reader@example.com",)
    assert report.feedback_type == "abuse"


def test_arf_without_original_rcpt_to_uses_the_attached_messages_to() -> None:
    report = classify(ARF.format(rcpt="", to="reader@example.com").encode())
    assert report.kind is BounceKind.COMPLAINT
    assert report.recipients == ("reader@example.com",)


@pytest.mark.parametrize(
    ("headers", "subject"),
    [
        ("Auto-Submitted: auto-replied\r\n", "Re: Weekly"),
        ("X-Autoreply: yes\r\n", "Re: Weekly"),
        ("Precedence: auto_reply\r\n", "Re: Weekly"),
        ("", "Out of Office: Weekly"),
        ("", "Abwesenheitsnotiz: Weekly"),
        ("", "Réponse automatique : Weekly"),
    ],
)
def test_auto_replies_are_not_bounces(headers: str, subject: str) -> None:
    raw = (
        f"From: Reader <reader@example.com>\r\nTo: news@example.org\r\n{headers}"
        f"Subject: {subject}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
        "I am away until Monday and will not be able to read your message.\r\n"
    ).encode()
    report = classify(raw)
    assert (report.is_bounce, report.kind) == (False, BounceKind.NOT_BOUNCE)


def test_a_successful_delivery_notice_is_not_a_bounce() -> None:
    raw = dsn("a@example.com", "2.0.0", "250 OK").replace(b"Action: failed", b"Action: delivered")
    report = classify(raw)
    assert (report.is_bounce, report.reason) == (False, BounceReason.DELIVERED)


def test_truncated_mime_still_gives_the_recipient() -> None:
    raw = dsn("cut@example.com", "5.1.1", "550 5.1.1 User unknown")
    report = classify(raw[: raw.index(b"Action:")])
    assert report.is_bounce and report.recipients == ("cut@example.com",)


def test_an_unknown_charset_is_read_anyway() -> None:
    raw = (
        b"From: MAILER-DAEMON@mx.example.net\r\nTo: news@example.org\r\n"
        b"Subject: failure notice\r\nContent-Type: text/plain; charset=x-no-such-charset\r\n\r\n"
        b"Hi. This is the qmail-send program at mx.example.net.\r\n"
        b"I'm afraid I wasn't able to deliver your message to the following addresses.\r\n\r\n"
        b"<gone@example.com>:\r\nSorry, no mailbox here by that name. (#5.1.1)\r\n"
    ) + b"\xff\xfe\xe9\r\n"
    report = classify(raw)
    assert report.recipients == ("gone@example.com",)
    assert report.kind is BounceKind.HARD


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"\x00\xff" * 5000,
        bytes(range(256)) * 100,
        b"Content-Type: multipart/mixed; boundary=\r\n\r\n--\r\n--\r\n",
        b"Subject: =?x-unknown?B?////?=\r\nContent-Transfer-Encoding: base64\r\n\r\n!!!",
        b"From: a\r\nContent-Type: message/rfc822\r\n\r\nContent-Type: multipart/report\r\n",
    ],
)
def test_garbage_gives_a_report_never_an_exception(raw: bytes) -> None:
    report = classify(raw)
    assert report.kind in set(BounceKind)


def test_a_large_attachment_is_not_read_in_full() -> None:
    head = dsn("big@example.com", "5.2.2", "552 5.2.2 Mailbox full").replace(b"--b1--\r\n", b"")
    body = b"--b1\r\nContent-Type: application/octet-stream\r\n\r\n" + b"A" * (50 * 1024 * 1024)
    report = classify(head + body)
    assert report.recipients == ("big@example.com",)
    assert report.kind is BounceKind.SOFT


# Phrases after Sisimai's tables (lib/Sisimai/Reason/*.pm), in hand-written diagnostics: each
# must keep deciding its reason without help from an enhanced status code.
@pytest.mark.parametrize(
    ("diagnostic", "reason", "hard"),
    [
        ("550 Sorry, no mailbox here by that name", BounceReason.USER_UNKNOWN, True),
        ("550 Requested action not taken: mailbox unavailable", BounceReason.USER_UNKNOWN, True),
        (
            "554 delivery error: This user doesn't have a example.net account",
            BounceReason.USER_UNKNOWN,
            True,
        ),
        ("550 Invalid final delivery userid: reader@example.com", BounceReason.USER_UNKNOWN, True),
        (
            "550 Recipient address rejected: User reader does not exist",
            BounceReason.USER_UNKNOWN,
            True,
        ),
        (
            "550 reader@example.com has been replaced by reader@example.net",
            BounceReason.USER_UNKNOWN,
            True,
        ),
        ("553 example.com does not exist", BounceReason.DOMAIN_NOT_FOUND, True),
        ("550 The account or domain may not exist", BounceReason.DOMAIN_NOT_FOUND, True),
        ("556 Host/domain does not accept mail", BounceReason.DOMAIN_NOT_FOUND, True),
        (
            "552 Requested mail action aborted: exceeded storage allocation",
            BounceReason.MAILBOX_FULL,
            False,
        ),
        ("550 The user's space has been used up", BounceReason.MAILBOX_FULL, False),
        ("550 This account has been disabled or discontinued", BounceReason.DISABLED, False),
        ("550 Mailbox is frozen", BounceReason.DISABLED, False),
        ("552 Message size exceeds fixed maximum message size", BounceReason.TOO_LARGE, False),
        (
            "550 Our filters rate at and above 98 percent probability of being spam",
            BounceReason.SPAM,
            False,
        ),
        ("554 Your message was infected with a virus", BounceReason.SPAM, False),
        ("550 Relaying denied. Proper authentication required", BounceReason.BLOCKED, False),
        (
            "550 Messages from 192.0.2.1 temporarily deferred due to user complaints",
            BounceReason.BLOCKED,
            False,
        ),
        (
            "550 Please get a custom reverse DNS name from your ISP for your host",
            BounceReason.BLOCKED,
            False,
        ),
        ("550 Message rejected due to user rules", BounceReason.REJECTED, False),
        ("550 This message has been in the queue too long", BounceReason.EXPIRED, False),
        ("550 Hop count exceeded - possible mail loop", BounceReason.SYSTEM, False),
    ],
)
def test_sisimai_phrases_decide_the_reason(
    diagnostic: str, reason: BounceReason, hard: bool
) -> None:
    judged = verdict(diagnostic, None, int(diagnostic[:3]))
    assert (judged.reason, judged.hard) == (reason, hard)


def test_a_phrase_split_across_lines_still_matches() -> None:
    judged = verdict(
        "552 requested mail action aborted:\r\n   exceeded storage\r\n allocation", None, 552
    )
    assert judged.reason is BounceReason.MAILBOX_FULL


def test_ordered_phrase_parts_must_come_in_order() -> None:
    assert verdict("550 user reader does not exist", None, 550).hard
    assert verdict("550 does not exist: user", None, 550).reason is not BounceReason.USER_UNKNOWN


@pytest.mark.parametrize(
    ("status", "reason", "hard"),
    [
        ("5.7.13", BounceReason.DISABLED, False),
        ("5.7.17", BounceReason.USER_UNKNOWN, True),
        ("5.3.2", BounceReason.DOMAIN_NOT_FOUND, True),
        ("5.7.25", BounceReason.BLOCKED, False),
        ("5.5.3", BounceReason.BLOCKED, False),
    ],
)
def test_sisimai_status_codes_without_words(status: str, reason: BounceReason, hard: bool) -> None:
    judged = verdict("", status, 550)
    assert (judged.reason, judged.hard) == (reason, hard)


def test_a_sisimai_phrase_through_a_whole_dsn() -> None:
    raw = dsn("full@example.com", "5.0.0", "550 5.0.0 Mailbox has exceeded its disk space limit")
    report = classify(raw)
    assert (report.kind, report.reason) == (BounceKind.SOFT, BounceReason.MAILBOX_FULL)
