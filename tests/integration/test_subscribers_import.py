"""Importing subscribers from real CSV files into SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from digest.db.engine import Database
from digest.db.schema import Subscriber
from digest.errors import SubscriberError
from subscribers.importer import BATCH, import_csv
from tests.support.clock import Clock


def write(tmp_path: Path, text: str, name: str = "people.csv", encoding: str = "utf-8") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


def people(db: Database) -> dict[str, Subscriber]:
    with db.session() as session:
        return {s.email: s for s in session.scalars(select(Subscriber))}


def test_good_rows_are_imported(db: Database, clock: Clock, tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "email,name\n"
        "ann@example.com,Ann Archer\n"
        "  Bob@Example.ORG ,  Bob   Baker \n"
        "\n"  # blank lines are skipped
        "cleo@example.net,\n",
    )

    report = import_csv(db, path, clock(), origin="signup-sheet")

    assert (report.added, report.already, report.duplicates, report.bad) == (3, 0, 0, [])
    stored = people(db)
    assert set(stored) == {"ann@example.com", "bob@example.org", "cleo@example.net"}
    assert stored["ann@example.com"].name == "Ann Archer"
    assert stored["bob@example.org"].name == "Bob Baker"
    assert stored["cleo@example.net"].name == ""
    ann = stored["ann@example.com"]
    assert (ann.status, ann.origin, ann.created_at) == ("active", "signup-sheet", clock())


def test_bad_rows_are_reported_with_line_numbers_and_skipped(
    db: Database, clock: Clock, tmp_path: Path
) -> None:
    path = write(
        tmp_path,
        "name,email\n"  # line 1
        "Ann,ann@example.com\n"  # 2
        "No At,not-an-address\n"  # 3
        "Empty,\n"  # 4
        "\n"  # 5: blank, skipped silently
        "Short\n"  # 6: no email cell at all
        "Two Ats,a@b@example.com\n"  # 7
        "No Dot,someone@localhost\n"  # 8
        "Dan,dan@example.com\n",  # 9
    )

    report = import_csv(db, path, clock())

    assert report.added == 2
    assert [bad.line for bad in report.bad] == [3, 4, 6, 7, 8]
    reasons = {bad.line: bad.reason for bad in report.bad}
    assert "not-an-address" in reasons[3] and "not a valid address" in reasons[3]
    assert reasons[4] == reasons[6] == "empty address"
    assert "a@b@example.com" in reasons[7]
    assert all("\n" not in reason for reason in reasons.values())
    assert set(people(db)) == {"ann@example.com", "dan@example.com"}


def test_duplicates_count_once_whatever_their_case(
    db: Database, clock: Clock, tmp_path: Path
) -> None:
    path = write(
        tmp_path,
        "email\nann@example.com\nANN@EXAMPLE.COM\n Ann@Example.com\nbob@example.com\n",
    )

    report = import_csv(db, path, clock())

    assert (report.added, report.duplicates, report.already) == (2, 2, 0)
    assert set(people(db)) == {"ann@example.com", "bob@example.com"}


def test_a_file_with_a_byte_order_mark_works(db: Database, clock: Clock, tmp_path: Path) -> None:
    path = tmp_path / "excel.csv"
    path.write_bytes(
        b"\xef\xbb\xbfEmail,Name\r\nann@example.com,Ann\r\nzoe@example.com,Zo\xc3\xab\r\n"
    )

    report = import_csv(db, path, clock())

    assert (report.added, report.bad) == (2, [])
    assert people(db)["zoe@example.com"].name == "Zoë"


def test_a_semicolon_delimited_file_works(db: Database, clock: Clock, tmp_path: Path) -> None:
    # As spreadsheets export it where the comma is the decimal separator; names have commas.
    path = write(
        tmp_path,
        "E-Mail;Full Name;City\n"
        "ann@example.com;Archer, Ann;Lyon\n"
        "bob@example.com;Baker, Bob;Gent\n"
        "bad-address;Nobody, Really;Nowhere\n",
    )

    report = import_csv(db, path, clock())

    assert report.added == 2
    assert [bad.line for bad in report.bad] == [4]
    assert people(db)["ann@example.com"].name == "Archer, Ann"


def test_a_file_without_an_email_column_is_refused_at_line_1(
    db: Database, clock: Clock, tmp_path: Path
) -> None:
    path = write(tmp_path, "name,phone\nAnn,123\n")

    with pytest.raises(SubscriberError) as caught:
        import_csv(db, path, clock())

    assert f"{path}:1:" in str(caught.value)
    assert "no email column" in str(caught.value)
    assert people(db) == {}


def test_reimporting_never_reactivates_someone_who_left(
    db: Database, clock: Clock, tmp_path: Path
) -> None:
    first = write(tmp_path, "email,name\nann@example.com,Ann\nbob@example.com,Bob\n")
    import_csv(db, first, clock())
    with db.session() as session:
        ann = session.scalars(select(Subscriber).where(Subscriber.email == "ann@example.com"))
        ann.one().status = "unsubscribed"
    clock.advance(days=7)

    again = write(
        tmp_path, "email,name\nANN@example.com,Ann Again\ncleo@example.com,Cleo\n", "again.csv"
    )
    report = import_csv(db, again, clock())

    assert (report.added, report.already) == (1, 1)
    stored = people(db)
    ann_now = stored["ann@example.com"]
    assert ann_now.status == "unsubscribed"
    assert ann_now.name == "Ann" and ann_now.updated_at < clock()
    assert stored["bob@example.com"].status == "active"
    assert stored["cleo@example.com"].status == "active"


def test_a_file_that_is_not_utf8_is_a_clear_error(
    db: Database, clock: Clock, tmp_path: Path
) -> None:
    path = write(tmp_path, "email,name\njose@example.com,José Müller\n", encoding="latin-1")

    with pytest.raises(SubscriberError) as caught:
        import_csv(db, path, clock())

    assert str(caught.value).startswith(f"{path}:2: not UTF-8 text")
    assert people(db) == {}


def test_a_late_encoding_error_imports_nothing(db: Database, clock: Clock, tmp_path: Path) -> None:
    # More rows than one insert batch, then a Latin-1 byte: the whole import is undone.
    rows = "".join(f"user{n}@example.com,User {n}\n" for n in range(BATCH + 500))
    path = tmp_path / "late.csv"
    path.write_bytes(
        ("email,name\n" + rows).encode()
        + "late@example.com,Zoë\n".encode("latin-1")
        + b"after@example.com,After\n"
    )

    with pytest.raises(SubscriberError) as caught:
        import_csv(db, path, clock())

    # The line of the bad byte, although the reader decodes the file ahead in chunks.
    assert str(caught.value).startswith(f"{path}:{BATCH + 502}: not UTF-8 text")
    assert people(db) == {}


def test_a_missing_file_is_a_subscriber_error(db: Database, clock: Clock, tmp_path: Path) -> None:
    with pytest.raises(SubscriberError, match="cannot be read"):
        import_csv(db, tmp_path / "nope.csv", clock())
