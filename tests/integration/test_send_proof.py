"""Proof copies against a real SMTP server: the relay's answer is read as a send reads it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from digest.db.engine import Database
from digest.errors import ConfigError, PermanentSendError, TemporarySendError
from digest.model import IssueStatus, StoredIssue
from digest.send.proof import proof_recipients, send_proof
from digest.send.wiring import smtp_relay
from digest.settings import Settings
from tests.support.cli import invoke, run_main, write_config
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


def proof_config(tmp_path: Path, db_url: str, port: int, extra: str = "") -> Path:
    config = write_config(tmp_path, db_url, port, extra)
    invoke(
        config,
        "items",
        "add",
        "--kind",
        "news",
        "--title",
        "Proof news",
        "--url",
        "https://example.org/proof-news",
        "--date",
        "20/11/2026",
    )
    invoke(config, "issue", "compose")
    return config


def test_proofs_to_several_editors_given_on_the_command_line(
    db: Database, db_url: str, tmp_path: Path, smtp_server: SmtpTestServer
) -> None:
    config = proof_config(tmp_path, db_url, smtp_server.port)

    sent = invoke(
        config,
        "issue",
        "send",
        "--test",
        "--to",
        "Ann@Example.org",
        "--to",
        "bob@example.org, cy@example.org,ann@example.org",
    )

    assert [line.split(": 250 ")[0] for line in sent.stdout.splitlines()] == [
        "test copy of issue #1 sent to ann@example.org",
        "test copy of issue #1 sent to bob@example.org",
        "test copy of issue #1 sent to cy@example.org",
    ]
    assert [m.rcpt for m in smtp_server.received] == [
        "ann@example.org",
        "bob@example.org",
        "cy@example.org",
    ]
    assert all(m.message["Subject"].startswith("[TEST] ") for m in smtp_server.received)


def test_without_to_the_configured_proof_addresses_get_it_and_a_refusal_stops_no_one(
    db: Database,  # an empty database: PostgreSQL's is shared by the session
    db_url: str,
    tmp_path: Path,
    smtp_server: SmtpTestServer,
    capsys: pytest.CaptureFixture[str],
) -> None:
    extra = (
        '[newsletter]\nproof_addresses = ["ed@example.org", "nobody@example.org", '
        '"chief@example.org"]\n'
    )
    config = proof_config(tmp_path, db_url, smtp_server.port, extra)
    smtp_server.faults.refuse["nobody@example.org"] = "550 5.1.1 No such user"

    code, out, err = run_main(["--config", str(config), "issue", "send", "--test"], capsys)

    assert code == 1
    assert [line.split(": 250 ")[0] for line in out.splitlines()] == [
        "test copy of issue #1 sent to ed@example.org",
        "test copy of issue #1 sent to chief@example.org",
    ]
    assert err.splitlines() == [
        "digest: error: test copy of issue #1 to nobody@example.org not accepted: "
        "550 5.1.1 No such user"
    ]
    assert [m.rcpt for m in smtp_server.received] == ["ed@example.org", "chief@example.org"]


def test_an_invalid_address_among_several_sends_nothing(
    db: Database,  # an empty database: PostgreSQL's is shared by the session
    db_url: str,
    tmp_path: Path,
    smtp_server: SmtpTestServer,
    capsys: pytest.CaptureFixture[str],
) -> None:
    config = proof_config(tmp_path, db_url, smtp_server.port)
    argv = ["--config", str(config), "issue", "send", "--test", "--to", "ok@example.org,nope"]

    code, out, err = run_main(argv, capsys)

    assert code == 1 and out == "" and "not a valid address" in err
    assert smtp_server.received == []


def test_proof_recipients_prefers_the_given_addresses() -> None:
    assert proof_recipients(["A@x.org"], ["b@x.org"]) == ("a@x.org",)
    assert proof_recipients([], ["b@x.org, c@x.org"]) == ("b@x.org", "c@x.org")
    with pytest.raises(ConfigError, match=r"newsletter\.proof_addresses"):
        proof_recipients([" "], [])


def test_settings_read_proof_addresses(make_settings: Callable[..., Settings]) -> None:
    settings = make_settings(newsletter_proof_addresses=["ed@example.org", "chief@example.org"])
    assert settings.newsletter.proof_addresses == ["ed@example.org", "chief@example.org"]
