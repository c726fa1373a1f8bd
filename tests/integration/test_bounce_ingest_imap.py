"""Bounce ingest from a real Dovecot: every message processed once and moved (or deleted),
across runs, crashes, refused moves and database outages; TLS, STARTTLS and login errors."""

from __future__ import annotations

import dataclasses
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from digest.bounces import imap
from digest.bounces.imap import ImapFolder, imap_utf7, open_imap
from digest.bounces.ingest import IngestRun, ingest_imap
from digest.bounces.mailboxes import MailboxError
from digest.db.bounces import list_messages
from digest.db.engine import Database
from digest.settings import BounceSettings
from tests.support.cli import assert_one_error_line, invoke, run_main, write_config
from tests.support.imap import Account, DovecotServer, FakeProcess, dovecot

DONE = "digest-processed"


@pytest.fixture(scope="module")
def server() -> Iterator[DovecotServer]:
    with dovecot() as running:
        yield running


@pytest.fixture
def account(server: DovecotServer) -> Account:
    return server.account()


def settings(account: Account, security: str = "none", **values: str) -> BounceSettings:
    server = account.server
    return BounceSettings(
        imap_host="127.0.0.1",
        imap_port=server.tls_port if security == "tls" else server.port,
        imap_security=security,
        imap_user=account.user,
        imap_password=account.password,
        timeout_seconds=10.0,
        **values,  # type: ignore[arg-type]
    )


def bounce(n: int, marker: str = "") -> bytes:
    return (
        "From: MAILER-DAEMON@mx.example.org\r\n"
        "To: bounces@news.example.com\r\n"
        f"Subject: Undelivered Mail Returned to Sender {n}{marker}\r\n"
        f"Message-ID: <bounce-{n}@mx.example.org>\r\n"
        "\r\n"
        f"This is bounce number {n}.\r\n"
    ).encode()


def run_once(cfg: BounceSettings, process: FakeProcess, account: Account) -> IngestRun:
    run = IngestRun()
    ingest_imap(cfg, process, run, context=account.server.context())
    return run


def test_each_message_is_processed_then_moved_to_the_done_folder_unread(
    account: Account,
) -> None:
    messages = [bounce(n) for n in range(3)]
    account.append(*messages)
    process = FakeProcess()

    run = run_once(settings(account), process, account)

    assert run.ok, run.problems
    assert [raw for raw, _ in process.calls] == messages
    assert {channel for _, channel in process.calls} == {"imap"}
    assert account.messages() == []
    assert account.messages(DONE) == messages
    assert account.seen(DONE) == [False, False, False]
    assert run.summary == ("3 messages processed: 3 applied, 0 set aside, 0 ignored, 0 duplicate")


def test_a_second_run_reads_only_what_arrived_since(account: Account) -> None:
    account.append(bounce(1), bounce(2))
    process = FakeProcess()
    run_once(settings(account), process, account)

    again = run_once(settings(account), process, account)
    assert sum(again.counts.values()) == 0
    account.append(bounce(3))
    third = run_once(settings(account), process, account)

    assert [raw for raw, _ in process.calls] == [bounce(1), bounce(2), bounce(3)]
    assert third.counts["applied"] == 1
    assert account.messages(DONE) == [bounce(1), bounce(2), bounce(3)]


class Crash(BaseException):
    """The process dying (power cut, kill -9) between processing and moving."""


def test_a_crash_between_processing_and_moving_loses_nothing_and_applies_nothing_twice(
    account: Account, monkeypatch: pytest.MonkeyPatch
) -> None:
    account.append(bounce(1), bounce(2))
    process = FakeProcess()
    real_done = ImapFolder.done

    def crash_once(self: ImapFolder, ref: str) -> None:
        monkeypatch.setattr(ImapFolder, "done", real_done)
        raise Crash

    monkeypatch.setattr(ImapFolder, "done", crash_once)
    with pytest.raises(Crash):
        run_once(settings(account), process, account)
    assert len(process.stored) == 1
    assert account.messages() == [bounce(1), bounce(2)]

    run = run_once(settings(account), process, account)

    assert run.ok, run.problems
    assert (run.counts["duplicate"], run.counts["applied"]) == (1, 1)
    assert list(process.stored.values()) == [bounce(1), bounce(2)]
    assert account.messages() == []
    assert account.messages(DONE) == [bounce(1), bounce(2)]


