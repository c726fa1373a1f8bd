"""Bounce ingest from local mail: a Maildir (processed messages move to .digest-processed),
an mbox file (read only, under a lock) and standard input (an MTA's pipe: exit 0 once
stored, 75 so the MTA retries), through the library and the command line."""

from __future__ import annotations

import mailbox
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from digest.bounces.ingest import IngestRun, ingest_maildir, ingest_path
from digest.cli import cli
from digest.db.bounces import list_messages
from digest.db.engine import Database
from tests.support.cli import write_config
from tests.support.clock import Clock, fixed
from tests.support.imap import FakeProcess


def bounce(n: int, marker: str = "") -> bytes:
    return (
        "From: MAILER-DAEMON@mx.example.org\n"
        f"Subject: Undelivered Mail Returned to Sender {n}{marker}\n"
        f"Message-ID: <bounce-{n}@mx.example.org>\n"
        "\n"
        f"This is bounce number {n}.\n"
    ).encode()


def dsn(recipient: str) -> bytes:
    """A standard delivery status notification: `recipient` does not exist."""
    return (
        "From: Mail Delivery System <MAILER-DAEMON@mx.example.org>\n"
        "To: bounces@news.example.com\n"
        "Subject: Undelivered Mail Returned to Sender\n"
        f"Message-ID: <dsn-{recipient}@mx.example.org>\n"
        "MIME-Version: 1.0\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="b"\n'
        "\n"
        "--b\n"
        "Content-Type: text/plain\n"
        "\n"
        "Your message could not be delivered.\n"
        "--b\n"
        "Content-Type: message/delivery-status\n"
        "\n"
        "Reporting-MTA: dns; mx.example.org\n"
        "\n"
        f"Final-Recipient: rfc822; {recipient}\n"
        "Action: failed\n"
        "Status: 5.1.1\n"
        "Diagnostic-Code: smtp; 550 5.1.1 User unknown\n"
        "\n"
        "--b--\n"
    ).encode()


def make_maildir(path: Path, *messages: bytes) -> mailbox.Maildir:
    box = mailbox.Maildir(path, create=True)
    for raw in messages:
        box.add(raw)
    return box


def make_mbox(path: Path, *messages: bytes) -> None:
    box = mailbox.mbox(path, create=True)
    for raw in messages:
        box.add(raw)
    box.close()


def processed_folder(path: Path) -> mailbox.Maildir:
    return mailbox.Maildir(path / ".digest-processed", create=False)


def test_maildir_messages_move_to_the_processed_subfolder_marked_seen(tmp_path: Path) -> None:
    box = make_maildir(tmp_path / "Maildir", bounce(1), bounce(2))
    flagged = mailbox.MaildirMessage(bounce(3))
    flagged.set_subdir("cur")
    flagged.set_flags("F")
    box.add(flagged)
    process, run = FakeProcess(), IngestRun()

    ingest_maildir(tmp_path / "Maildir", process, run)

    assert run.ok, run.problems
    assert sorted(raw for raw, _ in process.calls) == [bounce(1), bounce(2), bounce(3)]
    assert {channel for _, channel in process.calls} == {"maildir"}
    assert box.keys() == []
    done = processed_folder(tmp_path / "Maildir")
    assert box.list_folders() == ["digest-processed"]
    assert sorted(done.get_bytes(key) for key in done.iterkeys()) == [
        bounce(1),
        bounce(2),
        bounce(3),
    ]
    assert sorted(done.get_message(key).get_flags() for key in done.iterkeys()) == ["FS", "S", "S"]
    assert all(done.get_message(key).get_subdir() == "cur" for key in done.iterkeys())


def test_a_maildir_message_is_read_once_and_one_that_fails_stays(tmp_path: Path) -> None:
    box = make_maildir(tmp_path / "Maildir", bounce(1), bounce(2, " OUTAGE"))
    process = FakeProcess(fail_on=b"OUTAGE")

    first = IngestRun()
    ingest_maildir(tmp_path / "Maildir", process, first)
    assert first.counts["applied"] == 1
    assert (
        len(first.problems) == 1 and "not processed, left for the next run" in (first.problems[0])
    )
    assert [box.get_bytes(key) for key in box.iterkeys()] == [bounce(2, " OUTAGE")]

    process.fail_on = None
    second = IngestRun()
    ingest_maildir(tmp_path / "Maildir", process, second)
    assert second.ok and second.counts["applied"] == 1
    assert box.keys() == []
    assert len(process.calls) == 3  # message 1 once, message 2 twice (failed, then stored)


def test_an_mbox_is_read_as_it_is_and_a_second_read_finds_duplicates(tmp_path: Path) -> None:
    path = tmp_path / "bounces.mbox"
    make_mbox(path, bounce(1), bounce(2))
    before = path.read_bytes()
    process = FakeProcess()

    first, second = IngestRun(), IngestRun()
    ingest_path(path, process, first)
    ingest_path(path, process, second)

    assert first.counts["applied"] == 2 and second.counts["duplicate"] == 2
    assert [raw for raw, _ in process.calls][:2] == [bounce(1), bounce(2)]
    assert {channel for _, channel in process.calls} == {"mbox"}
    assert path.read_bytes() == before
    assert not (tmp_path / "bounces.mbox.lock").exists()


