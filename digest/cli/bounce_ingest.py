"""`digest bounces ingest`: read returned mail from the configured mailboxes, from mbox files
and Maildirs, or from an MTA's pipe, and apply it to subscribers."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from digest.cli.app import App, pass_app

if TYPE_CHECKING:
    from digest.bounces.ingest import IngestRun, Process

# sysexits.h: "temporary failure; the user is invited to retry". Postfix, Exim and Sendmail
# keep a piped message queued and try again later on this status, and bounce it on others.
EX_TEMPFAIL = 75


@click.command("ingest")
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path, allow_dash=True, dir_okay=True))
@pass_app
def bounces_ingest(app: App, paths: tuple[Path, ...]) -> None:
    """Read bounces and complaints from the configured IMAP mailbox and Maildir, or from mbox
    files, Maildirs or standard input, and apply them to subscribers.

    \b
    digest bounces ingest            the IMAP folder (bounces.imap_host) and/or the
                                     Maildir (bounces.maildir) of the settings
    digest bounces ingest PATH...    mbox files and Maildirs, told apart by their shape
    digest bounces ingest -          one message on standard input (an MTA's pipe)

    Each message is stored and applied before it leaves its mailbox, so a crash or an
    outage never loses one and never applies one twice: a message already stored counts as
    a duplicate. From IMAP, processed messages move to bounces.imap_done_folder (created
    when missing), or are deleted when that setting is empty; a Maildir's move to its
    `.digest-processed` subfolder, marked seen; an mbox file is only read (under a lock), so
    ingest it again at will. A message that cannot be stored stays for the next run. Kept
    messages older than bounces.keep_days are then removed (their bounce events stay).

    Prints a line for each message applied or set aside, and a summary; exits 1 when a
    message was left behind or a mailbox could not be read.

    \b
    For Postfix, in /etc/aliases (then run newaliases):
        bounces: "|/path/to/digest --config /etc/digest.toml bounces ingest -"
    The command runs as Postfix's default_privs user, who must be able to read the settings
    and write the database. It exits 0 once the message is stored (even when it is not a
    bounce) and 75 (EX_TEMPFAIL) otherwise, so the MTA keeps the message and retries.
    """
    from digest.bounces.ingest import IngestRun, ingest_message

    if Path("-") in paths:
        if len(paths) > 1:
            raise click.UsageError("- (standard input) cannot be combined with paths")
        raw = sys.stdin.buffer.read()
        run = IngestRun(echo=click.echo, warn=_warn)
        ingest_message(raw, _processor(app), run)
        click.echo(run.summary)
        if not run.ok:
            sys.exit(EX_TEMPFAIL)
        return

    run = IngestRun(echo=click.echo, warn=_warn)
    if paths:
        _ingest_paths(app, paths, run)
    else:
        _ingest_configured(app, run)
    click.echo(run.summary)
    _prune(app)
    if not run.ok:
        sys.exit(1)


def _prune(app: App) -> None:
    """Kept messages past bounces.keep_days go: the audit trail is kept that long, no longer."""
    from digest.db.bounces import prune

    days = app.settings.bounces.keep_days
    pruned = prune(app.db, app.clock(), days)
    if pruned:
        click.echo(f"{pruned} kept message(s) older than {days} days removed (bounces.keep_days)")


def _warn(line: str) -> None:
    click.echo(f"digest: error: {line}", err=True)


def _processor(app: App) -> Process:
    """process_message bound to this run's database, settings and clock; the database is
    opened with the first message, so a failure to open it is that message's failure."""
    from digest.bounces.process import Processed, process_message

    def process(raw: bytes, channel: str) -> Processed:
        return process_message(app.db, app.settings, raw, channel=channel, now=app.clock())

    return process


def _ingest_paths(app: App, paths: tuple[Path, ...], run: IngestRun) -> None:
    from digest.bounces.ingest import ingest_path

    process = _processor(app)
    for path in paths:
        ingest_path(path, process, run)


def _ingest_configured(app: App, run: IngestRun) -> None:
    from digest.bounces.ingest import ingest_imap, ingest_maildir

    cfg = app.settings.bounces
    if not (cfg.imap_host or cfg.maildir):
        raise click.ClickException(
            "no bounce mailbox is configured: set bounces.imap_host or bounces.maildir, or "
            "name mbox files or Maildirs (- for standard input)"
        )
    process = _processor(app)
    if cfg.imap_host:
        ingest_imap(cfg, process, run)
    if cfg.maildir:
        ingest_maildir(app.settings.base_dir / Path(cfg.maildir).expanduser(), process, run)