def test_a_refused_move_is_reported_and_the_run_goes_on(
    account: Account, monkeypatch: pytest.MonkeyPatch
) -> None:
    account.append(bounce(1), bounce(2))
    process = FakeProcess()
    real_done = ImapFolder.done

    def refuse_once(self: ImapFolder, ref: str) -> None:
        monkeypatch.setattr(ImapFolder, "done", real_done)
        raise imap.ImapError("the IMAP server refused UID MOVE: [OVERQUOTA] Quota exceeded")

    monkeypatch.setattr(ImapFolder, "done", refuse_once)
    first = run_once(settings(account), process, account)

    assert len(first.problems) == 1
    assert "uid 1: processed (applied) but not moved" in first.problems[0]
    assert "OVERQUOTA" in first.problems[0]
    assert first.summary.endswith("2 applied, 0 set aside, 0 ignored, 0 duplicate; 1 error")
    assert account.messages() == [bounce(1)]
    second = run_once(settings(account), process, account)
    assert second.ok
    assert second.counts["duplicate"] == 1
    assert account.messages() == []
    assert sorted(account.messages(DONE)) == [bounce(1), bounce(2)]


def test_a_dropped_connection_leaves_the_rest_for_the_next_run(
    account: Account, monkeypatch: pytest.MonkeyPatch
) -> None:
    account.append(bounce(1), bounce(2), bounce(3))
    process = FakeProcess()
    real_read = ImapFolder.read

    def read_then_drop(self: ImapFolder, ref: str) -> bytes | None:
        raw = real_read(self, ref)
        self._conn.sock.shutdown(socket.SHUT_RDWR)  # the server or the network goes away
        return raw

    monkeypatch.setattr(ImapFolder, "read", read_then_drop)
    run = run_once(settings(account), process, account)
    monkeypatch.undo()

    assert run.counts["applied"] == 1
    assert "uid 1: processed (applied) but not moved" in run.problems[0]
    assert "connection" in run.problems[0]
    assert run.problems[1] == "2 more message(s) left for the next run"
    assert run.summary.endswith("; 2 left for the next run; 1 error")
    again = run_once(settings(account), process, account)
    assert again.ok
    assert (again.counts["duplicate"], again.counts["applied"]) == (1, 2)
    assert account.messages(DONE) == [bounce(1), bounce(2), bounce(3)]


def test_a_message_that_cannot_be_stored_stays_for_the_next_run(account: Account) -> None:
    account.append(bounce(1), bounce(2, " OUTAGE"), bounce(3))
    process = FakeProcess(fail_on=b"OUTAGE")

    run = run_once(settings(account), process, account)

    assert run.counts["applied"] == 2
    assert len(run.problems) == 1
    assert (
        "uid 2: not processed, left for the next run: the database cannot be reached"
        in (run.problems[0])
    )
    assert run.summary.endswith("; 1 left for the next run")
    assert account.messages() == [bounce(2, " OUTAGE")]
    assert account.messages(DONE) == [bounce(1), bounce(3)]

    process.fail_on = None
    after = run_once(settings(account), process, account)
    assert after.ok and after.counts["applied"] == 1
    assert account.messages() == []


def test_delete_mode_removes_processed_messages_and_creates_no_folder(
    account: Account,
) -> None:
    account.append(bounce(1), bounce(2))
    process = FakeProcess()

    run = run_once(settings(account, imap_done_folder=""), process, account)

    assert run.ok and run.counts["applied"] == 2
    assert account.messages() == []
    assert account.folders() == ["INBOX"]


@pytest.mark.parametrize("missing", [{"MOVE"}, {"MOVE", "UIDPLUS"}], ids=["copy", "no-uidplus"])
def test_without_move_messages_are_copied_flagged_and_expunged(
    account: Account, monkeypatch: pytest.MonkeyPatch, missing: set[str]
) -> None:
    real = ImapFolder._capabilities
    monkeypatch.setattr(ImapFolder, "_capabilities", lambda self: real(self) - missing)
    account.append(bounce(1), bounce(2))
    process = FakeProcess()

    run = run_once(settings(account), process, account)

    assert run.ok, run.problems
    assert account.messages() == []
    assert account.messages(DONE) == [bounce(1), bounce(2)]
    assert account.seen() == []  # expunged, not merely flagged


