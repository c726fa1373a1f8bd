"""Ingest returned mail from every mailbox channel (IMAP, Maildir, mbox, standard input):
each message processed, then marked done, so that none is lost or applied twice.

The order is the guarantee. A message is processed (stored and applied, once per key) before
it is moved out of its mailbox; a crash between the two leaves it in place, and the next run
finds it a duplicate and moves it then. A message that fails to process (the database is
down) stays where it is for the next run; one bad message never stops the others."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from digest.bounces.mailboxes import (
    Mailbox,
    MailboxError,
    MailboxGone,
    MaildirBox,
    SingleMessage,
    is_maildir,
    open_mbox,
)
from digest.errors import DigestError

if TYPE_CHECKING:
    import ssl

    from digest.bounces.process import Processed
    from digest.settings import BounceSettings

# process(raw, channel): stores and applies one message, idempotent on its bytes; the CLI
# binds digest.bounces.process.process_message to the database, settings and clock.
Process = Callable[[bytes, str], "Processed"]
Echo = Callable[[str], None]

OUTCOMES = ("applied", "set_aside", "ignored", "duplicate")
# Outcomes the operator is shown a line for; ignored mail and duplicates only count.
SHOWN = ("applied", "set_aside")


def _quiet(line: str) -> None:
    pass


class IngestRun:
    """What one ingest run did, across its mailboxes: counts per outcome, and the problems.
    `echo` sees each applied or set-aside message's line, `warn` each problem, as they occur."""

    def __init__(self, echo: Echo = _quiet, warn: Echo = _quiet) -> None:
        self.echo = echo
        self.warn = warn
        self.counts: Counter[str] = Counter()
        self.problems: list[str] = []
        self.left = 0  # messages left unprocessed in their mailbox for the next run
        self.errors = 0  # other problems: a mailbox unreadable, a message not moved

    @property
    def ok(self) -> bool:
        return not self.problems

    def processed(self, where: str, result: Processed) -> None:
        self.counts[result.outcome] += 1
        if result.outcome in SHOWN:
            self.echo(f"{where}: {result.line}")

    def problem(self, line: str, *, left: int = 0) -> None:
        """Report a problem; `left`: how many messages it leaves unprocessed."""
        self.problems.append(line)
        self.left += left
        self.errors += not left
        self.warn(line)

    @property
    def summary(self) -> str:
        total = sum(self.counts.values())
        counts = ", ".join(f"{self.counts[o]} {o.replace('_', ' ')}" for o in OUTCOMES)
        line = f"{total} message{'' if total == 1 else 's'} processed: {counts}"
        if self.left:
            line += f"; {self.left} left for the next run"
        if self.errors:
            line += f"; {self.errors} error{'' if self.errors == 1 else 's'}"
        return line


def drain(box: Mailbox, process: Process, run: IngestRun) -> None:
    """Process every message in `box` now and mark each done; problems go to `run`."""
    try:
        refs = box.refs()
    except MailboxError as e:
        run.problem(str(e))
        return
    for index, ref in enumerate(refs):
        where = box.where(ref)
        try:
            raw = box.read(ref)
        except MailboxGone as e:
            rest = len(refs) - index
            run.problem(f"{e}; {rest} message(s) left for the next run", left=rest)
            return
        except MailboxError as e:
            run.problem(f"{where}: {e}; left for the next run", left=1)
            continue
        if raw is None:
            continue
        try:
            result = process(raw, box.channel)
        except Exception as e:  # a database outage, or a fault: this message only
            run.problem(f"{where}: not processed, left for the next run: {_why(e)}", left=1)
            continue
        run.processed(where, result)
        try:
            box.done(ref)
        except MailboxError as e:
            # Processed but still there: the next run finds it a duplicate and moves it.
            run.problem(
                f"{where}: processed ({result.outcome}) but not moved, the next run will: {e}"
            )
            if isinstance(e, MailboxGone):
                rest = len(refs) - index - 1
                if rest:
                    run.problem(f"{rest} more message(s) left for the next run", left=rest)
                return


def _why(e: Exception) -> str:
    text = " ".join(str(e).split())
    return text if isinstance(e, DigestError) else f"{e.__class__.__name__}: {text}"


def ingest_imap(
    cfg: BounceSettings,
    process: Process,
    run: IngestRun,
    *,
    context: ssl.SSLContext | None = None,
) -> None:
    """The configured IMAP folder: each message processed, then moved to
    `imap_done_folder` (created when missing) or deleted when that is empty."""
    from digest.bounces.imap import open_imap

    try:
        with open_imap(cfg, context) as folder:
            drain(folder, process, run)
    except MailboxError as e:
        run.problem(str(e))


def ingest_maildir(path: Path, process: Process, run: IngestRun) -> None:
    """The configured Maildir: processed messages move to its `.digest-processed`
    subfolder."""
    try:
        drain(MaildirBox(path), process, run)
    except MailboxError as e:
        run.problem(str(e))


def ingest_path(path: Path, process: Process, run: IngestRun) -> None:
    """A Maildir (processed messages move to its `.digest-processed` subfolder) or an mbox
    file (read as it is), told apart by their shape."""
    try:
        if is_maildir(path):
            drain(MaildirBox(path), process, run)
            return
        if not path.exists():
            raise MailboxError(f"{path} does not exist")
        with open_mbox(path) as box:
            drain(box, process, run)
    except MailboxError as e:
        run.problem(str(e))


def ingest_message(raw: bytes, process: Process, run: IngestRun) -> None:
    """One message handed over whole, as an MTA's pipe does."""
    drain(SingleMessage(raw), process, run)
