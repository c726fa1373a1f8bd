"""What an SMTP reply means for a delivery, and how long to wait before the next attempt."""

from __future__ import annotations

import pytest

from digest.model import DeliveryStatus
from digest.send.classify import classify_reply, enhanced_code


def test_250_is_sent() -> None:
    verdict = classify_reply(250, "2.0.0 Ok: queued as 4F2A1")
    assert verdict.status is DeliveryStatus.SENT
    assert verdict.bounce is None
    assert verdict.enhanced == "2.0.0"


@pytest.mark.parametrize("code", [421, 450, 451, 452])
def test_4xx_is_deferred(code: int) -> None:
    verdict = classify_reply(code, "4.3.0 Temporary failure, try again later")
    assert verdict.status is DeliveryStatus.DEFERRED
    assert verdict.bounce is None


def test_451_is_deferred_at_rcpt_too() -> None:
    verdict = classify_reply(451, "4.7.1 Greylisted", at_rcpt=True)
    assert verdict.status is DeliveryStatus.DEFERRED
    assert verdict.enhanced == "4.7.1"


def test_no_reply_connection_lost_is_deferred() -> None:
    verdict = classify_reply(None, "connection lost: [Errno 104] Connection reset by peer")
    assert verdict.status is DeliveryStatus.DEFERRED
    assert verdict.bounce is None


def test_550_5_1_1_is_a_hard_bounce() -> None:
    verdict = classify_reply(550, "5.1.1 <nobody@example.com>: Recipient address rejected")
    assert verdict.status is DeliveryStatus.FAILED
    assert verdict.bounce == "hard"
    assert verdict.enhanced == "5.1.1"


@pytest.mark.parametrize("code", [551, 553])
def test_other_bad_address_replies_are_hard_bounces(code: int) -> None:
    verdict = classify_reply(code, "5.1.3 Bad recipient address syntax")
    assert verdict.status is DeliveryStatus.FAILED
    assert verdict.bounce == "hard"


def test_554_5_7_1_fails_but_is_not_a_bounce() -> None:
    verdict = classify_reply(554, "5.7.1 Rejected by policy")
    assert verdict.status is DeliveryStatus.FAILED
    assert verdict.bounce is None
    assert verdict.enhanced == "5.7.1"


def test_550_with_a_policy_code_is_not_the_address_fault() -> None:
    verdict = classify_reply(550, "5.7.1 Message rejected as spam")
    assert verdict.status is DeliveryStatus.FAILED
    assert verdict.bounce is None


def test_552_at_rcpt_is_deferred() -> None:
    # RFC 5321 4.5.3.1.10: 552 at RCPT means "too many recipients / mailbox full", try later.
    verdict = classify_reply(552, "5.2.2 Mailbox full", at_rcpt=True)
    assert verdict.status is DeliveryStatus.DEFERRED
    assert verdict.bounce is None


def test_552_at_data_is_failed() -> None:
    verdict = classify_reply(552, "5.3.4 Message size exceeds fixed limit", at_rcpt=False)
    assert verdict.status is DeliveryStatus.FAILED
    assert verdict.bounce is None


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        ("5.1.1 <x@example.com>: Recipient address rejected", "5.1.1"),
        ("550 5.1.1 No such user here", "5.1.1"),
        ("550-5.7.1 [203.0.113.9] Our system has detected\n550 5.7.1 unusual traffic", "5.7.1"),
        ("4.2.2 Mailbox full", "4.2.2"),
        ("2.0.0 Ok: queued", "2.0.0"),
        ("550 #5.1.0 Address rejected", "5.1.0"),
        ("5.4.310 DNS domain does not exist", "5.4.310"),
        ("Requested action not taken: mailbox unavailable", None),
        ("", None),
        # Digits that only look like a code: an IP address and a version number.
        ("Service unavailable; client host [45.5.1.10] blocked", None),
        ("Rejected by relay 2.5.1 beta", None),
        ("3.1.1 is not a class", None),
    ],
)
def test_enhanced_code_extraction(reply: str, expected: str | None) -> None:
    assert enhanced_code(reply) == expected


def test_an_ip_address_in_a_550_reply_is_not_taken_for_5_1_x() -> None:
    # A multi-line refusal of the sending host: not the recipient address's fault.
    reply = "Client host 45.5.1.10 is listed at bl.example.net\n5.7.1 See https://bl.example.net/"
    verdict = classify_reply(550, reply)
    assert verdict.status is DeliveryStatus.FAILED
    assert verdict.enhanced == "5.7.1"
    assert verdict.bounce is None
