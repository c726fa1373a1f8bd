"""Proof copies against a real SMTP server: the relay's answer is read as a send reads it."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from digest.errors import PermanentSendError, TemporarySendError
from digest.model import IssueStatus, StoredIssue
from digest.send.proof import send_proof
from digest.send.wiring import smtp_relay
from digest.settings import Settings
from tests.support.clock import NOW
from tests.support.smtp import SmtpTestServer

ISSUE = StoredIssue(
    id=1,
    number=7,
    status=IssueStatus.DRAFT,
    subject="Digest #7",
    preheader="",
    html="<p>Proof news</p>",
    text="Proof news",
    created_at=NOW,
    composed_at=NOW,
)


@pytest.fixture
def settings(make_settings: Callable[..., Settings], smtp_server: SmtpTestServer) -> Settings:
    return make_settings(smtp_port=smtp_server.port)


def test_a_proof_the_relay_accepts_returns_its_reply(
    settings: Settings, smtp_server: SmtpTestServer
) -> None:
    reply = send_proof(ISSUE, settings, "Editor@Example.org", NOW, smtp_relay(settings))
    assert reply.code == 250
    [proof] = smtp_server.received
    assert proof.rcpt == "editor@example.org"
    assert proof.message["Subject"] == "[TEST] Digest #7"


def test_552_at_rcpt_is_temporary_as_rfc_5321_says(
    settings: Settings, smtp_server: SmtpTestServer
) -> None:
    smtp_server.faults.refuse["full@example.org"] = "552 5.2.2 Mailbox full"
    with pytest.raises(TemporarySendError, match=r"552 5\.2\.2 Mailbox full") as caught:
        send_proof(ISSUE, settings, "full@example.org", NOW, smtp_relay(settings))
    assert not isinstance(caught.value, PermanentSendError)
    assert smtp_server.received == []


def test_550_at_rcpt_is_permanent(settings: Settings, smtp_server: SmtpTestServer) -> None:
    smtp_server.faults.refuse["nobody@example.org"] = "550 5.1.1 No such user"
    with pytest.raises(PermanentSendError, match=r"550 5\.1\.1"):
        send_proof(ISSUE, settings, "nobody@example.org", NOW, smtp_relay(settings))