def test_an_mbox_locked_by_another_program_is_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "bounces.mbox"
    make_mbox(path, bounce(1))
    (tmp_path / "bounces.mbox.lock").write_text("", encoding="utf-8")  # an MTA's dot-lock
    process, run = FakeProcess(), IngestRun()

    ingest_path(path, process, run)

    assert process.calls == []
    assert run.problems == [
        f"{path} is locked by another program (an MTA delivering?); try again later"
    ]


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("missing", None, "does not exist"),
        ("note.txt", b"Subject: not an mbox\n\nhello\n", "is not an mbox file"),
    ],
    ids=["missing", "not-mbox"],
)
def test_a_path_that_is_neither_maildir_nor_mbox_is_one_line(
    tmp_path: Path, name: str, content: bytes | None, expected: str
) -> None:
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    run = IngestRun()

    ingest_path(path, FakeProcess(), run)

    assert len(run.problems) == 1 and expected in run.problems[0]
    assert str(path) in run.problems[0]


def test_an_empty_mbox_is_no_messages(tmp_path: Path) -> None:
    path = tmp_path / "empty.mbox"
    path.write_bytes(b"")
    run = IngestRun()
    ingest_path(path, FakeProcess(), run)
    assert run.ok
    assert run.summary == "0 messages processed: 0 applied, 0 set aside, 0 ignored, 0 duplicate"


# The command line, on the real database and processing.


def ingest(config: Path, *args: str, stdin: bytes | None = None) -> Result:
    argv = ["--config", str(config), "bounces", "ingest", *args]
    return CliRunner().invoke(cli, argv, obj=fixed, input=stdin)


def test_stdin_is_stored_once_and_exits_0(db: Database, db_url: str, tmp_path: Path) -> None:
    config = write_config(tmp_path, db_url)

    first = ingest(config, "-", stdin=dsn("nobody@example.org"))
    again = ingest(config, "-", stdin=dsn("nobody@example.org"))

    assert first.exit_code == 0, first.output
    assert "standard input: #1 set aside: hard: nobody@example.org is not a subscriber" in (
        first.output
    )
    assert first.output.splitlines()[-1] == (
        "1 message processed: 0 applied, 1 set aside, 0 ignored, 0 duplicate"
    )
    assert again.exit_code == 0, again.output
    assert again.output.splitlines() == [
        "1 message processed: 0 applied, 0 set aside, 0 ignored, 1 duplicate"
    ]
    [stored] = list_messages(db)
    assert (stored.channel, stored.outcome, stored.kind) == ("stdin", "set_aside", "hard")


def test_stdin_exits_75_when_the_message_cannot_be_stored(tmp_path: Path) -> None:
    # Nothing listens on port 9 (discard): the database is down.
    config = write_config(tmp_path, "postgresql+psycopg://postgres@127.0.0.1:9/down")

    result = ingest(config, "-", stdin=dsn("nobody@example.org"))

    assert result.exit_code == 75, result.output
    errors = [line for line in result.output.splitlines() if line.startswith("digest: error:")]
    assert len(errors) == 1
    assert "standard input: not processed, left for the next run" in errors[0]
    assert "cannot open the database" in errors[0]


def test_stdin_does_not_mix_with_paths(tmp_path: Path) -> None:
    config = write_config(tmp_path, f"sqlite:///{tmp_path}/digest.sqlite3")
    result = ingest(config, "-", str(tmp_path), stdin=b"")
    assert result.exit_code == 2
    assert "cannot be combined" in result.output


def test_paths_and_the_configured_maildir_through_the_command(
    db: Database, db_url: str, tmp_path: Path
) -> None:
    maildir = tmp_path / "Maildir"
    make_maildir(maildir, dsn("gone@example.org"))
    mbox = tmp_path / "old.mbox"
    make_mbox(mbox, dsn("old@example.org"), dsn("gone@example.org"))
    config = write_config(tmp_path, db_url)

    result = ingest(config, str(maildir), str(mbox))

    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[-1] == (
        "3 messages processed: 0 applied, 2 set aside, 0 ignored, 1 duplicate"
    )
    assert {(m.channel, m.note.split(" ")[0]) for m in list_messages(db)} == {
        ("maildir", "gone@example.org"),
        ("mbox", "old@example.org"),
    }

    make_maildir(maildir, dsn("later@example.org"))
    configured = write_config(tmp_path, db_url, extra='[bounces]\nmaildir = "Maildir"\n')
    again = ingest(configured)
    assert again.exit_code == 0, again.output
    assert "later@example.org is not a subscriber" in again.output
    assert again.output.splitlines()[-1].startswith("1 message processed:")
    assert mailbox.Maildir(maildir).keys() == []
    assert len(processed_folder(maildir).keys()) == 2


def test_no_configured_mailbox_is_an_error_line(tmp_path: Path) -> None:
    config = write_config(tmp_path, f"sqlite:///{tmp_path}/digest.sqlite3")
    result = ingest(config)
    assert result.exit_code == 1
    assert "no bounce mailbox is configured" in result.output


def test_ingest_removes_kept_messages_older_than_keep_days(
    db: Database, db_url: str, tmp_path: Path
) -> None:
    mbox = tmp_path / "old.mbox"
    make_mbox(mbox, dsn("old@example.org"))
    config = write_config(tmp_path, db_url, extra="[bounces]\nkeep_days = 30\n")
    assert ingest(config, str(mbox)).exit_code == 0
    assert len(list_messages(db)) == 1

    fixed_later = Clock(fixed() + timedelta(days=31))
    make_mbox(tmp_path / "new.mbox", dsn("new@example.org"))
    result = CliRunner().invoke(
        cli,
        ["--config", str(config), "bounces", "ingest", str(tmp_path / "new.mbox")],
        obj=fixed_later,
    )
    assert result.exit_code == 0, result.output
    assert "1 kept message(s) older than 30 days removed (bounces.keep_days)" in result.output
    assert [m.note.split(" ")[0] for m in list_messages(db)] == ["new@example.org"]
