"""The send journal: every answer the relay gives is appended to a local file the moment it
is known, before the database hears of it.

The ledger is written in groups (one statement per group is what makes a send fast), so
without the journal a run killed outright (SIGKILL, OOM, power cut) would forget the last
group and send it again. With it, the next run replays the file into the ledger first, and
the only deliveries that may arrive twice are those that were on the wire when the process
died: a `begin` line written, no answer yet. The same file keeps accepted results through a
database outage. Each line is one write(2) of an unbuffered file, so a kill leaves at most
one partial last line, which is ignored.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from digest.errors import SendError
from digest.files import private_folder
from digest.model import DeliveryStatus, Settled


def journal_path(data_dir: Path, database_url: str, issue_id: int) -> Path:
    """One file per issue and database, in the data folder."""
    database = hashlib.sha256(database_url.encode()).hexdigest()[:10]
    return data_dir / "send-journal" / f"{database}-issue-{issue_id}.log"


@dataclass(frozen=True, slots=True)
class Replay:
    """What a journal left by an earlier run holds."""

    settled: list[Settled] = field(default_factory=list)  # the last answer per delivery
    on_the_wire: frozenset[int] = frozenset()  # begun, never answered: may arrive twice


class Journal:
    """Appends `begin` and `settled` lines; shared by the sending threads."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            private_folder(path.parent)
            self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        except OSError as e:
            raise SendError(f"cannot write the send journal {path}: {e.strerror or e}") from e
        self._lock = threading.Lock()

    def begin(self, delivery_id: int) -> None:
        self._write(f"B {delivery_id}\n".encode())

    def settled(self, row: Settled) -> None:
        self._write(b"R " + json.dumps(_to_json(row), separators=(",", ":")).encode() + b"\n")

    def _write(self, line: bytes) -> None:
        try:
            with self._lock:
                os.write(self._fd, line)
        except OSError as e:
            raise SendError(f"cannot write the send journal {self.path}: {e.strerror or e}") from e

    def close(self) -> None:
        os.close(self._fd)

    def discard(self) -> None:
        """Everything in it is in the ledger: start the next run with an empty journal."""
        self.close()
        self.path.unlink(missing_ok=True)


def read_journal(path: Path) -> Replay:
    """The journal an earlier run left, or an empty Replay when there is none."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return Replay()
    last: dict[int, Settled] = {}
    begun: set[int] = set()
    for line in data.split(b"\n"):
        try:
            if line.startswith(b"B "):
                begun.add(int(line[2:]))
            elif line.startswith(b"R "):
                row = _from_json(json.loads(line[2:]))
                last.pop(row.delivery_id, None)  # keep the order of the last answers
                last[row.delivery_id] = row
        except (ValueError, KeyError, TypeError):
            continue  # the partial last line of a killed run
    return Replay(settled=list(last.values()), on_the_wire=frozenset(begun - last.keys()))


def _time(value: datetime | None) -> float | None:
    return value.timestamp() if value else None


def _parse_time(value: float | None) -> datetime | None:
    return datetime.fromtimestamp(value, UTC) if value is not None else None


def _to_json(row: Settled) -> dict[str, object]:
    return {
        "id": row.delivery_id,
        "sub": row.subscriber_id,
        "status": str(row.status),
        "attempts": row.attempts,
        "reply": row.reply,
        "at": _time(row.at),
        "first": _time(row.first_attempt_at),
        "next": _time(row.next_attempt_at),
        "temporary": row.temporary,
        "bounce": row.bounce,
        "enhanced": row.enhanced,
    }


def _from_json(data: dict[str, object]) -> Settled:
    at = _parse_time(data["at"])  # type: ignore[arg-type]
    if at is None:
        raise ValueError("no time")
    return Settled(
        delivery_id=int(data["id"]),  # type: ignore[call-overload]
        subscriber_id=int(data["sub"]),  # type: ignore[call-overload]
        status=DeliveryStatus(str(data["status"])),
        attempts=int(data["attempts"]),  # type: ignore[call-overload]
        reply=str(data["reply"]),
        at=at,
        first_attempt_at=_parse_time(data["first"]),  # type: ignore[arg-type]
        next_attempt_at=_parse_time(data["next"]),  # type: ignore[arg-type]
        temporary=bool(data["temporary"]),
        bounce=data["bounce"] if isinstance(data["bounce"], str) else None,
        enhanced=data["enhanced"] if isinstance(data["enhanced"], str) else None,
    )