def test_a_done_folder_with_a_name_beyond_ascii_is_created(account: Account) -> None:
    account.append(bounce(1))

    run_once(settings(account, imap_done_folder="Rückläufer"), FakeProcess(), account)

    assert imap_utf7("Rückläufer") == "R&APw-ckl&AOQ-ufer"
    assert account.folders() == ["INBOX", "R&APw-ckl&AOQ-ufer"]
    assert account.messages("R&APw-ckl&AOQ-ufer") == [bounce(1)]


@pytest.mark.parametrize("security", ["tls", "starttls", "none"])
def test_each_connection_security_reads_the_folder(account: Account, security: str) -> None:
    account.append(bounce(1))
    process = FakeProcess()

    run = run_once(settings(account, security), process, account)

    assert run.ok, run.problems
    assert account.messages(DONE) == [bounce(1)]


@pytest.mark.parametrize("security", ["tls", "starttls"])
def test_an_untrusted_certificate_is_refused(account: Account, security: str) -> None:
    # The system's CAs: the test server's self-signed certificate is not among them.
    with (
        pytest.raises(MailboxError, match="certificate not trusted") as caught,
        open_imap(settings(account, security)),
    ):
        pass
    assert "\n" not in str(caught.value)


def test_a_wrong_password_is_one_readable_line_without_the_password(
    account: Account, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    wrong = "not-the-password-4711"
    config = tmp_path / "digest.toml"
    config.write_text(
        f'[database]\nurl = "sqlite:///{tmp_path}/db.sqlite3"\n'
        f'[bounces]\nimap_host = "127.0.0.1"\nimap_port = {account.server.port}\n'
        f'imap_security = "none"\nimap_user = "{account.user}"\nimap_password = "{wrong}"\n',
        encoding="utf-8",
    )

    code, out, err = run_main(["--config", str(config), "bounces", "ingest"], capsys)

    assert_one_error_line(code, err, f"IMAP login as '{account.user}'", "Authentication failed")
    assert wrong not in err + out
    log = account.server.log.read_text(errors="replace")
    assert wrong not in log


def test_an_unreachable_server_is_one_readable_line(account: Account) -> None:
    cfg = dataclasses.replace(settings(account), imap_port=1)
    run = run_once(cfg, FakeProcess(), account)
    assert run.problems == ["cannot reach the IMAP server 127.0.0.1:1: Connection refused"]


def test_the_command_reads_the_configured_folder_over_starttls_into_the_database(
    account: Account, db: Database, db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The command trusts the system's CAs; OpenSSL reads SSL_CERT_FILE when it loads them.
    monkeypatch.setenv("SSL_CERT_FILE", str(account.server.cafile))
    message = dsn("nobody@example.org")
    account.append(message, bounce(1))
    config = write_config(
        tmp_path,
        db_url,
        extra=f'[bounces]\nimap_host = "127.0.0.1"\nimap_port = {account.server.port}\n'
        f'imap_security = "starttls"\nimap_user = "{account.user}"\n'
        f'imap_password = "{account.password}"\n',
    )

    result = invoke(config, "bounces", "ingest")
    again = invoke(config, "bounces", "ingest")

    lines = result.output.splitlines()
    assert lines[0].startswith("imap INBOX uid 1: #")
    assert "set aside: hard: nobody@example.org is not a subscriber" in lines[0]
    assert lines[-1] == "2 messages processed: 0 applied, 2 set aside, 0 ignored, 0 duplicate"
    assert again.output.splitlines() == [
        "0 messages processed: 0 applied, 0 set aside, 0 ignored, 0 duplicate"
    ]
    assert sorted(m.channel for m in list_messages(db)) == ["imap", "imap"]
    assert account.messages(DONE) == [message, bounce(1)]


def dsn(recipient: str) -> bytes:
    """A standard delivery status notification: `recipient` does not exist."""
    return (
        "From: Mail Delivery System <MAILER-DAEMON@mx.example.org>\r\n"
        "Subject: Undelivered Mail Returned to Sender\r\n"
        "MIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="b"\r\n'
        "\r\n"
        "--b\r\n"
        "Content-Type: message/delivery-status\r\n"
        "\r\n"
        "Reporting-MTA: dns; mx.example.org\r\n"
        "\r\n"
        f"Final-Recipient: rfc822; {recipient}\r\n"
        "Action: failed\r\n"
        "Status: 5.1.1\r\n"
        "\r\n"
        "--b--\r\n"
    ).encode()
