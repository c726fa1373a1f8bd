"""Local mailboxes the bounce ingest reads: a Maildir (processed messages move to its
`.digest-processed` subfolder) and an mbox file (read-only, locked while read), behind the
small `Mailbox` interface the IMAP folder shares."""

from __future__ import annotations

import errno
import mailbox
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Protocol

from digest.errors import DigestError

# The Maildir++ subfolder processed messages move to. Dovecot and Courier show it as the
# folder "digest-processed", the name `bounces.imap_done_folder` has by default, so a Maildir
# that is also served over IMAP looks the same whichever way digest read it.
PROCESSED_FOLDER = "digest-processed"


class MailboxError(DigestError):
    """A mailbox cannot be opened or read, or a message in it cannot be moved."""


class MailboxGone(MailboxError):
    """The mailbox cannot be used any more (the connection dropped): the rest of its messages
    are left for the next run."""


class Mailbox(Protocol):
    """What the ingest loop needs of a folder of messages; `ref` names one message in it."""

    @property
    def channel(self) -> str:
        """How the messages arrived, stored with each: imap, maildir, mbox or stdin."""
        ...

    def refs(self) -> list[str]:
        """The messages there now; ones that arrive later wait for the next run."""
        ...

    def where(self, ref: str) -> str:
        """Where a message is, for the operator's lines."""
        ...

    def read(self, ref: str) -> bytes | None:
        """The message's raw bytes, or None when it has gone since `refs`."""
        ...

    def done(self, ref: str) -> None:
        """Mark a processed message so the next run does not read it again."""
        ...


def is_maildir(path: Path) -> bool:
    return path.is_dir() and (path / "cur").is_dir() and (path / "new").is_dir()


class MaildirBox:
    """A Maildir's own messages (in `new` and `cur`, not its subfolders). A processed message
    is renamed into the `.digest-processed` subfolder, marked seen: the rename is atomic, so a
    message is either still waiting or done, never both and never lost."""

    channel = "maildir"

    def __init__(self, path: Path) -> None:
        if not is_maildir(path):
            raise MailboxError(f"{path} is not a Maildir (it has no cur and new folders)")
        self.path = path
        self._box = mailbox.Maildir(path, factory=None, create=False)
        self._done: Path | None = None

    def refs(self) -> list[str]:
        try:
            return sorted(self._box.keys())
        except OSError as e:
            raise MailboxError(f"cannot list the Maildir {self.path}: {e.strerror or e}") from e

    def where(self, ref: str) -> str:
        return f"{self.path} {ref}"

    def read(self, ref: str) -> bytes | None:
        try:
            return self._box.get_bytes(ref)
        except KeyError:
            return None
        except OSError as e:
            if e.errno == errno.ENOENT:  # another reader took it since the listing
                return None
            raise MailboxError(f"cannot read it: {e.strerror or e}") from e

    def done(self, ref: str) -> None:
        try:
            message = self._box.get_message(ref)
            flags = "".join(sorted(set(message.get_flags()) | {"S"}))
            source = self.path / message.get_subdir() / self._file_name(ref, message)
            target = self._done_folder() / "cur" / f"{ref}{self._box.colon}2,{flags}"
            os.rename(source, target)
        except (KeyError, OSError) as e:
            reason = e.strerror if isinstance(e, OSError) and e.strerror else str(e)
            raise MailboxError(f"cannot move it to {PROCESSED_FOLDER}: {reason}") from e

    def _file_name(self, ref: str, message: mailbox.MaildirMessage) -> str:
        info = message.get_info()
        return f"{ref}{self._box.colon}{info}" if info else ref

    def _done_folder(self) -> Path:
        if self._done is None:
            if PROCESSED_FOLDER not in self._box.list_folders():
                self._box.add_folder(PROCESSED_FOLDER)
            self._done = self.path / f".{PROCESSED_FOLDER}"
        return self._done


class MboxBox:
    """An mbox file, read as it is: nothing is changed or removed, so reading it again is
    harmless (each message is processed once by its key) and the file stays the MTA's."""

    channel = "mbox"

    def __init__(self, box: mailbox.mbox, path: Path) -> None:
        self._box = box
        self.path = path
        # mailbox.mbox numbers its messages; keep its own keys, whatever their type.
        self._keys: dict[str, str] = {}

    def refs(self) -> list[str]:
        try:
            self._keys = {str(key): key for key in self._box.iterkeys()}
            return list(self._keys)
        except OSError as e:
            raise MailboxError(f"cannot read the mbox {self.path}: {e.strerror or e}") from e

    def where(self, ref: str) -> str:
        return f"{self.path} #{int(ref) + 1}"

    def read(self, ref: str) -> bytes | None:
        try:
            return self._box.get_bytes(self._keys[ref])
        except KeyError:
            return None
        except OSError as e:
            raise MailboxError(f"cannot read it: {e.strerror or e}") from e

    def done(self, ref: str) -> None:
        pass


@contextmanager
def open_mbox(path: Path) -> Iterator[MboxBox]:
    """The mbox at `path`, locked (fcntl and a dot-lock, as MTAs do) until the block ends."""
    if not path.is_file():
        raise MailboxError(f"{path} is neither a Maildir nor a file")
    with path.open("rb") as f:
        start = f.read(5)
    if start and start != b"From ":
        raise MailboxError(
            f"{path} is not an mbox file (an mbox starts with a 'From ' line); "
            "pipe a single message to `digest bounces ingest -`"
        )
    try:
        box = mailbox.mbox(path, factory=None, create=False)
    except OSError as e:
        raise MailboxError(f"cannot open the mbox {path}: {e.strerror or e}") from e
    locked = False
    try:
        try:
            box.lock()
            locked = True
        except mailbox.ExternalClashError as e:
            raise MailboxError(
                f"{path} is locked by another program (an MTA delivering?); try again later"
            ) from e
        except OSError as e:
            # A file we may only read cannot take an exclusive lock; reading it unlocked is
            # what every mail reader does with a read-only mbox.
            if e.errno not in (errno.EBADF, errno.EPERM, errno.EACCES, errno.EROFS):
                raise MailboxError(f"cannot lock the mbox {path}: {e.strerror or e}") from e
        yield MboxBox(box, path)
    finally:
        if locked:
            box.unlock()
        box.close()


class SingleMessage:
    """One message handed over whole (standard input, an MTA's pipe): nothing to move."""

    channel = "stdin"

    def __init__(self, raw: bytes) -> None:
        self._raw = raw

    def refs(self) -> list[str]:
        return ["0"]

    def where(self, ref: str) -> str:
        return "standard input"

    def read(self, ref: str) -> bytes | None:
        return self._raw

    def done(self, ref: str) -> None:
        pass
