"""The SMTP transport against a real server, with and without PIPELINING: the bytes that
arrive, refusals in the middle of a pipelined transaction, and the connection after them."""

from __future__ import annotations

import pytest

from digest.send.transport import SmtpTransport
from digest.settings import load_settings
from tests.support.smtp import SmtpTestServer

MESSAGE = (
    b"From: a@example.org\r\nTo: b@example.org\r\nSubject: dots\r\n\r\n"
    b".a line that starts with a dot\r\n..two dots\r\n.\r\nthe end\r\n"
)


def transport(server: SmtpTestServer) -> SmtpTransport:
    settings = load_settings(None, env={"DIGEST_SMTP_PORT": str(server.port)})
    return SmtpTransport(settings.smtp)


@pytest.mark.parametrize("pipelining", [True, False])
def test_the_message_arrives_byte_for_byte(smtp_server: SmtpTestServer, pipelining: bool) -> None:
    smtp_server.handler.pipelining = pipelining
    sender = transport(smtp_server)
    try:
        reply = sender.send("bounces@example.org", "b@example.org", MESSAGE)
        assert sender._smtp is not None and sender._smtp.has_extn("pipelining") is pipelining
    finally:
        sender.close()
    assert reply.code == 250
    received = smtp_server.received[0]
    assert received.raw == MESSAGE and received.mail_from == "bounces@example.org"


@pytest.mark.parametrize("pipelining", [True, False])
def test_a_refusal_mid_transaction_leaves_the_connection_usable(
    smtp_server: SmtpTestServer, pipelining: bool
) -> None:
    smtp_server.handler.pipelining = pipelining
    smtp_server.faults.refuse["gone@example.org"] = "550 5.1.1 No such user"
    smtp_server.faults.defer["later@example.org"] = 1
    sender = transport(smtp_server)
    try:
        refused = sender.send("s@example.org", "gone@example.org", MESSAGE)
        deferred = sender.send("s@example.org", "later@example.org", MESSAGE)
        accepted = sender.send("s@example.org", "ok@example.org", MESSAGE)
    finally:
        sender.close()
    assert (refused.code, refused.at_rcpt, refused.text) == (550, True, "5.1.1 No such user")
    assert (deferred.code, deferred.at_rcpt) == (451, True)
    assert accepted.code == 250
    assert [r.rcpt for r in smtp_server.received] == ["ok@example.org"]
